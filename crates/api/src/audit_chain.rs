//! The audit hash chain, recomputed in Rust from the rows.
//!
//! Each organisation's entries are numbered 1, 2, … and chained: an entry's `hash` is
//! sha256(`prev_hash` ‖ payload), where `prev_hash` is the previous entry's hash (empty for the
//! first) and the payload is the entry's fields joined by `|` (see [`payload`]; the database
//! computes the same bytes in `audit.append`). Verification reads the rows and recomputes every
//! hash here, so it never runs a function that a database login could have defined; against the
//! signed checkpoints (see [`crate::checkpoints`]) it also names an entry that a superuser
//! rewrote and re-chained.

use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// One stored entry, as read from `audit.audit_log` (`changes` as PostgreSQL's text of the
/// jsonb, which is what the hash covers).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub organization_id: Uuid,
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor_user_id: Option<Uuid>,
    pub actor_role_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub tool: String,
    pub action: String,
    pub operation: String,
    pub table_name: String,
    pub record_id: Option<Uuid>,
    pub service_user_id: Option<Uuid>,
    pub changes: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The columns of [`Entry`], for a `select` from `audit.audit_log`. Only built-in casts.
pub const ENTRY_COLUMNS: &str = "organization_id, seq, at, actor_user_id, actor_role_id, \
     actor_role, tool, action, operation, table_name, record_id, service_user_id, \
     changes::text as changes, prev_hash, hash";

/// The bytes an entry's hash covers besides the previous hash: the fields joined by `|`, times
/// in UTC with microseconds, absent values as `-`.
pub fn payload(e: &Entry) -> Vec<u8> {
    let at = e.at.to_offset(UtcOffset::UTC);
    let at = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    );
    let opt = |u: Option<Uuid>| u.map_or_else(|| "-".to_owned(), |u| u.to_string());
    [
        e.organization_id.to_string(),
        e.seq.to_string(),
        at,
        opt(e.actor_user_id),
        opt(e.actor_role_id),
        e.actor_role.clone().unwrap_or_else(|| "-".to_owned()),
        e.tool.clone(),
        e.action.clone(),
        e.operation.clone(),
        e.table_name.clone(),
        opt(e.record_id),
        opt(e.service_user_id),
        e.changes.clone(),
    ]
    .join("|")
    .into_bytes()
}

/// sha256(prev_hash ‖ payload).
pub fn entry_hash(e: &Entry) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(&e.prev_hash);
    h.update(payload(e));
    h.finalize().to_vec()
}

/// What a verification found: how many entries were checked and the first broken one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries: i64,
    pub first_broken_seq: Option<i64>,
    pub problem: Option<String>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// A hash the chain must still have at `seq` (from a signed checkpoint), and where it came from.
#[derive(Debug, Clone)]
pub struct Expected {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub signed_at: OffsetDateTime,
    pub checkpoint_seq: i64,
}

/// Checks entries fed in order of `seq`. Stops at the first problem.
#[derive(Debug)]
pub struct Verifier {
    expected_prev: Vec<u8>,
    expected_seq: i64,
    entries: i64,
    expected: Vec<Expected>,
    next_expected: usize,
    broken: Option<(i64, String)>,
}

impl Verifier {
    /// From the start of the chain. `expected` (any order) are the hashes signed checkpoints
    /// recorded; an entry whose hash differs from one is named even when the chain itself was
    /// recomputed to be consistent.
    pub fn new(mut expected: Vec<Expected>) -> Self {
        expected.sort_by_key(|x| x.seq);
        Verifier {
            expected_prev: Vec::new(),
            expected_seq: 1,
            entries: 0,
            expected,
            next_expected: 0,
            broken: None,
        }
    }

    /// From an entry already trusted (a checkpoint's seq and hash): the next entry must be
    /// `seq + 1` and follow from `hash`.
    pub fn resume(seq: i64, hash: Vec<u8>) -> Self {
        Verifier {
            expected_prev: hash,
            expected_seq: seq + 1,
            entries: seq,
            expected: Vec::new(),
            next_expected: 0,
            broken: None,
        }
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The last entry checked (0 before any): its seq and hash.
    pub fn position(&self) -> (i64, &[u8]) {
        (self.entries, &self.expected_prev)
    }

    pub fn push(&mut self, e: &Entry) {
        if self.broken.is_some() {
            return;
        }
        if e.seq != self.expected_seq {
            self.broken = Some((
                self.expected_seq,
                format!("entry {} is missing", self.expected_seq),
            ));
            return;
        }
        if e.prev_hash != self.expected_prev {
            self.broken = Some((
                e.seq,
                format!("entry {} does not follow from entry {}", e.seq, e.seq - 1),
            ));
            return;
        }
        if e.hash != entry_hash(e) {
            self.broken = Some((
                e.seq,
                format!("entry {} was altered after it was written", e.seq),
            ));
            return;
        }
        while let Some(x) = self.expected.get(self.next_expected) {
            if x.seq > e.seq {
                break;
            }
            self.next_expected += 1;
            if x.seq == e.seq && x.hash != e.hash {
                self.broken = Some((
                    e.seq,
                    format!(
                        "entry {} no longer matches the checkpoint signed at {} (up to entry {}): the chain was rewritten from here",
                        e.seq,
                        x.signed_at.format(&Rfc3339).unwrap_or_default(),
                        x.checkpoint_seq
                    ),
                ));
                return;
            }
        }
        self.entries = e.seq;
        self.expected_prev = e.hash.clone();
        self.expected_seq = e.seq + 1;
    }

    /// Ends the chain: `head` is `audit.audit_heads`' (seq, hash), if the organisation has one.
    /// A chain shorter than a signed checkpoint, or than its head, lost entries from its end.
    pub fn finish(mut self, head: Option<(i64, Vec<u8>)>) -> Verification {
        if self.broken.is_none() {
            if let Some(x) = self.expected.last() {
                if x.seq > self.entries {
                    self.broken = Some((
                        self.entries + 1,
                        format!(
                            "the chain ends at entry {} but the checkpoint signed at {} covers {} entries",
                            self.entries,
                            x.signed_at.format(&Rfc3339).unwrap_or_default(),
                            x.checkpoint_seq
                        ),
                    ));
                }
            }
        }
        if self.broken.is_none() {
            if let Some((seq, hash)) = head {
                if seq != self.entries || hash != self.expected_prev {
                    self.broken = Some((
                        self.entries + 1,
                        format!(
                            "the chain ends at entry {} but {} were written",
                            self.entries, seq
                        ),
                    ));
                }
            }
        }
        match self.broken {
            Some((seq, problem)) => Verification {
                entries: self.entries,
                first_broken_seq: Some(seq),
                problem: Some(problem),
            },
            None => Verification {
                entries: self.entries,
                first_broken_seq: None,
                problem: None,
            },
        }
    }
}

/// Verifies `org`'s chain through `conn` (whatever that connection may read: the API reads as
/// the caller, under RLS), against the hashes signed checkpoints recorded.
pub async fn verify_organisation(
    conn: &mut PgConnection,
    org: Uuid,
    expected: Vec<Expected>,
) -> Result<Verification, sqlx::Error> {
    use tokio_stream::StreamExt;
    let mut verifier = Verifier::new(expected);
    {
        let sql = format!(
            "select {ENTRY_COLUMNS} from audit.audit_log where organization_id = $1 order by seq"
        );
        let mut rows = sqlx::query_as::<_, Entry>(&sql).bind(org).fetch(&mut *conn);
        while let Some(e) = rows.next().await {
            verifier.push(&e?);
            if verifier.is_broken() {
                break;
            }
        }
    }
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("select seq, hash from audit.audit_heads where organization_id = $1")
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(verifier.finish(head))
}

/// Starts a read-only, repeatable-read transaction (heads and entries from one snapshot) with
/// the search path pinned to the built-ins for its duration, so an administrator connection
/// reading the audit tables resolves no operator or function a database login created.
pub async fn begin_pinned(
    conn: &mut PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, sqlx::Error> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    sqlx::query("select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, prev: Vec<u8>) -> Entry {
        let mut e = Entry {
            organization_id: Uuid::nil(),
            seq,
            at: OffsetDateTime::UNIX_EPOCH,
            actor_user_id: None,
            actor_role_id: None,
            actor_role: Some("Registered Manager".into()),
            tool: "care_notes".into(),
            action: "care_notes.create".into(),
            operation: "insert".into(),
            table_name: "care_notes".into(),
            record_id: None,
            service_user_id: None,
            changes: "{}".into(),
            prev_hash: prev,
            hash: Vec::new(),
        };
        e.hash = entry_hash(&e);
        e
    }

    fn chain(n: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map(|e| e.hash.clone()).unwrap_or_default();
            out.push(entry(seq, prev));
        }
        out
    }

    #[test]
    fn the_payload_is_the_fields_joined_by_bars_in_utc_with_microseconds() {
        let e = entry(7, Vec::new());
        assert_eq!(
            String::from_utf8(payload(&e)).expect("utf8"),
            "00000000-0000-0000-0000-000000000000|7|1970-01-01T00:00:00.000000|-|-|Registered Manager|care_notes|care_notes.create|insert|care_notes|-|-|{}"
        );
    }

    #[test]
    fn an_intact_chain_verifies_and_a_re_chained_one_is_named_by_its_checkpoint() {
        let good = chain(5);
        let mut v = Verifier::new(Vec::new());
        good.iter().for_each(|e| v.push(e));
        assert!(v.finish(Some((5, good[4].hash.clone()))).intact());

        // Entry 3 rewritten and everything after re-chained: consistent on its own …
        let mut bad = good.clone();
        bad[2].action = "nothing.happened".into();
        for i in 2..5 {
            bad[i].prev_hash = bad[i - 1].hash.clone();
            bad[i].hash = entry_hash(&bad[i]);
        }
        let mut v = Verifier::new(Vec::new());
        bad.iter().for_each(|e| v.push(e));
        assert!(v.finish(None).intact());
        // … but not against what a checkpoint recorded.
        let expected = good
            .iter()
            .map(|e| Expected {
                seq: e.seq,
                hash: e.hash.clone(),
                signed_at: OffsetDateTime::UNIX_EPOCH,
                checkpoint_seq: 5,
            })
            .collect();
        let mut v = Verifier::new(expected);
        bad.iter().for_each(|e| v.push(e));
        let r = v.finish(None);
        assert_eq!(r.first_broken_seq, Some(3), "{r:?}");
    }
}
