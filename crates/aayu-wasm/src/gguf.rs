//! Reading a Qwen2 GGUF file: the header, the metadata and the tensors, from any `Read + Seek`
//! source, including the chunks a browser keeps in IndexedDB ([`ChunkedReader`]).
//!
//! candle's parser does the byte-level work; this module checks what candle does not (magic,
//! a zero tensor alignment, architecture, that every tensor lies inside the file) and turns its
//! errors into [`AayuError`] variants a user can act on.

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
        if declared_alignment(reader) == Some(0) {
            return Err(AayuError::Corrupt(
                "the file declares a tensor alignment of 0 bytes".into(),
            ));
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

/// The integer `general.alignment` candle will use, found by walking the metadata the way
/// candle reads it. candle rounds the tensor data's offset up to a multiple of it without
/// checking for 0, a division by zero that would abort a wasm worker; everything else in the
/// header candle bounds itself. Where the walk meets something candle will refuse (a short
/// file, an absurd length, too deep a nesting) it stops with `None` and leaves the refusal,
/// with its message, to candle.
fn declared_alignment<R: Read>(reader: &mut R) -> Option<u64> {
    const STRING: u32 = 8;
    const ARRAY: u32 = 9;
    const MAX_DEPTH: usize = 64;
    const KEY: &[u8] = b"general.alignment";

    fn fixed_size(value_type: u32) -> Option<u64> {
        match value_type {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        }
    }
    fn u32_le<R: Read>(r: &mut R) -> Option<u32> {
        let mut b = [0u8; 4];
        (read_up_to(r, &mut b).ok()? == 4).then(|| u32::from_le_bytes(b))
    }
    fn u64_le<R: Read>(r: &mut R) -> Option<u64> {
        let mut b = [0u8; 8];
        (read_up_to(r, &mut b).ok()? == 8).then(|| u64::from_le_bytes(b))
    }
    fn skip<R: Read>(r: &mut R, n: u64) -> Option<()> {
        let copied = std::io::copy(&mut r.by_ref().take(n), &mut std::io::sink()).ok()?;
        (copied == n).then_some(())
    }
    // GGUF v1 writes lengths and counts as u32, later versions as u64.
    fn length<R: Read>(r: &mut R, v1: bool) -> Option<u64> {
        if v1 {
            u32_le(r).map(u64::from)
        } else {
            u64_le(r)
        }
    }
    fn skip_value<R: Read>(r: &mut R, value_type: u32, v1: bool, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match value_type {
            STRING => {
                let n = length(r, v1)?;
                skip(r, n)
            }
            ARRAY => {
                let element = u32_le(r)?;
                let count = length(r, v1)?;
                match fixed_size(element) {
                    Some(size) => skip(r, count.checked_mul(size)?),
                    None => (0..count).try_for_each(|_| skip_value(r, element, v1, depth + 1)),
                }
            }
            t => skip(r, fixed_size(t)?),
        }
    }
    /// Reads a key of `len` bytes and says whether it is `want`, counting trailing NUL bytes
    /// as candle does (it drops them).
    fn key_is<R: Read>(r: &mut R, len: u64, want: &[u8]) -> Option<bool> {
        let mut same = len >= want.len() as u64;
        let mut at = 0usize;
        let mut left = len;
        let mut buf = [0u8; 4096];
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64)).ok()?;
            (read_up_to(r, &mut buf[..n]).ok()? == n).then_some(())?;
            for &byte in &buf[..n] {
                same &= match want.get(at) {
                    Some(&w) => byte == w,
                    None => byte == 0,
                };
                at += 1;
            }
            left -= n as u64;
        }
        Some(same)
    }
    /// The value candle would take for the alignment: an integer of at most 32 bits, not
    /// negative; anything else means its default.
    fn integer<R: Read>(r: &mut R, value_type: u32) -> Option<Option<u64>> {
        let size = fixed_size(value_type)?;
        let mut b = [0u8; 8];
        let n = usize::try_from(size).ok()?;
        (read_up_to(r, &mut b[..n]).ok()? == n).then_some(())?;
        Some(match value_type {
            0 => Some(u64::from(b[0])),
            1 => u64::try_from(i8::from_le_bytes([b[0]])).ok(),
            2 => Some(u64::from(u16::from_le_bytes([b[0], b[1]]))),
            3 => u64::try_from(i16::from_le_bytes([b[0], b[1]])).ok(),
            4 => Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            5 => u64::try_from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok(),
            _ => None,
        })
    }

    fn walk<R: Read>(r: &mut R) -> Option<Option<u64>> {
        skip(r, 4)?; // the magic, already checked
        let v1 = u32_le(r)? == 1;
        let _tensors = length(r, v1)?;
        let entries = length(r, v1)?;
        let mut alignment = None;
        for _ in 0..entries {
            let key_len = length(r, v1)?;
            let is_alignment = key_is(r, key_len, KEY)?;
            let value_type = u32_le(r)?;
            if is_alignment && fixed_size(value_type).is_some() {
                // A later entry with the same key replaces an earlier one, as in candle.
                alignment = integer(r, value_type)?;
            } else {
                if is_alignment {
                    alignment = None;
                }
                skip_value(r, value_type, v1, 0)?;
            }
        }
        Some(alignment)
    }
    walk(reader).flatten()
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
