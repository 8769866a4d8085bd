#!/usr/bin/env python3
"""Writes tests/data/reference.json: llama.cpp's token ids and greedy continuations for the
development model, the reference the `reference` test compares Aayu against.

llama.cpp comes from the llama-cpp-python sdist on PyPI (it vendors llama.cpp), built locally:

    pip download --no-deps --no-binary :all: --no-build-isolation llama-cpp-python==0.3.36
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=ON" pip install llama_cpp_python-0.3.36.tar.gz
    python3 crates/aayu-wasm/tests/data/make_reference.py models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf

Tokenization uses special-token parsing (as `llama-tokenize` does by default) and no BOS
(the model's `add_bos_token` is false). Greedy continuations take the argmax of the logits one
token at a time from the raw prompt, on the CPU, with an f32 KV cache like Aayu's (llama.cpp's
default f16 cache moves logits by ~0.1, enough to flip near-ties). Each step records the gap
between the best and second-best logit, so a test can tell a real difference from a near-tie.
"""
import hashlib
import json
import os
import sys

import llama_cpp
from llama_cpp import Llama

TEXTS = [
    "Resident had a fall at 07:30; BP 128/82 mmHg, pulse 76 bpm, SpO2 97%, temp 37.2°C.",
    "Paracetamol 500 mg PO QDS PRN; max 4 g/24 h. Metformin 1,000mg BD with meals.",
    "GCS 15/15, NEWS2 score 3, BGL 6.4 mmol/L, weight 72.5kg (BMI 24.1), fluid in 1.25L/out 900ml",
    "Mr O'Brien's daughter (next-of-kin) phoned @ 14:05 re: DNACPR & the 2nd/3rd visits.",
    "It's, we'll, they're, I'M, DON'T, she'd've, y'all",
    "Numbers: 1234567890 3.14159 -42 1e-6 0x1F 12,345.67 £1,250.00 €9,99 50%",
    "Ünïcödé: café, naïve, Zoë, Øresund, façade — “quotes” and ‘apostrophes’…",
    "e\u0301 (decomposed) vs é (composed), ﬁ ligature, Ａ full-width",
    "日本語のテキストと中文混合, 한국어 텍스트, русский текст, ελληνικά, العربية, עברית",
    "Emoji: 🩺💊🏥 👩🏽‍⚕️ ❤️ 👍🏻 🇬🇧 😀😀😀",
    "spaces:  two   three    four     five      six",
    "   leading and trailing spaces   ",
    "\ttabs\tand\t\tdouble tabs \t mixed\t \t",
    "newlines\n\nblank line\n\n\nthree\r\nCRLF\rCR only\n",
    "    def f(x):\n        return x  # indented code\n\n",
    "a\u00a0non-breaking\u2009thin space and zero\u200bwidth\u3000ideographic",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after eot<tool_call>{\"x\": 1}</tool_call><|fim_prefix|>",
    "not special: <|im_start or im_end|> <| |>",
]

PROMPTS = [
    ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
     "Write one sentence about checking a care home resident's blood pressure.<|im_end|>\n"
     "<|im_start|>assistant\n", 16),
    ("The patient's temperature was 38.5°C, so the nurse", 16),
    ("def fahrenheit_to_celsius(f):\n", 16),
    ("<|im_start|>user\nWhat is 12 + 30? Answer with the number only.<|im_end|>\n"
     "<|im_start|>assistant\n", 8),
]

GGML_TYPE_F32 = 0


def main() -> None:
    path = sys.argv[1]
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    llm = Llama(model_path=path, n_ctx=512, n_threads=2, n_batch=512, verbose=False, seed=0,
                logits_all=True, type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32)
    tokenize = [
        {"text": t, "ids": llm.tokenize(t.encode("utf-8"), add_bos=False, special=True)}
        for t in TEXTS
    ]
    greedy = []
    for prompt, n in PROMPTS:
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        out, margins = [], []
        llm.reset()
        llm.eval(ids)
        while len(out) < n:
            logits = llm.scores[llm.n_tokens - 1]
            order = sorted(range(len(logits)), key=lambda i: -logits[i])[:2]
            tok = order[0]
            out.append(tok)
            margins.append(round(float(logits[order[0]] - logits[order[1]]), 4))
            if llm_is_eog(llm, tok):
                break
            llm.eval([tok])
        greedy.append({"prompt": prompt, "prompt_ids": ids, "ids": out, "margins": margins})
    reference = {
        "model": {"file": os.path.basename(path), "sha256": sha.hexdigest()},
        "producer": f"llama-cpp-python {llama_cpp.__version__} (vendored llama.cpp), "
                    "crates/aayu-wasm/tests/data/make_reference.py",
        "command": "python3 crates/aayu-wasm/tests/data/make_reference.py "
                   "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "tokenize": tokenize,
        "greedy": greedy,
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out}")


def llm_is_eog(llm: Llama, tok: int) -> bool:
    return bool(llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm.model), tok))


if __name__ == "__main__":
    main()
