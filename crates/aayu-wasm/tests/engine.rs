//! End-to-end tests on a tiny Qwen2 GGUF with random weights that the test writes itself:
//! load → tokenize → generate, and the errors a damaged or foreign file must produce.
//! They run natively and as wasm32 (`scripts/wasm-test.sh`).

use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};

use aayu::gguf::GgufModel;
use aayu::model::Qwen2;
use aayu::testing::TinyModel;
use aayu::{
    AayuError, ChatMessage, Engine, EngineOptions, GenerateOptions, Role, SamplingParams,
    StopReason,
};
use candle_core::quantized::gguf_file::Value;
// The same tests run as wasm (in node, through wasm-bindgen-test-runner).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn options() -> EngineOptions {
    EngineOptions { max_context: 256 }
}

fn greedy(max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        sampling: SamplingParams::greedy(),
        ignore_end_of_turn: true,
        ..GenerateOptions::default()
    }
}

fn load_error(bytes: Vec<u8>) -> AayuError {
    Engine::load(&mut Cursor::new(bytes), &options()).expect_err("loading should fail")
}

#[test]
fn tiny_model_loads_tokenizes_and_generates() {
    let bytes = TinyModel::default().bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");

    let ids = engine
        .tokenizer_mut()
        .encode("the pin", true)
        .expect("encode");
    let merged_the = engine.tokenizer().token_id("Ġthe").expect("Ġthe in vocab");
    let merged_pin = engine.tokenizer().token_id("Ġpin").expect("Ġpin in vocab");
    // "the" at the start has no leading space: t + he. Then " pin" merges fully.
    assert_eq!(ids.last(), Some(&merged_pin));
    assert!(!ids.contains(&merged_the));

    let prompt = engine
        .encode_chat(&[ChatMessage::new(Role::User, "in the pin")])
        .expect("chat prompt");
    assert_eq!(prompt[0], engine.tokenizer().im_start);

    let mut streamed = String::new();
    let generation = engine
        .generate(&prompt, &greedy(12), &AtomicBool::new(false), |t| {
            streamed.push_str(t)
        })
        .expect("generate");
    assert_eq!(generation.tokens.len(), 12);
    assert_eq!(generation.stop_reason, StopReason::MaxTokens);
    // Random weights emit arbitrary bytes: the streamed pieces are the text, save a final
    // unfinished character that only the end of generation flushes (as U+FFFD).
    assert!(generation.text.starts_with(&streamed));
    assert!(generation.text[streamed.len()..]
        .chars()
        .all(|c| c == char::REPLACEMENT_CHARACTER));
    assert_eq!(
        generation.text,
        engine
            .tokenizer()
            .decode(&generation.tokens)
            .expect("decode")
    );
    assert_eq!(generation.timings.prompt_tokens, prompt.len());
    assert_eq!(generation.timings.decode_steps, 11);
    assert!(generation.timings.prompt_tokens_per_s() > 0.0);
    assert!(generation.timings.decode_tokens_per_s() > 0.0);

    // Greedy decoding is deterministic, and a second conversation starts from a clean cache.
    let again = engine
        .generate(&prompt, &greedy(12), &AtomicBool::new(false), |_| {})
        .expect("generate again");
    assert_eq!(again.tokens, generation.tokens);
}

#[test]
fn kv_cache_gives_the_same_logits_as_a_full_pass() {
    let bytes = TinyModel::default().bytes();
    let mut cursor = Cursor::new(bytes);
    let gguf = GgufModel::read(&mut cursor).expect("header");
    let mut whole = Qwen2::load(&gguf, &mut cursor, 32).expect("load");
    let mut stepwise = Qwen2::load(&gguf, &mut cursor, 32).expect("load");
    let tokens = [5u32, 70, 256, 100, 3, 259, 42];

    let full = whole.forward(&tokens).expect("full pass");
    // One batch of three, then one token at a time through the cache.
    let mut last = stepwise.forward(&tokens[..3]).expect("batch");
    for &t in &tokens[3..] {
        last = stepwise.forward(&[t]).expect("step");
    }
    let max_diff = full
        .iter()
        .zip(&last)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        max_diff < 1e-3,
        "cached and full logits differ by {max_diff}"
    );
    assert!(full.iter().any(|&l| l != 0.0));
}

fn chat(engine: &mut Engine, system: &str, user: &str) -> Vec<u32> {
    engine
        .encode_chat(&[
            ChatMessage::new(Role::System, system),
            ChatMessage::new(Role::User, user),
        ])
        .expect("chat prompt")
}

#[test]
fn the_next_request_reuses_the_cached_system_prompt_and_gives_the_same_tokens() {
    let bytes = TinyModel::default().bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes.clone()), &options()).expect("load");
    let mut fresh = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let system = "the pin in the tin";
    let first = chat(&mut engine, system, "pin the tin");
    let second = chat(&mut engine, system, "tin in the pin");
    let shared = first
        .iter()
        .zip(&second)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(shared > 4, "the prompts share the system turn: {shared}");

    let never = AtomicBool::new(false);
    let a = engine
        .generate(&first, &greedy(6), &never, |_| {})
        .expect("first");
    assert_eq!(a.timings.cached_prompt_tokens, 0);
    let b = engine
        .generate(&second, &greedy(6), &never, |_| {})
        .expect("second");
    assert_eq!(b.timings.cached_prompt_tokens, shared);
    let expected = fresh
        .generate(&second, &greedy(6), &never, |_| {})
        .expect("fresh");
    assert_eq!(expected.timings.cached_prompt_tokens, 0);
    assert_eq!(b.tokens, expected.tokens);
    assert_eq!(b.text, expected.text);
}

#[test]
fn sampling_gives_the_same_tokens_with_and_without_the_prefix_cache() {
    let bytes = TinyModel::default().bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let hot = GenerateOptions {
        max_new_tokens: 10,
        sampling: SamplingParams {
            temperature: 1.2,
            seed: 11,
            ..SamplingParams::default()
        },
        ignore_end_of_turn: true,
        ..GenerateOptions::default()
    };
    let never = AtomicBool::new(false);
    let prompt = chat(&mut engine, "in the tin", "the pin");
    engine.clear_cache();
    let uncached = engine
        .generate(&prompt, &hot, &never, |_| {})
        .expect("uncached");
    // The whole prompt is cached now; only its last token runs again.
    let cached = engine
        .generate(&prompt, &hot, &never, |_| {})
        .expect("cached");
    assert_eq!(cached.timings.cached_prompt_tokens, prompt.len() - 1);
    assert_eq!(cached.tokens, uncached.tokens);
}

#[test]
fn the_prefix_cache_handles_shorter_diverging_and_half_run_prompts() {
    let bytes = TinyModel::default().bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes.clone()), &options()).expect("load");
    let mut fresh = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let never = AtomicBool::new(false);
    let long: Vec<u32> = (1..=12).collect();
    engine
        .generate(&long, &greedy(4), &never, |_| {})
        .expect("long");
    let check = |engine: &mut Engine, fresh: &mut Engine, prompt: &[u32], cached: usize| {
        let got = engine
            .generate(prompt, &greedy(4), &never, |_| {})
            .expect("generate");
        fresh.clear_cache();
        let want = fresh
            .generate(prompt, &greedy(4), &never, |_| {})
            .expect("fresh");
        assert_eq!(got.timings.cached_prompt_tokens, cached, "{prompt:?}");
        assert_eq!(got.tokens, want.tokens, "{prompt:?}");
    };
    // A prompt the cache already holds more than: its own last token runs again.
    check(&mut engine, &mut fresh, &long[..5], 4);
    // Diverging at the first token: nothing reused.
    check(&mut engine, &mut fresh, &[99, 2, 3, 4], 0);
    // Diverging in the middle.
    check(&mut engine, &mut fresh, &[99, 2, 7, 7, 7], 2);

    // A prompt stopped half-way leaves its first batch cached for the next request.
    let batches = GenerateOptions {
        prompt_batch: 4,
        ..greedy(4)
    };
    engine.clear_cache();
    let mut generator = engine.start(&long, &batches).expect("start");
    assert!(!generator.prompt_step().expect("first batch"));
    generator.cancel();
    generator.finish();
    check(&mut engine, &mut fresh, &long, 4);
}

#[test]
fn loading_from_chunks_matches_loading_from_one_buffer() {
    let bytes = TinyModel::default().bytes();
    // Uneven chunk sizes so tensors and strings straddle chunk boundaries.
    let chunks: Vec<Vec<u8>> = bytes.chunks(4093).map(<[u8]>::to_vec).collect();
    let mut from_chunks = Engine::load_chunks(chunks, &options()).expect("chunks");
    let mut from_buffer = Engine::load(&mut Cursor::new(bytes), &options()).expect("buffer");
    let prompt = [1u32, 2, 3, 4];
    let a = from_chunks
        .generate(&prompt, &greedy(6), &AtomicBool::new(false), |_| {})
        .expect("generate");
    let b = from_buffer
        .generate(&prompt, &greedy(6), &AtomicBool::new(false), |_| {})
        .expect("generate");
    assert_eq!(a.tokens, b.tokens);
}

#[test]
fn generation_stops_at_the_end_of_turn_token() {
    let bytes = TinyModel {
        stops_immediately: true,
        ..TinyModel::default()
    }
    .bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let prompt = engine
        .encode_chat(&[ChatMessage::new(Role::User, "hi")])
        .expect("prompt");
    let options = GenerateOptions {
        ignore_end_of_turn: false,
        ..greedy(10)
    };
    let generation = engine
        .generate(&prompt, &options, &AtomicBool::new(false), |_| {})
        .expect("generate");
    assert_eq!(generation.stop_reason, StopReason::EndOfTurn);
    assert!(generation.tokens.is_empty());
}

#[test]
fn cancel_stops_generation_between_tokens() {
    let bytes = TinyModel::default().bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let cancel = AtomicBool::new(false);
    let mut generator = engine.start(&[1, 2, 3], &greedy(30)).expect("start");
    for _ in 0..3 {
        assert!(generator.next_token().expect("token").is_some());
    }
    generator.cancel();
    assert_eq!(generator.next_token().expect("after cancel"), None);
    let generation = generator.finish();
    assert_eq!(generation.stop_reason, StopReason::Cancelled);
    assert_eq!(generation.tokens.len(), 3);

    // The flag form, set from inside the streaming callback.
    let generation = engine
        .generate(&[1, 2, 3], &greedy(30), &cancel, |_| {
            cancel.store(true, Ordering::Relaxed)
        })
        .expect("generate");
    assert_eq!(generation.stop_reason, StopReason::Cancelled);
    assert!(generation.tokens.len() < 30);
}

#[test]
fn cancel_is_honoured_between_prompt_batches() {
    let bytes = TinyModel::default().bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let options = GenerateOptions {
        prompt_batch: 4,
        ..greedy(5)
    };
    let prompt: Vec<u32> = (1..=10).collect();
    let mut generator = engine.start(&prompt, &options).expect("start");
    assert_eq!(generator.prompt_progress(), (0, 10));
    assert!(!generator.prompt_step().expect("first batch"));
    assert_eq!(generator.prompt_progress(), (4, 10));
    generator.cancel();
    assert_eq!(generator.next_token().expect("after cancel"), None);
    let generation = generator.finish();
    assert_eq!(generation.stop_reason, StopReason::Cancelled);
    assert!(generation.tokens.is_empty());

    // Batching does not change the result: 10 prompt tokens in batches of 4 or all at once
    // (each from an empty cache, so neither reuses the other's prompt).
    engine.clear_cache();
    let batched = engine
        .generate(&prompt, &options, &AtomicBool::new(false), |_| {})
        .expect("batched");
    engine.clear_cache();
    let whole = engine
        .generate(&prompt, &greedy(5), &AtomicBool::new(false), |_| {})
        .expect("whole");
    assert_eq!(batched.tokens, whole.tokens);
    assert_eq!(batched.timings.prompt_tokens, 10);
}

#[test]
fn a_prompt_longer_than_the_context_is_a_clear_error() {
    let bytes = TinyModel::default().bytes();
    let mut engine =
        Engine::load(&mut Cursor::new(bytes), &EngineOptions { max_context: 16 }).expect("load");
    let prompt = vec![7u32; 20];
    let err = engine.start(&prompt, &greedy(4)).expect_err("too long");
    assert!(
        matches!(
            err,
            AayuError::ContextOverflow {
                prompt_tokens: 20,
                context_length: 16
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("20 tokens"), "{err}");
}

#[test]
fn generation_ends_when_the_context_is_full() {
    let bytes = TinyModel::default().bytes();
    let mut engine =
        Engine::load(&mut Cursor::new(bytes), &EngineOptions { max_context: 8 }).expect("load");
    let generation = engine
        .generate(
            &[1, 2, 3, 4, 5],
            &greedy(100),
            &AtomicBool::new(false),
            |_| {},
        )
        .expect("generate");
    assert_eq!(generation.stop_reason, StopReason::ContextFull);
    // Generated tokens fill positions 5, 6 and 7; the fourth is returned but has no position
    // left to be fed back into.
    assert_eq!(generation.tokens.len(), 4);
}

#[test]
fn a_truncated_file_is_reported_as_truncated() {
    let bytes = TinyModel::default().bytes();
    for cut in [2, 10, 200, bytes.len() / 2, bytes.len() - 1] {
        let err = load_error(bytes[..cut].to_vec());
        assert!(
            matches!(err, AayuError::Truncated { file_size, .. } if file_size == cut as u64),
            "cut at {cut}: {err:?}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

#[test]
fn a_file_without_the_gguf_magic_is_reported_as_not_a_model() {
    let mut bytes = TinyModel::default().bytes();
    bytes[..4].copy_from_slice(b"<htm");
    let err = load_error(bytes);
    assert!(
        matches!(&err, AayuError::BadMagic { found } if found == "<htm"),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a GGUF"), "{err}");
}

#[test]
fn a_llama_model_is_reported_as_the_wrong_architecture() {
    let bytes = TinyModel {
        architecture: "llama",
        ..TinyModel::default()
    }
    .bytes();
    let err = load_error(bytes);
    assert!(
        matches!(&err, AayuError::WrongArchitecture { found } if found == "llama"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"llama\""), "{err}");
}

#[test]
fn a_zero_tensor_alignment_is_an_error_not_a_division_by_zero() {
    // candle divides by `general.alignment` unchecked: 0 would panic, aborting a wasm worker.
    // A key with trailing NUL bytes is the same key to candle; a later entry replaces an
    // earlier one.
    let cases: Vec<Vec<(&'static str, Value)>> = vec![
        vec![("general.alignment", Value::U32(0))],
        vec![("general.alignment", Value::U8(0))],
        vec![("general.alignment\0\0", Value::I32(0))],
        vec![
            ("general.alignment", Value::U32(32)),
            ("general.alignment", Value::U16(0)),
        ],
    ];
    for extra in cases {
        let what = format!("{extra:?}");
        let bytes = TinyModel {
            extra_metadata: extra,
            ..TinyModel::default()
        }
        .bytes();
        let err = load_error(bytes);
        assert!(matches!(err, AayuError::Corrupt(_)), "{what}: {err:?}");
        assert!(err.to_string().contains("alignment of 0"), "{what}: {err}");
    }
    // The writer pads to 32 bytes: saying so, or an alignment candle ignores, still loads.
    for extra in [
        vec![("general.alignment", Value::U32(32))],
        vec![("general.alignment", Value::String("0".into()))],
        vec![("general.alignment", Value::I32(-1))],
        vec![
            ("general.alignment", Value::U32(0)),
            ("general.alignment", Value::U32(32)),
        ],
    ] {
        let what = format!("{extra:?}");
        let bytes = TinyModel {
            extra_metadata: extra,
            ..TinyModel::default()
        }
        .bytes();
        Engine::load(&mut Cursor::new(bytes), &options()).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

#[test]
fn a_corrupt_header_is_an_error_not_a_panic() {
    let bytes = TinyModel::default().bytes();
    // Overwrite the counts, the first key's length and the key itself, keeping the magic.
    for offset in [8usize, 16, 24, 40] {
        let mut damaged = bytes.clone();
        for b in &mut damaged[offset..offset + 8] {
            *b = 0xff;
        }
        let err = load_error(damaged);
        assert!(
            matches!(
                err,
                AayuError::Corrupt(_) | AayuError::Truncated { .. } | AayuError::Metadata { .. }
            ),
            "offset {offset}: {err:?}"
        );
    }
}

#[test]
fn a_masked_generation_never_writes_a_forbidden_token() {
    let bytes = TinyModel::default().bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let prompt = engine
        .encode_chat(&[ChatMessage::new(Role::User, "** [x] #")])
        .expect("chat prompt");
    let shaping = aayu::OutputShaping {
        forbid_markdown: true,
        forbid_brackets: true,
        ..aayu::OutputShaping::default()
    };
    let generation = engine
        .generate(
            &prompt,
            &GenerateOptions {
                shaping,
                ..greedy(120)
            },
            &AtomicBool::new(false),
            |_| {},
        )
        .expect("generate");
    assert_eq!(generation.tokens.len(), 120);
    for id in &generation.tokens {
        let bytes = engine.tokenizer().token_bytes(*id).expect("token");
        assert!(
            !bytes.iter().any(|b| matches!(b, b'*' | b'`' | b'[' | b'{')),
            "{bytes:?}"
        );
    }
    assert!(!generation
        .text
        .lines()
        .any(|l| l.trim_start().starts_with('#')));
}

#[test]
fn a_generation_ends_before_its_stop_sequence() {
    let bytes = TinyModel {
        writes_numbers: true,
        ..TinyModel::default()
    }
    .bytes();
    let mut engine = Engine::load(&mut Cursor::new(bytes), &options()).expect("load");
    let prompt = engine
        .encode_chat(&[ChatMessage::new(Role::User, "count")])
        .expect("chat prompt");
    // The model writes only 3s and 7s: find what it writes, then stop at its third digit.
    let free = engine
        .generate(&prompt, &greedy(8), &AtomicBool::new(false), |_| {})
        .expect("generate");
    assert!(
        free.text.chars().all(|c| c == '3' || c == '7'),
        "{}",
        free.text
    );
    let stop = free.text[2..4].to_owned();
    let mut streamed = String::new();
    let generation = engine
        .generate(
            &prompt,
            &GenerateOptions {
                shaping: aayu::OutputShaping {
                    stop_sequences: vec![stop.clone()],
                    ..aayu::OutputShaping::default()
                },
                ..greedy(8)
            },
            &AtomicBool::new(false),
            |t| streamed.push_str(t),
        )
        .expect("generate");
    assert_eq!(generation.stop_reason, StopReason::StopSequence);
    let at = free.text.find(&stop).expect("stop in the free text");
    assert_eq!(generation.text, free.text[..at]);
    assert_eq!(
        streamed, generation.text,
        "nothing of the stop text is streamed"
    );
}
