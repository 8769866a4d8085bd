//! Encryption at rest of what organisations upload (photos, logos), with crypto-shredding.
//!
//! Envelope encryption: each organisation has its own random 256-bit data key; the data key is
//! kept only wrapped (AES-256-GCM) by a master key from the configuration, behind the
//! [`KeyProvider`] interface. Each file is sealed with AES-256-GCM under its organisation's key,
//! a random 96-bit nonce per object, and the organisation and file ids as associated data, so
//! a ciphertext moved to another row or another organisation does not open.
//!
//! The wrapped data keys live outside PostgreSQL (a directory here; a KMS in a larger
//! deployment), so destroying one when an organisation is purged makes its files unreadable in
//! every backup of the database too: that is how "deleted from all systems including backups"
//! is kept for the files. (The rows themselves are in the backups in plaintext until the
//! backups expire; see the README.)

use std::path::PathBuf;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

/// Bytes of a per-object nonce.
pub const NONCE_LEN: usize = 12;

const WRAPPED_MAGIC: &[u8; 4] = b"TDK1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Wrong key, wrong organisation or file, or altered bytes: AES-GCM's tag did not match.
    #[error("the ciphertext does not open with this key")]
    Undecryptable,
    /// The organisation has no data key (never made, or destroyed by a purge).
    #[error("organisation {0} has no data key")]
    NoKey(Uuid),
    #[error("the master key must be 32 bytes, base64-encoded")]
    BadMasterKey,
    #[error("the wrapped key of organisation {0} is malformed")]
    Malformed(Uuid),
    #[error("key storage: {0}")]
    Io(#[from] std::io::Error),
}

/// One organisation's data key.
#[derive(Clone)]
pub struct DataKey(Key<Aes256Gcm>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    fn random() -> Self {
        Self(Aes256Gcm::generate_key(OsRng))
    }

    /// Seals `plaintext` as file `file` of organisation `org`: (nonce, ciphertext with tag).
    pub fn seal(
        &self,
        org: Uuid,
        file: Uuid,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = Aes256Gcm::new(&self.0)
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &file_aad(org, file),
                },
            )
            .map_err(|_| KeyError::Undecryptable)?;
        Ok((nonce.to_vec(), ciphertext))
    }

    /// Opens what [`DataKey::seal`] sealed for the same organisation and file.
    pub fn open(
        &self,
        org: Uuid,
        file: Uuid,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        if nonce.len() != NONCE_LEN {
            return Err(KeyError::Undecryptable);
        }
        Aes256Gcm::new(&self.0)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &file_aad(org, file),
                },
            )
            .map_err(|_| KeyError::Undecryptable)
    }
}

fn file_aad(org: Uuid, file: Uuid) -> Vec<u8> {
    let mut aad = b"thrive file v1".to_vec();
    aad.extend_from_slice(org.as_bytes());
    aad.extend_from_slice(file.as_bytes());
    aad
}

fn wrap_aad(org: Uuid) -> Vec<u8> {
    let mut aad = b"thrive data key v1".to_vec();
    aad.extend_from_slice(org.as_bytes());
    aad
}

/// Where the organisations' data keys come from.
pub trait KeyProvider: Send + Sync {
    /// The organisation's data key, made (and kept, wrapped) on first use.
    fn data_key(&self, org: Uuid) -> Result<DataKey, KeyError>;
    /// The organisation's data key, if it has one; never makes one.
    fn existing_key(&self, org: Uuid) -> Result<Option<DataKey>, KeyError>;
    /// Destroys the organisation's data key for good: everything sealed under it, in the
    /// database and in every backup of it, can no longer be opened.
    fn destroy(&self, org: Uuid) -> Result<(), KeyError>;
}

/// Data keys wrapped by a master key, one file per organisation in a directory (0700, files
/// 0600). Several API instances share the directory (a shared volume), or use a KMS behind
/// the same trait instead.
pub struct DirectoryKeys {
    master: Aes256Gcm,
    dir: PathBuf,
}

impl DirectoryKeys {
    /// `master_key`: 32 bytes, base64 (`THRIVE_MASTER_KEY`); `dir`: `THRIVE_KEYS_DIR`.
    pub fn new(master_key: &SecretString, dir: impl Into<PathBuf>) -> Result<Self, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(master_key.expose_secret().trim())
            .map_err(|_| KeyError::BadMasterKey)?;
        if bytes.len() != 32 {
            return Err(KeyError::BadMasterKey);
        }
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o700)?;
        Ok(Self {
            master: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            dir,
        })
    }

    /// A fresh random master key, base64 (for `cargo xtask` and the tests).
    pub fn generate_master_key() -> String {
        base64::engine::general_purpose::STANDARD.encode(Aes256Gcm::generate_key(OsRng))
    }

    fn path(&self, org: Uuid) -> PathBuf {
        self.dir.join(format!("{org}.key"))
    }

    fn unwrap_key(&self, org: Uuid, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        let rest = wrapped
            .strip_prefix(WRAPPED_MAGIC.as_slice())
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or(KeyError::Malformed(org))?;
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let key = self
            .master
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &wrap_aad(org),
                },
            )
            .map_err(|_| KeyError::Undecryptable)?;
        if key.len() != 32 {
            return Err(KeyError::Malformed(org));
        }
        Ok(DataKey(*Key::<Aes256Gcm>::from_slice(&key)))
    }
}

fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

impl KeyProvider for DirectoryKeys {
    fn data_key(&self, org: Uuid) -> Result<DataKey, KeyError> {
        if let Some(key) = self.existing_key(org)? {
            return Ok(key);
        }
        let key = DataKey::random();
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .master
            .encrypt(
                &nonce,
                Payload {
                    msg: key.0.as_slice(),
                    aad: &wrap_aad(org),
                },
            )
            .map_err(|_| KeyError::Undecryptable)?;
        let mut wrapped = WRAPPED_MAGIC.to_vec();
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        // Written aside, then linked into place: two requests (or two instances) making the
        // first key at once agree on one, and nobody reads a half-written file.
        let tmp = self.dir.join(format!(".{org}.{}.tmp", Uuid::new_v4()));
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.write(true).create_new(true).open(&tmp)?;
            file.write_all(&wrapped)?;
            file.sync_all()?;
        }
        let linked = std::fs::hard_link(&tmp, self.path(org));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                if let Ok(dir) = std::fs::File::open(&self.dir) {
                    let _ = dir.sync_all();
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.existing_key(org)?.ok_or(KeyError::NoKey(org))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn existing_key(&self, org: Uuid) -> Result<Option<DataKey>, KeyError> {
        match std::fs::read(self.path(org)) {
            Ok(wrapped) => self.unwrap_key(org, &wrapped).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn destroy(&self, org: Uuid) -> Result<(), KeyError> {
        let path = self.path(org);
        match std::fs::metadata(&path) {
            Ok(meta) => {
                // Overwrite before unlinking, so the wrapped key is not left in the freed blocks
                // (best effort: a copy-on-write or journaling file system may keep old blocks;
                // the master key's rotation is the backstop there).
                let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0)];
                std::fs::write(&path, zeros)?;
                if let Ok(file) = std::fs::File::open(&path) {
                    let _ = file.sync_all();
                }
                std::fs::remove_file(&path)?;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens file `file` of organisation `org` with that organisation's key. A destroyed (or
/// never made) key is [`KeyError::NoKey`].
pub fn open_file(
    keys: &dyn KeyProvider,
    org: Uuid,
    file: Uuid,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, KeyError> {
    keys.existing_key(org)?
        .ok_or(KeyError::NoKey(org))?
        .open(org, file, nonce, ciphertext)
}

/// Seals every file stored before encryption at rest (no nonce), from an administrator
/// connection. The files' guard refuses updates, so this runs with triggers off for its own
/// transaction only (`session_replication_role = replica`, superuser); the bytes were never in
/// the audit trail. Returns how many were sealed.
pub async fn seal_plaintext_files(
    admin: &mut sqlx::PgConnection,
    keys: &dyn KeyProvider,
) -> anyhow::Result<u64> {
    use sqlx::Connection;
    let mut tx = admin.begin().await?;
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    let rows: Vec<(Uuid, Uuid, Vec<u8>)> = sqlx::query_as(
        "select id, organization_id, content from files where content_nonce is null for update",
    )
    .fetch_all(&mut *tx)
    .await?;
    let count = rows.len() as u64;
    for (id, org, content) in rows {
        let (nonce, sealed) = keys.data_key(org)?.seal(org, id, &content)?;
        sqlx::query("update files set content = $2, content_nonce = $3 where id = $1")
            .bind(id)
            .bind(sealed)
            .bind(nonce)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(count)
}

/// The key provider from the environment: `THRIVE_MASTER_KEY` (base64 of 32 bytes) and
/// `THRIVE_KEYS_DIR` (where the wrapped data keys are kept).
pub fn from_env() -> anyhow::Result<DirectoryKeys> {
    use anyhow::Context;
    let master: SecretString = std::env::var("THRIVE_MASTER_KEY")
        .context("THRIVE_MASTER_KEY must hold the master key (base64 of 32 random bytes)")?
        .into();
    let dir = std::env::var_os("THRIVE_KEYS_DIR")
        .context("THRIVE_KEYS_DIR must name the directory of wrapped data keys")?;
    Ok(DirectoryKeys::new(&master, PathBuf::from(dir))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> DirectoryKeys {
        let dir = std::env::temp_dir().join(format!("thrive-keys-{}", Uuid::new_v4()));
        DirectoryKeys::new(&DirectoryKeys::generate_master_key().into(), dir).expect("keys")
    }

    #[test]
    fn a_file_opens_only_with_its_organisations_key_and_ids() {
        let keys = provider();
        let (a, b, file) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let key_a = keys.data_key(a).expect("key a");
        let (nonce, sealed) = key_a.seal(a, file, b"photo bytes").expect("seal");
        assert_ne!(sealed.as_slice(), b"photo bytes".as_slice());
        assert_eq!(
            key_a.open(a, file, &nonce, &sealed).expect("open"),
            b"photo bytes"
        );
        // The same key, reloaded from its wrapped form, still opens it.
        let again = keys.existing_key(a).expect("read").expect("present");
        assert!(again.open(a, file, &nonce, &sealed).is_ok());
        // Another organisation's key, another organisation's id, another file's id: no.
        let key_b = keys.data_key(b).expect("key b");
        assert!(key_b.open(a, file, &nonce, &sealed).is_err());
        assert!(key_b.open(b, file, &nonce, &sealed).is_err());
        assert!(key_a.open(b, file, &nonce, &sealed).is_err());
        assert!(key_a.open(a, Uuid::new_v4(), &nonce, &sealed).is_err());
    }

    #[test]
    fn a_destroyed_key_is_gone_and_a_new_one_opens_nothing_old() {
        let keys = provider();
        let (org, file) = (Uuid::new_v4(), Uuid::new_v4());
        let (nonce, sealed) = keys
            .data_key(org)
            .expect("key")
            .seal(org, file, b"x")
            .expect("seal");
        keys.destroy(org).expect("destroy");
        assert!(keys.existing_key(org).expect("read").is_none());
        let fresh = keys.data_key(org).expect("new key");
        assert!(fresh.open(org, file, &nonce, &sealed).is_err());
    }

    #[test]
    fn another_master_key_cannot_unwrap_the_data_keys() {
        let keys = provider();
        let org = Uuid::new_v4();
        keys.data_key(org).expect("key");
        let thief = DirectoryKeys::new(&DirectoryKeys::generate_master_key().into(), &keys.dir)
            .expect("keys");
        assert!(matches!(
            thief.existing_key(org),
            Err(KeyError::Undecryptable)
        ));
    }
}
