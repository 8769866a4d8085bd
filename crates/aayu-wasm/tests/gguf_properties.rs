//! The GGUF reader never panics, whatever the bytes (issue 14, point 8): a download cut short,
//! a corrupted header or plain noise is an error the person can act on, never a crashed worker.
//! Native only (proptest); the parser is the same code in the browser.
#![cfg(not(target_arch = "wasm32"))]

use std::io::Cursor;
use std::sync::OnceLock;

use aayu::gguf::GgufModel;
use aayu::testing::TinyModel;
use proptest::prelude::*;

/// The tiny test model's bytes, made once (candle quantises it, which takes a moment).
fn tiny() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| TinyModel::default().bytes())
}

/// Where the header lives: the damage that reaches the parser rather than the weights.
const HEADER: usize = 8192;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reading_a_damaged_or_truncated_model_never_panics(
        edits in proptest::collection::vec((0usize..HEADER, any::<u8>()), 0..12),
        cut in any::<usize>(),
    ) {
        let mut bytes = tiny().to_vec();
        for (at, byte) in &edits {
            let i = at % bytes.len();
            bytes[i] = *byte;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = GgufModel::read(&mut Cursor::new(bytes));
    }

    #[test]
    fn reading_noise_after_a_gguf_magic_never_panics(
        version in 1u32..4,
        noise in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&noise);
        let _ = GgufModel::read(&mut Cursor::new(bytes));
    }
}
