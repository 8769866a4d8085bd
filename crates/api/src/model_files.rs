//! The model files Aayu's browser cache downloads: GGUF files in one directory, each with its
//! size and sha256, computed once and remembered.
//!
//! Hashing a 1.1 GB file takes seconds, so it never happens per request: the first scan (started
//! in the background when the server starts) hashes each file, and writes the digest to a
//! sidecar `<file>.sha256` together with the size and modification time it was computed for,
//! so a restart reuses it. Model files are immutable by design; replacing one means restarting
//! the server (a file whose size or modification time no longer matches its scan is refused).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// The default download chunk: small enough that an interrupted download loses little and an
/// IndexedDB record stays modest, large enough that a 1.1 GB file is ~70 requests.
pub const DEFAULT_CHUNK_BYTES: u64 = 16 * 1024 * 1024;

/// One model file, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelFile {
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// The byte length of each Range request the browser should make (the last may be shorter).
    pub chunk_size: u64,
    /// Modification time (ns since the epoch) the digest was computed for.
    #[serde(skip)]
    pub modified_ns: u128,
}

impl ModelFile {
    /// The strong validator: the content's own digest.
    pub fn etag(&self) -> String {
        format!("\"sha256-{}\"", self.sha256)
    }
}

/// The models directory and its scanned manifest.
#[derive(Debug, Clone)]
pub struct ModelStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: Option<PathBuf>,
    chunk_size: u64,
    manifest: OnceCell<Vec<ModelFile>>,
}

impl ModelStore {
    /// `dir` None serves an empty manifest.
    pub fn new(dir: Option<PathBuf>, chunk_size: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir,
                chunk_size: chunk_size.max(1),
                manifest: OnceCell::new(),
            }),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    /// The manifest; the first call scans (and hashes) the directory, every later call is free.
    /// A failed scan is not remembered, so the next request tries again.
    pub async fn manifest(&self) -> Result<&[ModelFile]> {
        let inner = self.inner.clone();
        let files = self
            .inner
            .manifest
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || scan(inner.dir.as_deref(), inner.chunk_size))
                    .await
                    .context("the model scan task failed")?
            })
            .await?;
        Ok(files)
    }

    /// The manifest entry called `name`, if `name` is a well-formed model file name.
    pub async fn find(&self, name: &str) -> Result<Option<(ModelFile, PathBuf)>> {
        if !is_model_file_name(name) {
            return Ok(None);
        }
        let Some(dir) = self.dir() else {
            return Ok(None);
        };
        let found = self
            .manifest()
            .await?
            .iter()
            .find(|f| f.name == name)
            .cloned();
        Ok(found.map(|f| {
            let path = dir.join(&f.name);
            (f, path)
        }))
    }
}

/// `[A-Za-z0-9._-]+\.gguf`, not starting with a dot: no separators, so no path traversal.
pub fn is_model_file_name(name: &str) -> bool {
    name.len() <= 200
        && name.len() > ".gguf".len()
        && name.ends_with(".gguf")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn modified_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Lists the regular `*.gguf` files in `dir`, with their digests.
fn scan(dir: Option<&Path>, chunk_size: u64) -> Result<Vec<ModelFile>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "the models directory does not exist");
            return Ok(Vec::new());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !is_model_file_name(&name) {
            continue;
        }
        // Follows symlinks (a development model may be linked in), but only to regular files.
        let path = entry.path();
        let meta = std::fs::metadata(&path)?;
        if !meta.is_file() {
            continue;
        }
        let size = meta.len();
        let modified_ns = modified_ns(&meta);
        let sha256 = match read_sidecar(&path, size, modified_ns) {
            Some(hex) => hex,
            None => {
                tracing::info!(file = %name, size, "computing the sha256 of a model file");
                let hex = sha256_file(&path)?;
                write_sidecar(&path, &hex, size, modified_ns);
                hex
            }
        };
        files.push(ModelFile {
            name,
            size,
            sha256,
            chunk_size,
            modified_ns,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// `<hex>  <size> <mtime-ns>`: trusted only while size and modification time still match.
fn read_sidecar(path: &Path, size: u64, modified_ns: u128) -> Option<String> {
    let text = std::fs::read_to_string(sidecar_path(path)).ok()?;
    let mut words = text.split_whitespace();
    let hex = words.next()?;
    let ok = hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && words.next()?.parse::<u64>().ok()? == size
        && words.next()?.parse::<u128>().ok()? == modified_ns;
    ok.then(|| hex.to_ascii_lowercase())
}

fn write_sidecar(path: &Path, hex: &str, size: u64, modified_ns: u128) {
    // A read-only models directory only costs a re-hash at the next start.
    if let Err(e) = std::fs::write(sidecar_path(path), format!("{hex}  {size} {modified_ns}\n")) {
        tracing::warn!(error = %e, file = %path.display(), "could not write the sha256 sidecar");
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_file_names_are_strict() {
        for ok in ["qwen.gguf", "qwen2.5-1.5b_Q4_K_M.gguf", "a.b.gguf"] {
            assert!(is_model_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".gguf",
            "../x.gguf",
            "a/b.gguf",
            "..\\x.gguf",
            ".hidden.gguf",
            "x.gguf.sha256",
            "x.bin",
            "x%2F.gguf",
            "x .gguf",
            "é.gguf",
        ] {
            assert!(!is_model_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_sidecar_is_trusted_only_for_the_same_size_and_time() {
        let dir = std::env::temp_dir().join(format!("thrive-models-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("m.gguf");
        std::fs::write(&path, b"GGUF model bytes").expect("write");
        let files = scan(Some(&dir), 4).expect("scan");
        let digest = hex::encode(Sha256::digest(b"GGUF model bytes"));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].sha256, digest);
        assert_eq!(files[0].chunk_size, 4);
        // The sidecar is reused, and ignored once it no longer describes the file.
        let (size, time) = (files[0].size, files[0].modified_ns);
        assert_eq!(read_sidecar(&path, size, time), Some(digest));
        assert_eq!(read_sidecar(&path, size + 1, time), None);
        assert_eq!(read_sidecar(&path, size, time + 1), None);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
