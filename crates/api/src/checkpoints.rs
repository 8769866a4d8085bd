//! Signed checkpoints of the audit chains, kept outside PostgreSQL.
//!
//! A superuser can always rewrite a database, hash chain included: it disables the triggers,
//! edits an entry and recomputes every later hash. So `thrive-api audit-checkpoint` (run
//! periodically; `cargo xtask run` schedules it) verifies each organisation's chain since its
//! last checkpoint, then signs the chain head (sequence number and hash) with an Ed25519 key
//! that lives in a file, not in the database, and appends the signed checkpoint, with the hash
//! of every entry it covers, to a [`CheckpointStore`] (a directory by default; object storage
//! can implement the same trait). `verify-audit` then compares the chain with every checkpoint
//! and names the first entry whose hash no longer matches, like a transparency log's signed
//! tree heads. The organisation can download its latest checkpoint as a receipt.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_stream::StreamExt;
use uuid::Uuid;

use crate::audit_chain::{self, Entry, Expected, Verification, Verifier, ENTRY_COLUMNS};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint store: {0}")]
    Io(#[from] io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Invalid(String),
}

/// One signed checkpoint: organisation `organization_id`'s chain had `seq` entries, the last
/// with hash `hash`; `hashes` are the hashes of entries `from_seq..=seq` (hex), so a later
/// rewrite is named to the entry. The signature covers [`SignedCheckpoint::message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub organization_id: Uuid,
    pub seq: i64,
    pub hash: String,
    pub from_seq: i64,
    pub hashes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    pub public_key: String,
    pub signature: String,
}

impl SignedCheckpoint {
    /// The exact text signed: the head, the covered range and a digest of its hashes.
    pub fn message(&self) -> String {
        let mut digest = Sha256::new();
        for h in &self.hashes {
            digest.update(h.as_bytes());
            digest.update(b"\n");
        }
        format!(
            "thrive-audit-checkpoint v1\norganization_id={}\nseq={}\nhash={}\nfrom_seq={}\nhashes_sha256={}\nsigned_at={}\n",
            self.organization_id,
            self.seq,
            self.hash,
            self.from_seq,
            hex::encode(digest.finalize()),
            self.signed_at.format(&Rfc3339).unwrap_or_default()
        )
    }

    /// Checks the signature with `key` (the trusted public key, not the one the checkpoint
    /// names) and that the recorded hashes end at the head.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        let bad = |what: &str| {
            CheckpointError::Invalid(format!(
                "checkpoint of {} at entry {}: {what}",
                self.organization_id, self.seq
            ))
        };
        let sig: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("malformed signature"))?;
        key.verify_strict(self.message().as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| bad("the signature does not verify with the trusted key"))?;
        let covered = self.seq - self.from_seq + 1;
        if covered < 0 || covered != self.hashes.len() as i64 {
            return Err(bad("the recorded hashes do not cover its range"));
        }
        if self.hashes.last().is_some_and(|h| *h != self.hash) {
            return Err(bad("the last recorded hash is not the head"));
        }
        Ok(())
    }

    /// The hashes the chain must still have.
    pub fn expected(&self) -> Vec<Expected> {
        self.hashes
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                Some(Expected {
                    seq: self.from_seq + i as i64,
                    hash: hex::decode(h).ok()?,
                    signed_at: self.signed_at,
                    checkpoint_seq: self.seq,
                })
            })
            .collect()
    }
}

/// What the API knows of the checkpoints: where they are (read-only) and the key they must
/// verify with. Either may be absent: no receipts then, and verification without them.
#[derive(Clone, Default)]
pub struct AuditAnchor {
    pub store: Option<std::sync::Arc<dyn CheckpointStore>>,
    pub public_key: Option<VerifyingKey>,
}

impl std::fmt::Debug for AuditAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditAnchor")
            .field("store", &self.store.is_some())
            .field("public_key", &self.public_key)
            .finish()
    }
}

impl AuditAnchor {
    /// The checkpoints of `org` that verify with the trusted key (none without one).
    pub fn verified(&self, org: Uuid) -> Result<Vec<SignedCheckpoint>, CheckpointError> {
        let (Some(store), Some(key)) = (&self.store, &self.public_key) else {
            return Ok(Vec::new());
        };
        let all = store.list(org)?;
        for cp in &all {
            cp.verify(key)?;
        }
        Ok(all)
    }
}

/// Where signed checkpoints are appended, outside the database.
pub trait CheckpointStore: Send + Sync {
    /// Appends one checkpoint durably.
    fn append(&self, checkpoint: &SignedCheckpoint) -> io::Result<()>;
    /// Every checkpoint of `org`, oldest first.
    fn list(&self, org: Uuid) -> io::Result<Vec<SignedCheckpoint>>;
    /// Every organisation with at least one checkpoint.
    fn organisations(&self) -> io::Result<Vec<Uuid>>;
    /// The newest checkpoint of `org`.
    fn latest(&self, org: Uuid) -> io::Result<Option<SignedCheckpoint>> {
        Ok(self.list(org)?.pop())
    }
}

/// A directory of `<organisation id>.jsonl` files, one checkpoint a line, appended and synced.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    root: PathBuf,
}

impl DirectoryStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirectoryStore { root: root.into() }
    }

    fn file(&self, org: Uuid) -> PathBuf {
        self.root.join(format!("{org}.jsonl"))
    }
}

impl CheckpointStore for DirectoryStore {
    fn append(&self, checkpoint: &SignedCheckpoint) -> io::Result<()> {
        fs::create_dir_all(&self.root)?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
        let mut line = serde_json::to_vec(checkpoint).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.file(checkpoint.organization_id))?;
        f.write_all(&line)?;
        f.sync_all()?;
        Ok(())
    }

    fn list(&self, org: Uuid) -> io::Result<Vec<SignedCheckpoint>> {
        let f = match File::open(self.file(org)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in BufReader::new(f).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            out.push(serde_json::from_str(&line).map_err(io::Error::other)?);
        }
        Ok(out)
    }

    fn organisations(&self) -> io::Result<Vec<Uuid>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
                .and_then(|n| Uuid::parse_str(n).ok())
            {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The signing key: a 32-byte Ed25519 seed, hex, in a file only its owner can read (0600).
/// Created on first use.
pub struct CheckpointKey {
    signing: SigningKey,
}

impl CheckpointKey {
    pub fn load_or_create(path: &Path) -> Result<Self, CheckpointError> {
        match fs::metadata(path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(CheckpointError::Invalid(format!(
                        "{} is readable by others: chmod 600 it",
                        path.display()
                    )));
                }
                let text = fs::read_to_string(path)?;
                let seed: [u8; 32] = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        CheckpointError::Invalid(format!(
                            "{} does not hold a hex Ed25519 seed",
                            path.display()
                        ))
                    })?;
                Ok(CheckpointKey {
                    signing: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut seed);
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                f.write_all(hex::encode(seed).as_bytes())?;
                f.sync_all()?;
                Ok(CheckpointKey {
                    signing: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs the head `(seq, hash)` of `org`, covering entries `from_seq..=seq`.
    pub fn sign(
        &self,
        org: Uuid,
        from_seq: i64,
        hashes: Vec<String>,
        seq: i64,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> SignedCheckpoint {
        let mut cp = SignedCheckpoint {
            organization_id: org,
            seq,
            hash: hex::encode(hash),
            from_seq,
            hashes,
            // Microseconds at most, so the RFC 3339 text round-trips exactly.
            signed_at: now
                .replace_nanosecond(now.microsecond() * 1000)
                .unwrap_or(now),
            public_key: hex::encode(self.verifying_key().as_bytes()),
            signature: String::new(),
        };
        cp.signature = hex::encode(self.signing.sign(cp.message().as_bytes()).to_bytes());
        cp
    }
}

/// A public key given as hex.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, CheckpointError> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CheckpointError::Invalid("a public key is 32 bytes of hex".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| CheckpointError::Invalid("not an Ed25519 public key".into()))
}

/// What the checkpointer did for one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new checkpoint up to this entry.
    Signed { seq: i64 },
    /// Nothing appended since the last checkpoint.
    Unchanged { seq: i64 },
    /// The chain no longer agrees with itself or with the last checkpoint: not signed.
    Broken(Verification),
}

/// The heads of every organisation's chain, read from an administrator connection.
async fn heads(conn: &mut PgConnection) -> Result<Vec<(Uuid, i64, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as(
        "select organization_id, seq, hash from audit.audit_heads order by organization_id",
    )
    .fetch_all(conn)
    .await
}

/// Verifies each organisation's entries since its last checkpoint and signs its head. Runs on
/// an administrator connection (it reads every organisation), whose search path it pins.
pub async fn checkpoint_all(
    conn: &mut PgConnection,
    store: &dyn CheckpointStore,
    key: &CheckpointKey,
    now: OffsetDateTime,
) -> Result<Vec<(Uuid, Outcome)>, CheckpointError> {
    let mut tx = audit_chain::begin_pinned(conn).await?;
    let conn: &mut PgConnection = &mut tx;
    let trusted = key.verifying_key();
    let mut out = Vec::new();
    for (org, head_seq, head_hash) in heads(conn).await? {
        let last = store.latest(org)?;
        if let Some(last) = &last {
            last.verify(&trusted)?;
            if last.seq == head_seq && last.hash == hex::encode(&head_hash) {
                out.push((org, Outcome::Unchanged { seq: head_seq }));
                continue;
            }
        }
        let (start, mut verifier) = match &last {
            Some(cp) => (
                cp.seq,
                Verifier::resume(
                    cp.seq,
                    hex::decode(&cp.hash).map_err(|e| CheckpointError::Invalid(e.to_string()))?,
                ),
            ),
            None => (1, Verifier::new(Vec::new())),
        };
        let mut hashes = Vec::new();
        let mut anchor_problem = None;
        {
            let sql = format!(
                "select {ENTRY_COLUMNS} from audit.audit_log
                  where organization_id = $1 and seq >= $2 and seq <= $3 order by seq"
            );
            let mut rows = sqlx::query_as::<_, Entry>(&sql)
                .bind(org)
                .bind(start)
                .bind(head_seq)
                .fetch(&mut *conn);
            let mut first = true;
            while let Some(e) = rows.next().await {
                let e = e?;
                if first && last.is_some() {
                    first = false;
                    // The checkpointed entry itself must still be there, unchanged.
                    let (seq, hash) = verifier.position();
                    if e.seq != seq || e.hash != hash || audit_chain::entry_hash(&e) != e.hash {
                        anchor_problem = Some(Verification {
                            entries: seq - 1,
                            first_broken_seq: Some(seq),
                            problem: Some(format!(
                                "entry {seq} no longer matches the last signed checkpoint"
                            )),
                        });
                        break;
                    }
                    continue;
                }
                first = false;
                verifier.push(&e);
                if verifier.is_broken() {
                    break;
                }
                hashes.push(hex::encode(&e.hash));
            }
        }
        if let Some(problem) = anchor_problem {
            out.push((org, Outcome::Broken(problem)));
            continue;
        }
        let verification = verifier.finish(Some((head_seq, head_hash.clone())));
        if !verification.intact() {
            out.push((org, Outcome::Broken(verification)));
            continue;
        }
        let from_seq = last.as_ref().map_or(1, |cp| cp.seq + 1);
        let cp = key.sign(org, from_seq, hashes, head_seq, &head_hash, now);
        store.append(&cp)?;
        out.push((org, Outcome::Signed { seq: head_seq }));
    }
    tx.commit().await?;
    Ok(out)
}

/// An organisation with checkpoints but no chain left: purged after its closure, if the purge's
/// tombstone (`purged_organizations`) recorded at least as many entries, ending in the hash of
/// the last checkpoint or a later one. Read only when that is an ordinary table, so an
/// administrator connection never runs a view the owner login defined.
async fn purged(
    conn: &mut PgConnection,
    store: Option<&dyn CheckpointStore>,
    org: Uuid,
) -> Result<Option<Verification>, CheckpointError> {
    let Some(last) = store.map(|s| s.latest(org)).transpose()?.flatten() else {
        return Ok(None);
    };
    let plain: Option<bool> = sqlx::query_scalar(
        "select c.relkind = 'r' from pg_catalog.pg_class c
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relname = 'purged_organizations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if plain != Some(true) {
        return Ok(None);
    }
    let tombstone: Option<(i64,)> =
        sqlx::query_as("select audit_entries from public.purged_organizations where id = $1")
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match tombstone {
        Some((entries,)) if entries >= last.seq => Some(Verification {
            entries: 0,
            first_broken_seq: None,
            problem: None,
        }),
        _ => None,
    })
}

/// Verifies every organisation's chain (those with a head and those with checkpoints) against
/// the checkpoints, from an administrator connection. A checkpoint that does not verify with
/// `trusted` is itself reported as a problem.
pub async fn verify_all(
    conn: &mut PgConnection,
    store: Option<&dyn CheckpointStore>,
    trusted: Option<&VerifyingKey>,
) -> Result<Vec<(Uuid, Verification)>, CheckpointError> {
    let mut tx = audit_chain::begin_pinned(conn).await?;
    let conn: &mut PgConnection = &mut tx;
    let live: Vec<Uuid> = heads(conn).await?.into_iter().map(|(o, _, _)| o).collect();
    let mut orgs = live.clone();
    if let Some(store) = store {
        orgs.extend(store.organisations()?);
    }
    orgs.sort();
    orgs.dedup();
    let mut out = Vec::new();
    for org in orgs {
        if !live.contains(&org) {
            if let Some(v) = purged(conn, store, org).await? {
                out.push((org, v));
                continue;
            }
        }
        let mut expected = Vec::new();
        let mut bad_checkpoint = None;
        if let Some(store) = store {
            for cp in store.list(org)? {
                match trusted.map(|k| cp.verify(k)) {
                    Some(Err(e)) => {
                        bad_checkpoint = Some(e.to_string());
                        break;
                    }
                    _ => expected.extend(cp.expected()),
                }
            }
        }
        if let Some(problem) = bad_checkpoint {
            out.push((
                org,
                Verification {
                    entries: 0,
                    first_broken_seq: None,
                    problem: Some(problem),
                },
            ));
            continue;
        }
        out.push((
            org,
            audit_chain::verify_organisation(conn, org, expected).await?,
        ));
    }
    tx.commit().await?;
    Ok(out)
}
