// Runs the wasm build of the engine in node (single-threaded, SIMD128) on a GGUF: load from
// 64 MiB chunks, then the same benchmark as `aayu-bench bench`. Optional checks against the
// llama.cpp reference ids. Usage: node wasm-bench.mjs PKG_DIR MODEL [TOKENS] [--reference JSON]
import { createRequire } from "node:module";
import { openSync, readSync, fstatSync, closeSync, readFileSync } from "node:fs";
import path from "node:path";

const [pkgDir, modelPath, tokensArg, refFlag, refPath] = process.argv.slice(2);
if (!pkgDir || !modelPath) {
  console.error("usage: node wasm-bench.mjs PKG_DIR MODEL [TOKENS] [--reference JSON]");
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { AayuEngine, memoryBytes } = require(path.resolve(pkgDir, "aayu.js"));

const CHUNK = 64 * 1024 * 1024;
const fd = openSync(modelPath, "r");
const size = fstatSync(fd).size;
const chunks = [];
for (let offset = 0; offset < size; offset += CHUNK) {
  const chunk = new Uint8Array(Math.min(CHUNK, size - offset));
  readSync(fd, chunk, 0, chunk.length, offset);
  chunks.push(chunk);
}
closeSync(fd);

const engine = new AayuEngine(chunks, 4096);
chunks.length = 0;
const mib = (b) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
console.log(`wasm memory after load: ${mib(memoryBytes())}`);
const report = JSON.parse(engine.bench(undefined, Number(tokensArg ?? 32)));
const split = report.load_split;
const splitText = split ? `; header ${split.header_ms.toFixed(0)} ms, tokenizer ${split.tokenizer_ms.toFixed(0)} ms, weights ${split.weights_ms.toFixed(0)} ms` : "";
console.log(`load: ${report.load_ms.toFixed(0)} ms (from ${Math.ceil(size / CHUNK)} chunks${splitText})`);
console.log(`first prompt pass: ${report.cold_prompt_ms.toFixed(0)} ms`);
console.log(`prompt: ${report.timings.prompt_tokens} tokens = ${report.prompt_tokens_per_s.toFixed(2)} tokens/s`);
console.log(`decode: ${report.timings.decode_steps} tokens = ${report.decode_tokens_per_s.toFixed(2)} tokens/s`);
console.log(`output: ${JSON.stringify(report.text)}`);
const f = report.follow_up;
if (f) console.log(`follow-up request (${f.prompt_tokens} tokens, ${f.cached_prompt_tokens} cached): first token after ${f.cached_prompt_ms.toFixed(0)} ms with the prefix cache, ${f.uncached_prompt_ms.toFixed(0)} ms without; same tokens: ${f.same_tokens}`);
console.log(`wasm memory after the benchmark: ${mib(memoryBytes())}`);
if (process.env.AAYU_PROFILE) {
  // A separate pass with the per-operation timers on: where a prompt pass and a decode step go.
  const ops = JSON.parse(engine.profile(undefined, Number(tokensArg ?? 32)));
  for (const phase of ["prompt", "decode"]) {
    const rows = ops.filter((o) => o.phase === phase);
    const total = rows.reduce((s, o) => s + o.ms, 0);
    console.log(`profile, ${phase}: ${total.toFixed(0)} ms timed`);
    for (const o of rows) console.log(`  ${o.op.padEnd(16)} ${o.ms.toFixed(1).padStart(9)} ms ${(100 * o.ms / total).toFixed(1).padStart(5)} %  (${o.calls} calls)`);
  }
}

if (refFlag === "--reference") {
  const reference = JSON.parse(readFileSync(refPath, "utf8"));
  let failures = 0;
  for (const c of reference.tokenize) {
    const ours = Array.from(engine.tokenize(c.text));
    if (JSON.stringify(ours) !== JSON.stringify(c.ids)) {
      failures++;
      console.log(`tokenize mismatch for ${JSON.stringify(c.text)}`);
    }
  }
  console.log(`tokenizer: ${reference.tokenize.length - failures}/${reference.tokenize.length} strings match llama.cpp`);
  // <|endoftext|> and <|im_end|>: llama.cpp lists the stop token, the engine stops before it.
  const stops = new Set([151643, 151645]);
  for (const g of reference.greedy) {
    const expected = [];
    for (const id of g.ids) {
      if (stops.has(id)) break;
      expected.push(id);
    }
    const ours = Array.from(engine.generateGreedy(g.prompt, g.ids.length));
    let same = 0;
    while (same < ours.length && ours[same] === expected[same]) same++;
    const note = same < expected.length
      ? `; step ${same} is a near-tie in llama.cpp if ${g.margins[same]} < 0.2`
      : "";
    console.log(`greedy: ${same}/${expected.length} tokens match llama.cpp for ${JSON.stringify(g.prompt.slice(0, 40))}${note}`);
  }
  if (failures) process.exit(1);
}
