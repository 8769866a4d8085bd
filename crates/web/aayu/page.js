// The Aayu page: model download (with progress, resume, storage use, deletion), loading from
// the browser's cache, and generation with streamed output and a stop button. Loaded as a
// module file: the CSP allows no inline script.
import init, { Sha256 } from './pkg/aayu.js';
import * as cache from './model-cache.js';

const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'), download: $('download'), del: $('delete'), load: $('load'),
  progress: $('download-progress'), bytes: $('download-bytes'), cacheState: $('cache-state'),
  storage: $('storage'), status: $('status'), prompt: $('prompt'), maxTokens: $('max-tokens'),
  generate: $('generate'), stop: $('stop'), output: $('output'), timings: $('timings'), error: $('error'),
};

const fmtBytes = (n) => `${n.toLocaleString('en-GB')} bytes`;
const fmtMiB = (n) => `${(n / 1048576).toFixed(1)} MiB`;

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = false;
}
function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = '';
}
const setStatus = (text) => { ui.status.textContent = text; };

let manifest = [];
let busy = false;
let pending = null; // 'load' | 'generate' while the worker works on one
let loadedModel = null;

// The stop flag shared with the worker (needs cross-origin isolation, which COOP/COEP give).
const cancelFlag = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : undefined;

function setBusy(value) {
  busy = value;
  for (const b of [ui.download, ui.del, ui.load, ui.generate]) b.disabled = value;
  ui.stop.disabled = !(value && pending === 'generate');
}

// Each refresh is numbered: an older one that finishes late (say the page-start refresh for
// the first model, after the user picked another) must not overwrite the newer state.
let cacheStateSeq = 0;

async function refreshCacheState() {
  const seq = ++cacheStateSeq;
  const name = ui.model.value;
  const meta = name ? await cache.getMeta(name) : null;
  const have = meta && !meta.complete ? await cache.storedChunkIndices(name) : null;
  if (seq !== cacheStateSeq) return;
  if (!meta) {
    ui.cacheState.textContent = name ? `${name} is not in this browser's cache.` : 'No model selected.';
  } else if (meta.complete) {
    ui.cacheState.textContent = `${name} is cached and verified (${fmtBytes(meta.size)}).`;
    ui.progress.value = 1;
  } else {
    ui.cacheState.textContent = `${name} is partly downloaded (${have.size} of ${meta.chunk_count} chunks): Download resumes it.`;
  }
  const s = await cache.storageState();
  ui.storage.textContent = `Storage used: ${fmtMiB(s.usage)} of ${fmtMiB(s.quota)} available · persistent: ${s.persisted ? 'yes' : 'no'}`;
}

async function fillModels() {
  let names;
  try {
    manifest = await cache.fetchManifest();
    names = manifest.map((m) => m.name);
  } catch (e) {
    // Offline (or signed out): the cached models still work.
    manifest = [];
    names = (await cache.listCached()).filter((m) => m.complete).map((m) => m.name);
    if (e.code === 'unauthenticated') showError(`Downloading needs a Thrive sign-in: ${e.message}.`);
    else setStatus(`The server cannot be reached; showing the models already in this browser.`);
  }
  const previous = ui.model.value;
  ui.model.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(previous)) ui.model.value = previous;
  await refreshCacheState();
}

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'aayu' });
let workerReady;
const workerStarted = new Promise((resolve) => { workerReady = resolve; });

worker.onmessage = ({ data: m }) => {
  switch (m.type) {
    case 'ready':
      workerReady();
      return;
    case 'progress':
      if (m.stage === 'read_cache') setStatus(`Reading the model from this browser: ${fmtBytes(m.done)} of ${fmtBytes(m.total)}`);
      else setStatus(`Reading the prompt: ${m.done} of ${m.total} tokens`);
      return;
    case 'loaded':
      loadedModel = m.model;
      setStatus(`Loaded ${m.model} in ${Math.round(m.load_ms)} ms. Ready.`);
      pending = null;
      setBusy(false);
      return;
    case 'token':
      ui.output.textContent += m.text;
      return;
    case 'done': {
      const t = m.timings;
      ui.output.textContent = m.text;
      ui.output.dataset.stopReason = m.stop_reason;
      ui.timings.textContent = `load ${Math.round(t.load_ms)} ms · prompt ${t.prompt_tokens} tokens at ${t.prompt_tokens_per_s.toFixed(2)} tokens/s · ` +
        `${t.generated_tokens} tokens generated, decode ${t.decode_tokens_per_s.toFixed(2)} tokens/s`;
      setStatus(m.stop_reason === 'cancelled' ? 'Stopped.' : 'Done.');
      pending = null;
      setBusy(false);
      return;
    }
    case 'error': {
      const what = pending === 'load' ? `Could not load ${ui.model.value}` : pending === 'generate' ? 'Could not generate' : 'The assistant reported a problem';
      if (pending === 'load') loadedModel = null;
      showError(`${what}: ${m.message}`);
      setStatus('Stopped by an error.');
      pending = null;
      setBusy(false);
      return;
    }
    default:
      showError(`The assistant sent an unknown message (${m?.type}).`);
  }
};
worker.onerror = (e) => {
  showError(`The assistant's worker failed: ${e.message ?? e}`);
  pending = null;
  setBusy(false);
};

ui.model.addEventListener('change', () => { clearError(); refreshCacheState(); });

ui.download.addEventListener('click', async () => {
  clearError();
  const entry = manifest.find((m) => m.name === ui.model.value);
  if (!entry) { showError('This model is not offered by the server (are you offline?).'); return; }
  setBusy(true);
  try {
    await cache.download(entry, {
      sha256: () => new Sha256(),
      onProgress: ({ phase, done, total }) => {
        ui.progress.value = total ? done / total : 0;
        ui.bytes.textContent = `${phase === 'verify' ? 'Verifying' : 'Downloaded'} ${fmtBytes(done)} of ${fmtBytes(total)}`;
      },
    });
    ui.bytes.textContent = `Downloaded and verified: ${fmtBytes(entry.size)}`;
    setStatus(`${entry.name} is ready to load, with or without a network.`);
  } catch (e) {
    showError(`Download of ${entry.name} failed: ${e.message}`);
  } finally {
    setBusy(false);
    await refreshCacheState();
  }
});

ui.del.addEventListener('click', async () => {
  clearError();
  const name = ui.model.value;
  if (!name) return;
  setBusy(true);
  try {
    await cache.deleteModel(name);
    ui.progress.value = 0;
    ui.bytes.textContent = `Deleted ${name} from this browser.`;
  } catch (e) {
    showError(`Could not delete ${name}: ${e.message}`);
  } finally {
    setBusy(false);
    await refreshCacheState();
  }
});

ui.load.addEventListener('click', async () => {
  clearError();
  await workerStarted;
  pending = 'load';
  setBusy(true);
  setStatus(`Loading ${ui.model.value}…`);
  worker.postMessage({ type: 'load', model: ui.model.value, cancel_flag: cancelFlag });
});

ui.generate.addEventListener('click', () => {
  clearError();
  if (!loadedModel) { showError('Load a model before generating.'); return; }
  ui.output.textContent = '';
  delete ui.output.dataset.stopReason;
  ui.timings.textContent = '';
  pending = 'generate';
  setBusy(true);
  setStatus('Generating…');
  if (cancelFlag) Atomics.store(cancelFlag, 0, 0);
  worker.postMessage({
    type: 'generate',
    prompt: ui.prompt.value,
    options: { max_new_tokens: Number(ui.maxTokens.value) || 128 },
  });
});

ui.stop.addEventListener('click', () => {
  if (cancelFlag) Atomics.store(cancelFlag, 0, 1);
  worker.postMessage({ type: 'cancel' });
});

setBusy(false);
if (!cancelFlag) showError('This page is not cross-origin isolated, so Stop only takes effect after the reply ends.');
await init({ module_or_path: new URL('./pkg/aayu_bg.wasm', import.meta.url) });
await fillModels();
await workerStarted;
document.body.dataset.ready = 'true';
if (ui.status.textContent.startsWith('Starting')) setStatus('Ready.');
