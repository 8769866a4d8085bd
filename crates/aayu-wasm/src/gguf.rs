//! Reading a Qwen2 GGUF file: the header, the metadata and the tensors, from any `Read + Seek`
//! source, including the chunks a browser keeps in IndexedDB ([`ChunkedReader`]).
//!
//! candle's parser does the byte-level work; this module checks what candle does not (magic,
//! architecture, that every tensor lies inside the file) and turns its errors into
//! [`AayuError`] variants a user can act on.

use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::{Content, Value};

use crate::error::{AayuError, Result};

/// The architecture this engine runs.
pub const ARCHITECTURE: &str = "qwen2";

/// One piece of a model file held somewhere [`ChunkedReader`] can copy bytes from: a `Vec<u8>`
/// natively, a JavaScript `Uint8Array` in the browser (so the bytes enter wasm memory only
/// as the tensors that need them are read).
pub trait Chunk {
    fn byte_len(&self) -> usize;
    /// Copies `dst.len()` bytes starting at `start` into `dst`.
    fn copy_to(&self, start: usize, dst: &mut [u8]);
}

impl Chunk for Vec<u8> {
    fn byte_len(&self) -> usize {
        self.len()
    }

    fn copy_to(&self, start: usize, dst: &mut [u8]) {
        dst.copy_from_slice(&self[start..start + dst.len()]);
    }
}

/// A `Read + Seek` view over a model held as separate chunks, so a 1.1 GB model never has to be
/// copied into one contiguous buffer (which would double the peak memory in a 4 GB wasm heap).
#[derive(Debug, Default)]
pub struct ChunkedReader<C = Vec<u8>> {
    chunks: Vec<C>,
    /// Offset of each chunk's first byte in the whole file; one more entry for the total length.
    starts: Vec<u64>,
    pos: u64,
}

impl<C: Chunk> ChunkedReader<C> {
    pub fn new(chunks: Vec<C>) -> Self {
        let mut starts = Vec::with_capacity(chunks.len() + 1);
        let mut total = 0u64;
        for chunk in &chunks {
            starts.push(total);
            total += chunk.byte_len() as u64;
        }
        starts.push(total);
        Self {
            chunks,
            starts,
            pos: 0,
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<C: Chunk> Read for ChunkedReader<C> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len() {
            return Ok(0);
        }
        // The last chunk whose start is <= pos; empty chunks are skipped by the loop below.
        let mut idx = match self.starts.binary_search(&self.pos) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let mut written = 0;
        while written < buf.len() && idx < self.chunks.len() {
            let chunk = &self.chunks[idx];
            let within = (self.pos - self.starts[idx]) as usize;
            if within >= chunk.byte_len() {
                idx += 1;
                continue;
            }
            let n = (chunk.byte_len() - within).min(buf.len() - written);
            chunk.copy_to(within, &mut buf[written..written + n]);
            written += n;
            self.pos += n as u64;
        }
        Ok(written)
    }
}

impl<C: Chunk> Seek for ChunkedReader<C> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the model",
            )),
        }
    }
}

/// A parsed GGUF header, checked to be a complete qwen2 file.
#[derive(Debug)]
pub struct GgufModel {
    pub content: Content,
    pub file_size: u64,
}

impl GgufModel {
    /// Reads and checks the header. Tensors are read later, one at a time, by the model loader.
    pub fn read<R: Read + Seek>(reader: &mut R) -> Result<Self> {
        let file_size = reader.seek(SeekFrom::End(0))?;
        reader.seek(SeekFrom::Start(0))?;

        let mut magic = [0u8; 4];
        let got = read_up_to(reader, &mut magic)?;
        if got < magic.len() {
            return Err(AayuError::Truncated {
                file_size,
                detail: "the file is too short to hold a GGUF header".into(),
            });
        }
        // candle also accepts the byte-swapped magic, which no file this engine serves uses.
        if &magic != b"GGUF" {
            return Err(AayuError::BadMagic {
                found: String::from_utf8_lossy(&magic).into_owned(),
            });
        }
        reader.seek(SeekFrom::Start(0))?;

        let content = Content::read(reader).map_err(|e| classify_read_error(e, file_size))?;
        let model = Self { content, file_size };
        model.check_architecture()?;
        model.check_tensor_bounds()?;
        Ok(model)
    }

    fn check_architecture(&self) -> Result<()> {
        let arch = self.string("general.architecture")?;
        if arch != ARCHITECTURE {
            return Err(AayuError::WrongArchitecture {
                found: arch.to_string(),
            });
        }
        Ok(())
    }

    /// Checks every tensor's extent against the file size up front, so a truncated download is
    /// reported as such before any time is spent reading weights.
    fn check_tensor_bounds(&self) -> Result<()> {
        let base = self.content.tensor_data_offset;
        let mut furthest = base;
        for (name, info) in &self.content.tensor_infos {
            let elems = info
                .shape
                .dims()
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
                .ok_or_else(|| AayuError::Corrupt(format!("tensor {name} has an absurd shape")))?;
            let block = info.ggml_dtype.block_size() as u64;
            if elems % block != 0 {
                return Err(AayuError::Corrupt(format!(
                    "tensor {name} has {elems} elements, not a multiple of its block size {block}"
                )));
            }
            let end = (elems / block)
                .checked_mul(info.ggml_dtype.type_size() as u64)
                .and_then(|bytes| bytes.checked_add(base))
                .and_then(|b| b.checked_add(info.offset))
                .ok_or_else(|| AayuError::Corrupt(format!("tensor {name} has an absurd offset")))?;
            furthest = furthest.max(end);
        }
        if furthest > self.file_size {
            return Err(AayuError::Truncated {
                file_size: self.file_size,
                detail: format!("its tensors need {furthest} bytes"),
            });
        }
        Ok(())
    }

    pub fn value(&self, key: &str) -> Result<&Value> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| metadata_error(key, "missing"))
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        self.value(key)?
            .to_string()
            .map(String::as_str)
            .map_err(|e| metadata_error(key, e))
    }

    pub fn u32(&self, key: &str) -> Result<u32> {
        let v = self.value(key)?;
        // Writers disagree on integer widths; accept any that fits.
        v.to_u32()
            .or_else(|_| {
                v.to_u64()
                    .map_err(|e| e.to_string())
                    .and_then(|x| u32::try_from(x).map_err(|e| e.to_string()))
            })
            .or_else(|_| {
                v.to_i32()
                    .map_err(|e| e.to_string())
                    .and_then(|x| u32::try_from(x).map_err(|e| e.to_string()))
            })
            .map_err(|e| metadata_error(key, e))
    }

    pub fn f32(&self, key: &str) -> Result<f32> {
        let v = self.value(key)?;
        v.to_f32()
            .or_else(|_| v.to_f64().map(|x| x as f32))
            .map_err(|e| metadata_error(key, e))
    }

    pub fn array(&self, key: &str) -> Result<&[Value]> {
        self.value(key)?
            .to_vec()
            .map(Vec::as_slice)
            .map_err(|e| metadata_error(key, e))
    }

    /// Reads one tensor's data from the file.
    pub fn tensor<R: Read + Seek>(
        &self,
        reader: &mut R,
        name: &str,
    ) -> Result<candle_core::quantized::QTensor> {
        if !self.content.tensor_infos.contains_key(name) {
            return Err(AayuError::Corrupt(format!("the tensor {name} is missing")));
        }
        self.content
            .tensor(reader, name, &candle_core::Device::Cpu)
            .map_err(|e| classify_read_error(e, self.file_size))
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }
}

fn metadata_error(key: &str, reason: impl std::fmt::Display) -> AayuError {
    AayuError::Metadata {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// Reads until `buf` is full or the source ends; returns how many bytes were read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// candle reports an early end of file either as an I/O `UnexpectedEof` or, where it checks
/// lengths against the file size itself, as a message about the bytes "remaining".
fn classify_read_error(err: candle_core::Error, file_size: u64) -> AayuError {
    if is_unexpected_eof(&err) {
        return AayuError::Truncated {
            file_size,
            detail: "the header ends early".into(),
        };
    }
    let message = message_without_backtrace(&err);
    if message.contains("remaining") {
        AayuError::Truncated {
            file_size,
            detail: message,
        }
    } else {
        AayuError::Corrupt(message)
    }
}

/// candle appends a backtrace to `bail!` messages; the user needs only the message.
pub(crate) fn message_without_backtrace(err: &candle_core::Error) -> String {
    match err {
        candle_core::Error::WithBacktrace { inner, .. } => message_without_backtrace(inner),
        other => other.to_string(),
    }
}

fn is_unexpected_eof(err: &candle_core::Error) -> bool {
    match err {
        candle_core::Error::Io(e) => e.kind() == std::io::ErrorKind::UnexpectedEof,
        candle_core::Error::WithBacktrace { inner, .. } => is_unexpected_eof(inner),
        candle_core::Error::Context { inner, .. } => is_unexpected_eof(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_reader_reads_across_chunk_boundaries_and_seeks() {
        let mut r = ChunkedReader::new(vec![vec![0, 1, 2], vec![], vec![3, 4], vec![5, 6, 7, 8]]);
        assert_eq!(r.len(), 9);
        let mut all = Vec::new();
        r.read_to_end(&mut all).expect("read");
        assert_eq!(all, (0..9).collect::<Vec<u8>>());

        r.seek(SeekFrom::Start(2)).expect("seek");
        let mut buf = [0u8; 4];
        r.read_exact(&mut buf).expect("read");
        assert_eq!(buf, [2, 3, 4, 5]);

        r.seek(SeekFrom::End(-1)).expect("seek");
        let mut one = [0u8; 1];
        r.read_exact(&mut one).expect("read");
        assert_eq!(one, [8]);
        assert_eq!(r.read(&mut one).expect("read at end"), 0);
        assert!(r.seek(SeekFrom::Current(-100)).is_err());
    }
}
