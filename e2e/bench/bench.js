// Browser side of the side-by-side benchmark (driven by aayu-vs-wllama.mjs): Aayu's own cache
// and worker, and wllama with its own cache, on the same GGUF, prompt and thread count.
import init, { Sha256, renderChat, benchPrompt, followUpPrompt } from '/aayu/pkg/aayu.js';
import * as cache from '/aayu/model-cache.js';
import { Wllama } from '/wllama/esm/index.js';

await init({ module_or_path: '/aayu/pkg/aayu_bg.wasm' });
const status = (t) => { document.getElementById('status').textContent = t; };

const GREEDY = { temperature: 0, top_k: 0, top_p: 1, repetition_penalty: 1, repeat_last_n: 0, seed: 0 };
const WLLAMA_PATHS = { default: '/wllama/esm/wasm/wllama.wasm' };

/** A fresh Aayu worker with the model loaded from IndexedDB. */
async function aayuLoad(name) {
  const worker = new Worker('/aayu/worker.js', { type: 'module' });
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const next = (types) => new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === 'error') reject(new Error(data.message));
      else if (types.includes(data.type)) resolve(data);
    };
  });
  await next(['ready']);
  const t0 = performance.now();
  worker.postMessage({ type: 'load', model: name, max_context: 4096, cancel_flag: flag });
  const loaded = await next(['loaded']);
  return { worker, next, loaded, loadFromCacheMs: performance.now() - t0 };
}

/** Sends the follow-up request; the time until its first streamed token, as a carer sees it. */
async function aayuFirstToken(worker, next) {
  const t0 = performance.now();
  worker.postMessage({ type: 'generate', prompt: followUpPrompt(), options: { max_new_tokens: 8, sampling: GREEDY, ignore_end_of_turn: true } });
  await next(['token', 'done']);
  const firstTokenMs = performance.now() - t0;
  const done = await next(['done']);
  return { firstTokenMs, promptTokens: done.timings.prompt_tokens, promptMs: done.timings.prompt_ms, text: done.text };
}

window.bench = {
  defaultPrompt: benchPrompt(),

  /** Our download into IndexedDB (chunks, sha256), timed. */
  async aayuDownload(name) {
    const entry = (await cache.fetchManifest()).find((m) => m.name === name);
    const t0 = performance.now();
    await cache.download(entry, { sha256: () => new Sha256(), onProgress: ({ phase, done, total }) => status(`aayu ${phase} ${done}/${total}`) });
    return { ms: performance.now() - t0, size: entry.size };
  },

  /** Load from IndexedDB in a fresh worker, then one greedy generation of `tokens` tokens,
   *  then the follow-up request (time to first token, the system prompt still cached). */
  async aayuRun({ name, prompt, tokens }) {
    const { worker, next, loadFromCacheMs, loaded } = await aayuLoad(name);
    status('aayu generating');
    worker.postMessage({ type: 'generate', prompt, options: { max_new_tokens: tokens, sampling: GREEDY, ignore_end_of_turn: true } });
    const done = await next(['done']);
    const followUp = await aayuFirstToken(worker, next);
    worker.terminate();
    return { loadFromCacheMs, engineLoadMs: loaded.load_ms, memoryBytes: loaded.memory_bytes, ...done.timings, text: done.text, followUp };
  },

  /** The follow-up request alone in a fresh worker: its time to first token without a cache. */
  async aayuFollowUpUncached({ name }) {
    const { worker, next } = await aayuLoad(name);
    const followUp = await aayuFirstToken(worker, next);
    worker.terminate();
    return followUp;
  },

  /** wllama's own download into its own cache (OPFS), timed. */
  async wllamaDownload(url) {
    const wllama = new Wllama(WLLAMA_PATHS);
    const t0 = performance.now();
    await wllama.cacheManager.download(url, { progressCallback: ({ loaded, total }) => status(`wllama download ${loaded}/${total}`) });
    return { ms: performance.now() - t0 };
  },

  /** Load from wllama's cache with `threads` threads, then one greedy completion. */
  async wllamaRun({ url, prompt, tokens, threads }) {
    const wllama = new Wllama(WLLAMA_PATHS, { suppressNativeLog: !window.benchVerbose, allowOffline: true });
    const t0 = performance.now();
    await wllama.loadModelFromUrl(url, { n_threads: threads, n_ctx: 4096, n_batch: 512, n_gpu_layers: 0, useCache: true });
    const loadFromCacheMs = performance.now() - t0;
    status(`wllama ${threads}T generating`);
    const res = await wllama.createCompletion({
      prompt: renderChat(prompt), max_tokens: tokens, temperature: 0, ignore_eos: true, stream: false,
    });
    const multiThread = wllama.isMultithread?.() ?? null;
    await wllama.exit();
    const t = res.timings;
    return {
      loadFromCacheMs, multiThread,
      prompt_tokens: t.prompt_n, prompt_tokens_per_s: t.prompt_per_second,
      decode_steps: t.predicted_n, decode_tokens_per_s: t.predicted_per_second,
      text: res.choices[0].text,
    };
  },
};
status('ready');
window.benchReady = true;
