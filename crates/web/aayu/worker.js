// Aayu's Web Worker (a module worker). The engine and the message types live in Rust
// (crates/aayu-wasm: `AayuWorker`, `protocol.rs`); this file only does what Rust cannot:
// read the cached chunks out of IndexedDB and post messages.
//
// Page → worker: { type: 'load', model, max_context?, cancel_flag? }, { type: 'generate', … },
// { type: 'cancel' }. `cancel_flag` is an Int32Array over a SharedArrayBuffer: while a
// generation runs this thread is inside wasm and cannot read messages, so the page stops it by
// setting the flag, which the generation loop reads between tokens.
import init, { AayuWorker } from './pkg/aayu.js';
import { readChunks } from './model-cache.js';

const post = (message) => self.postMessage(message);
const fail = (code, message) => post({ type: 'error', code, message });

let core;
let cancelFlag;
// A trap inside wasm (a bug: the engine returns errors) leaves its memory in an unknown state.
let broken = false;

async function handle(data) {
  if (broken) {
    fail('internal', 'the assistant stopped after an internal failure: reload the page');
    return;
  }
  let json = '';
  try {
    // The flag is not JSON; everything else is parsed, and checked, by Rust.
    const { cancel_flag: flag, ...rest } = data ?? {};
    if (flag instanceof Int32Array) cancelFlag = flag;
    json = JSON.stringify(data && typeof data === 'object' ? rest : data) ?? '';
  } catch {
    json = '';
  }
  const message = JSON.parse(core.parse(json));
  switch (message.type) {
    case 'load': {
      if (cancelFlag) core.setCancelFlag(cancelFlag);
      let chunks;
      try {
        chunks = await readChunks(message.model, ({ done, total }) =>
          post({ type: 'progress', stage: 'read_cache', done, total }));
      } catch (e) {
        fail(e.code === 'not_cached' ? 'not_cached' : 'internal', `could not read ${message.model} from the model cache: ${e.message}`);
        return;
      }
      post(JSON.parse(core.load(message.model, chunks, message.max_context ?? undefined)));
      return;
    }
    case 'generate':
      post(JSON.parse(core.generate(json, post)));
      return;
    case 'cancel':
      // Nothing is running (a running generation would not let this message in): the flag
      // already did the work.
      return;
    default:
      // An `error` reply to a message Rust did not understand.
      post(message);
  }
}

const ready = (async () => {
  await init({ module_or_path: new URL('./pkg/aayu_bg.wasm', import.meta.url) });
  core = new AayuWorker();
  post({ type: 'ready' });
})().catch((e) => {
  broken = true;
  fail('internal', `the assistant could not start in this browser: ${e}`);
});

// Messages are handled one at a time, in order.
let queue = Promise.resolve();
self.onmessage = (event) => {
  queue = queue.then(async () => {
    await ready;
    if (!core) return;
    try {
      await handle(event.data);
    } catch (e) {
      broken = true;
      fail('internal', `the assistant failed unexpectedly: ${e?.message ?? e}`);
    }
  });
};
