// The SPA's bridge to Aayu: the model cache and the Web Worker that live under /aayu/
// (crates/web/aayu). Both are imported on first use, so no screen waits on the assistant and
// the app works where Aayu is not installed. Replies go back to Rust as JSON strings.
let cacheModule;
let pkgModule;
let worker;
let workerStarted;
let loadedModel = null;
let pending = null; // { kind: 'load' | 'generate', resolve, reject, onToken, onDone, onError }
const cancelFlag = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : undefined;

async function cache() {
  cacheModule ??= await import('/aayu/model-cache.js');
  return cacheModule;
}

async function pkg() {
  if (!pkgModule) {
    const m = await import('/aayu/pkg/aayu.js');
    await m.default({ module_or_path: '/aayu/pkg/aayu_bg.wasm' });
    pkgModule = m;
  }
  return pkgModule;
}

/** The models offered by the server and what this browser holds of each, plus storage. */
export async function modelState() {
  const c = await cache();
  let offered = [];
  let offline = false;
  try {
    offered = await c.fetchManifest();
  } catch {
    offline = true;
  }
  const cached = await c.listCached();
  const names = new Set([...offered.map((m) => m.name), ...cached.filter((m) => m.complete).map((m) => m.name)]);
  const models = [];
  for (const name of names) {
    const entry = offered.find((m) => m.name === name);
    const meta = await c.getMeta(name);
    let stored = 0;
    if (meta && !meta.complete) stored = (await c.storedChunkIndices(name)).size;
    models.push({
      name,
      size: entry?.size ?? meta?.size ?? 0,
      offered: Boolean(entry),
      cached: Boolean(meta?.complete),
      stored_chunks: stored,
      chunk_count: meta?.chunk_count ?? 0,
      // Provenance names the model by the sha256 its download was verified against.
      sha256: meta?.sha256 ?? entry?.sha256 ?? null,
    });
  }
  const s = await c.storageState();
  return JSON.stringify({ models, offline, usage: s.usage, quota: s.quota, persisted: s.persisted, loaded: loadedModel });
}

/** Downloads (or resumes) `name`, verifying its sha256; onProgress(phase, done, total). */
export async function downloadModel(name, onProgress) {
  const c = await cache();
  const { Sha256 } = await pkg();
  const entry = (await c.fetchManifest()).find((m) => m.name === name);
  if (!entry) throw new Error(`${name} is not offered by the server`);
  await c.download(entry, {
    sha256: () => new Sha256(),
    onProgress: ({ phase, done, total }) => onProgress(phase, done, total),
  });
  try { await navigator.storage?.persist?.(); } catch { /* best effort */ }
}

export async function deleteModel(name) {
  const c = await cache();
  await c.deleteModel(name);
  if (loadedModel === name) loadedModel = null;
}

function startWorker() {
  if (worker) return workerStarted;
  worker = new Worker('/aayu/worker.js', { type: 'module', name: 'aayu' });
  workerStarted = new Promise((resolve, reject) => {
    worker.onmessage = ({ data: m }) => {
      if (m.type === 'ready') { resolve(); return; }
      const p = pending;
      // An error before anything was asked: the worker could not start.
      if (!p) { if (m.type === 'error') reject(new Error(m.message)); return; }
      switch (m.type) {
        case 'loaded':
          loadedModel = m.model;
          pending = null;
          p.resolve();
          return;
        case 'progress':
          p.onProgress?.(m.stage, m.done, m.total);
          return;
        case 'token':
          p.onToken?.(m.text);
          return;
        case 'done':
          pending = null;
          p.onDone?.(m.text, m.stop_reason);
          return;
        case 'error':
          pending = null;
          if (p.kind === 'load') { loadedModel = null; p.reject(new Error(m.message)); }
          else p.onError?.(m.message);
          return;
        default:
      }
    };
    worker.onerror = (e) => {
      reject(new Error(`the assistant's worker failed: ${e.message ?? e}`));
      const p = pending;
      pending = null;
      const message = `the assistant's worker failed: ${e.message ?? e}`;
      if (p?.kind === 'load') p.reject(new Error(message));
      else p?.onError?.(message);
    };
  });
  return workerStarted;
}

/** Loads `name` from this browser's cache into the worker (once). */
export async function loadModel(name, onProgress) {
  await startWorker();
  if (loadedModel === name) return;
  if (pending) throw new Error('the assistant is busy');
  await new Promise((resolve, reject) => {
    pending = { kind: 'load', resolve, reject, onProgress };
    worker.postMessage({ type: 'load', model: name, cancel_flag: cancelFlag });
  });
}

/** Streams a reply to a whole chat (the app's prompt builder's messages, as JSON) with the
 * engine options it names (JSON: max_new_tokens, shaping). */
export function generateChat(messagesJson, optionsJson, onToken, onDone, onError) {
  if (!worker || !loadedModel) { onError('load the model first'); return; }
  if (pending) { onError('the assistant is busy'); return; }
  if (cancelFlag) Atomics.store(cancelFlag, 0, 0);
  pending = { kind: 'generate', onToken, onDone, onError };
  worker.postMessage({ type: 'generate', messages: JSON.parse(messagesJson), options: JSON.parse(optionsJson) });
}

/** The engine's name and version (recorded with each accepted contribution). */
export async function engineVersion() {
  return (await pkg()).engineVersion();
}

export function stop() {
  if (cancelFlag) Atomics.store(cancelFlag, 0, 1);
  worker?.postMessage({ type: 'cancel' });
}
