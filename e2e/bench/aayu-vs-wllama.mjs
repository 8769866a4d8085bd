// The side-by-side browser benchmark: Aayu's worker and wllama (@wllama/wllama from npm) in ONE
// headless Chromium, on the same GGUF, the same prompt (Aayu's ChatML rendering, default
// system prompt included) and the same thread count. Prints prompt tokens/s, decode tokens/s
// and load-from-cache time for each, with our/their ratios. Asserts nothing about time.
//
//   cargo xtask bench-browser [--model PATH] [--tokens N] [--prompt TEXT]
//   node e2e/bench/aayu-vs-wllama.mjs --dist target/thrive/dist-bench/aayu --model models/….gguf
//
// A bench-only local server serves Aayu's built worker and page files, wllama's own js/wasm
// from node_modules, the model (single Range requests, like the API), and the bench page,
// with COOP/COEP so both engines get SharedArrayBuffer. It sets no CSP: wllama starts its
// worker from a blob: URL, which Thrive's CSP (worker-src 'self') would refuse.
import http from 'node:http';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const dist = resolve(args.dist ?? join(here, '../../target/thrive/dist-bench/aayu'));
const modelPath = resolve(args.model ?? join(here, '../../models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf'));
const tokens = Number(args.tokens ?? 32);
const chunkSize = Number(args.chunk ?? 16 * 1024 * 1024);
const wllamaDir = join(here, '../node_modules/@wllama/wllama');

if (!existsSync(join(dist, 'pkg', 'aayu.js'))) throw new Error(`${dist} has no built worker: run cargo xtask bench-browser`);
if (!existsSync(modelPath)) throw new Error(`${modelPath} is missing: run cargo xtask fetch-model`);

const modelName = basename(modelPath);
const size = statSync(modelPath).size;

/** sha256 of the model, remembered under target/thrive/ (keyed on size and mtime). */
async function modelSha256() {
  const cacheDir = join(here, '../../target/thrive');
  mkdirSync(cacheDir, { recursive: true });
  const sidecar = join(cacheDir, `bench-${modelName}.sha256`);
  const mtimeNs = BigInt(Math.round(statSync(modelPath).mtimeMs * 1e6));
  if (existsSync(sidecar)) {
    const [hex, sz, mt] = readFileSync(sidecar, 'utf8').trim().split(/\s+/);
    if (Number(sz) === size && mt === String(mtimeNs) && /^[0-9a-f]{64}$/.test(hex)) return hex;
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(modelPath)) hash.update(chunk);
  const hex = hash.digest('hex');
  try { writeFileSync(sidecar, `${hex}  ${size} ${mtimeNs}\n`); } catch { /* read-only is fine */ }
  return hex;
}

const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.css': 'text/css', '.json': 'application/json' };
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

function serveFile(res, root, rel) {
  const path = normalize(join(root, rel));
  if (!path.startsWith(root) || !existsSync(path) || !statSync(path).isFile()) {
    res.writeHead(404, ISOLATION).end();
    return;
  }
  res.writeHead(200, { ...ISOLATION, 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
  createReadStream(path).pipe(res);
}

function serveModel(req, res, sha256) {
  const etag = `"sha256-${sha256}"`;
  const headers = { ...ISOLATION, etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', 'cache-control': 'private, max-age=31536000, immutable' };
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (!m) {
    res.writeHead(200, { ...headers, 'content-length': size });
    if (req.method === 'HEAD') return res.end();
    return createReadStream(modelPath).pipe(res);
  }
  const first = Number(m[1]);
  const last = Math.min(size - 1, m[2] ? Number(m[2]) : size - 1);
  if (first >= size) return res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` }).end();
  res.writeHead(206, { ...headers, 'content-length': last - first + 1, 'content-range': `bytes ${first}-${last}/${size}` });
  if (req.method === 'HEAD') return res.end();
  createReadStream(modelPath, { start: first, end: last }).pipe(res);
}

console.log(`model: ${modelName} (${size.toLocaleString('en-GB')} bytes); hashing…`);
const sha256 = await modelSha256();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = decodeURIComponent(url.pathname);
  if (p === '/api/models/manifest.json') {
    res.writeHead(200, { ...ISOLATION, 'content-type': 'application/json', 'cache-control': 'no-store' });
    return res.end(JSON.stringify({ models: [{ name: modelName, size, sha256, chunk_size: chunkSize }] }));
  }
  if (p === `/api/models/${modelName}`) return serveModel(req, res, sha256);
  if (p.startsWith('/aayu/')) return serveFile(res, dist, p.slice('/aayu/'.length));
  if (p.startsWith('/wllama/')) return serveFile(res, wllamaDir, p.slice('/wllama/'.length));
  if (p.startsWith('/bench/')) return serveFile(res, here, p.slice('/bench/'.length));
  if (p === '/favicon.ico') return res.writeHead(204, ISOLATION).end();
  res.writeHead(404, ISOLATION).end();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const modelUrl = `${base}/api/models/${modelName}`;

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'thrive-bench-')), {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--enable-features=SharedArrayBuffer'],
});
const fmt = (n, d = 2) => (n == null ? '—' : Number(n).toFixed(d));
try {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  page.on('console', (m) => { if (m.type() === 'error' || process.env.BENCH_VERBOSE) console.error('console:', m.text().slice(0, 300)); });
  if (process.env.BENCH_VERBOSE) await page.addInitScript(() => { window.benchVerbose = true; });
  await page.goto(`${base}/bench/index.html`);
  await page.waitForFunction(() => window.benchReady === true);
  const prompt = args.prompt ?? await page.evaluate(() => window.bench.defaultPrompt);
  const info = await page.evaluate(() => ({ ua: navigator.userAgent, cores: navigator.hardwareConcurrency, isolated: self.crossOriginIsolated }));
  console.log(`chromium: ${info.ua.match(/Chrome\/[\d.]+/)?.[0]}, hardwareConcurrency ${info.cores}, crossOriginIsolated ${info.isolated}`);
  console.log(`prompt: ${JSON.stringify(prompt.slice(0, 60))}… as one ChatML user turn; ${tokens} greedy tokens, end of turn ignored`);

  const ourDl = await page.evaluate((n) => window.bench.aayuDownload(n), modelName);
  console.log(`aayu: downloaded into IndexedDB and verified in ${(ourDl.ms / 1000).toFixed(1)} s`);
  const ours = await page.evaluate((a) => window.bench.aayuRun(a), { name: modelName, prompt, tokens });
  console.log(`aayu 1 thread: load ${fmt(ours.loadFromCacheMs, 0)} ms (of which the engine ${fmt(ours.engineLoadMs, 0)} ms, reading IndexedDB the rest), prompt ${ours.prompt_tokens} tok at ${fmt(ours.prompt_tokens_per_s)} tok/s, decode ${ours.decode_steps} at ${fmt(ours.decode_tokens_per_s)} tok/s`);

  const cold = await page.evaluate((a) => window.bench.aayuFollowUpUncached(a), { name: modelName });
  const warm = ours.followUp;
  console.log(`aayu follow-up request (${warm.promptTokens} prompt tokens, same system prompt): first token after ${fmt(warm.firstTokenMs, 0)} ms with the prefix cache, ${fmt(cold.firstTokenMs, 0)} ms from a fresh worker (${fmt(cold.firstTokenMs / warm.firstTokenMs)}x); same text: ${warm.text === cold.text}`);

  const theirDl = await page.evaluate((u) => window.bench.wllamaDownload(u), modelUrl);
  console.log(`wllama: downloaded into its cache in ${(theirDl.ms / 1000).toFixed(1)} s`);
  const runs = [];
  for (const threads of [1, 2]) {
    const r = await page.evaluate((a) => window.bench.wllamaRun(a), { url: modelUrl, prompt, tokens, threads });
    console.log(`wllama ${threads} thread(s) (multi-thread build: ${r.multiThread}): load ${fmt(r.loadFromCacheMs, 0)} ms, prompt ${r.prompt_tokens} tok at ${fmt(r.prompt_tokens_per_s)} tok/s, decode ${r.decode_steps} at ${fmt(r.decode_tokens_per_s)} tok/s`);
    runs.push({ threads, ...r });
  }

  const rows = [
    ['Aayu (candle, wasm32+simd128)', 1, ours],
    ...runs.map((r) => [`wllama ${r.threads === 1 ? '' : '(next target) '}`, r.threads, r]),
  ];
  const [w1] = runs;
  console.log('\n| engine | threads | load from cache (ms) | prompt tok/s | decode tok/s |');
  console.log('|---|---|---|---|---|');
  for (const [name, threads, r] of rows) {
    console.log(`| ${name.trim()} | ${threads} | ${fmt(r.loadFromCacheMs, 0)} | ${fmt(r.prompt_tokens_per_s)} | ${fmt(r.decode_tokens_per_s)} |`);
  }
  for (const r of runs) {
    console.log(`| ours/wllama ${r.threads}T | | ${fmt(ours.loadFromCacheMs / r.loadFromCacheMs)} (lower is better) | ${fmt(ours.prompt_tokens_per_s / r.prompt_tokens_per_s)} | ${fmt(ours.decode_tokens_per_s / r.decode_tokens_per_s)} |`);
  }
  console.log(`\nprompt tokens: aayu ${ours.prompt_tokens}, wllama ${w1.prompt_tokens} (equal means the same prompt)`);
  console.log(`first words — aayu: ${JSON.stringify(ours.text.slice(0, 60))}; wllama: ${JSON.stringify(w1.text.slice(0, 60))}`);
} finally {
  await context.close();
  server.close();
}
