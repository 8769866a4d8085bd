// Aayu's model cache: downloads a model file from the API in Range chunks, checks each chunk's
// length and the whole file's sha256, and keeps the chunks in IndexedDB (one record per chunk
// plus one metadata record) so a ward laptop downloads once and then works offline.
//
// Used by the page (download, delete, usage) and by the worker (readChunks: IndexedDB only,
// never the network).

const DB_NAME = 'thrive-aayu';
const DB_VERSION = 1;
const MODELS = 'models'; // { name, size, sha256, etag, chunk_size, chunk_count, complete, updated }
const CHUNKS = 'chunks'; // { name, index, bytes: Blob (ArrayBuffer before 2026-11-30) }, key [name, index]

export const MANIFEST_URL = '/api/models/manifest.json';

/** An error whose message a clinician can read; `code` is for the page to branch on. */
export class CacheError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'CacheError';
    this.code = code;
  }
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new CacheError('storage', 'the browser refused to store the model'));
  });
}

let dbPromise;
export function openDb() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(MODELS)) db.createObjectStore(MODELS, { keyPath: 'name' });
      if (!db.objectStoreNames.contains(CHUNKS)) db.createObjectStore(CHUNKS, { keyPath: ['name', 'index'] });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => { dbPromise = undefined; reject(req.error); };
  });
  return dbPromise;
}

const chunkRange = (name) => IDBKeyRange.bound([name, 0], [name, Number.MAX_SAFE_INTEGER]);

export async function getMeta(name) {
  const db = await openDb();
  return (await request(db.transaction(MODELS).objectStore(MODELS).get(name))) ?? null;
}

/** Every model with a metadata record (complete or not). */
export async function listCached() {
  const db = await openDb();
  return request(db.transaction(MODELS).objectStore(MODELS).getAll());
}

async function putMeta(meta) {
  const db = await openDb();
  const tx = db.transaction(MODELS, 'readwrite');
  tx.objectStore(MODELS).put(meta);
  await done(tx);
}

/** Indices of the chunks already stored for `name`. */
export async function storedChunkIndices(name) {
  const db = await openDb();
  const keys = await request(db.transaction(CHUNKS).objectStore(CHUNKS).getAllKeys(chunkRange(name)));
  return new Set(keys.map(([, index]) => index));
}

// Chunks are stored as Blobs: Chromium keeps a large Blob as a file and streams its bytes back,
// faster than deserialising an ArrayBuffer of the same size. Measured here, 67 × 16 MiB: a bare
// page read them in 1.0–1.5 s as Blobs against 2.2–3.2 s as ArrayBuffers; the worker loading
// the development model, 4.8 s against 5.5 s.
async function putChunk(name, index, bytes) {
  const db = await openDb();
  const tx = db.transaction(CHUNKS, 'readwrite');
  tx.objectStore(CHUNKS).put({ name, index, bytes: new Blob([bytes]) });
  await done(tx);
}

/** A stored chunk's bytes, whichever form it was stored in. */
async function chunkBytes(record) {
  const { bytes } = record;
  return new Uint8Array(bytes instanceof Blob ? await bytes.arrayBuffer() : bytes);
}

async function getChunk(db, name, index) {
  const record = await request(db.transaction(CHUNKS).objectStore(CHUNKS).get([name, index]));
  return record ? chunkBytes(record) : null;
}

/** Deletes the model's chunks and its metadata record, in one transaction. */
export async function deleteModel(name) {
  const db = await openDb();
  const tx = db.transaction([MODELS, CHUNKS], 'readwrite');
  tx.objectStore(CHUNKS).delete(chunkRange(name));
  tx.objectStore(MODELS).delete(name);
  await done(tx);
}

/** Storage used and granted by the browser, and whether it is persistent. */
export async function storageState() {
  const estimate = (await navigator.storage?.estimate?.()) ?? {};
  const persisted = (await navigator.storage?.persisted?.()) ?? false;
  return { usage: estimate.usage ?? 0, quota: estimate.quota ?? 0, persisted };
}

export async function fetchManifest() {
  let response;
  try {
    response = await fetch(MANIFEST_URL, { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new CacheError('offline', 'the server cannot be reached to list the models');
  }
  if (response.status === 401) throw new CacheError('unauthenticated', 'please sign in to Thrive to download the assistant');
  if (!response.ok) throw new CacheError('server', `the server could not list the models (HTTP ${response.status})`);
  const { models } = await response.json();
  return models;
}

function chunkCount(size, chunkSize) {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/**
 * Downloads `entry` (from the manifest) into IndexedDB, resuming from the chunks already there,
 * then verifies the whole file's sha256. `onProgress({ phase, done, total })` is called with
 * phase 'download' (bytes) and 'verify' (bytes). `sha256` is a factory for an incremental
 * hasher with update(Uint8Array) and finishHex(). `signal` aborts.
 */
export async function download(entry, { onProgress = () => {}, sha256, signal } = {}) {
  const { name, size, chunk_size: chunkSize } = entry;
  const count = chunkCount(size, chunkSize);
  let meta = await getMeta(name);
  if (meta && (meta.sha256 !== entry.sha256 || meta.size !== size || meta.chunk_size !== chunkSize)) {
    // A different file under the same name (a new model version): start over.
    await deleteModel(name);
    meta = null;
  }
  if (meta?.complete) {
    onProgress({ phase: 'download', done: size, total: size });
    return meta;
  }
  meta = {
    name, size, sha256: entry.sha256, chunk_size: chunkSize, chunk_count: count,
    etag: `"sha256-${entry.sha256}"`, complete: false, updated: Date.now(),
  };
  await putMeta(meta);
  // Ask early, so the browser does not evict a half-downloaded gigabyte under pressure.
  await navigator.storage?.persist?.().catch(() => false);

  const have = await storedChunkIndices(name);
  const lengthOf = (i) => Math.min(chunkSize, size - i * chunkSize);
  let doneBytes = 0;
  for (const i of have) doneBytes += lengthOf(i);
  onProgress({ phase: 'download', done: doneBytes, total: size });

  for (let i = 0; i < count; i++) {
    if (have.has(i)) continue;
    signal?.throwIfAborted();
    const first = i * chunkSize;
    const last = first + lengthOf(i) - 1;
    let response;
    try {
      response = await fetch(`/api/models/${encodeURIComponent(name)}`, {
        headers: { Range: `bytes=${first}-${last}`, 'If-Range': meta.etag },
        credentials: 'same-origin',
        // The bytes go to IndexedDB; keeping them in the HTTP cache too would double the disk.
        cache: 'no-store',
        signal,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new CacheError('offline', `the download stopped at ${doneBytes} of ${size} bytes: the server cannot be reached; it will resume from there`);
    }
    if (response.status === 401) throw new CacheError('unauthenticated', 'please sign in to Thrive to download the assistant');
    if (response.status !== 206) {
      throw new CacheError('server', `chunk ${i + 1} of ${count}: expected a partial response (206), got HTTP ${response.status}`);
    }
    if (response.headers.get('content-range') !== `bytes ${first}-${last}/${size}`) {
      throw new CacheError('server', `chunk ${i + 1} of ${count}: the server sent a different byte range (${response.headers.get('content-range')})`);
    }
    const bytes = await response.arrayBuffer();
    if (bytes.byteLength !== last - first + 1) {
      throw new CacheError('damaged', `chunk ${i + 1} of ${count}: expected ${last - first + 1} bytes, received ${bytes.byteLength}; it will be fetched again`);
    }
    await putChunk(name, i, bytes);
    doneBytes += bytes.byteLength;
    onProgress({ phase: 'download', done: doneBytes, total: size });
  }

  // The whole file, read back from IndexedDB: what the engine will load is what was checked.
  const hasher = sha256();
  const db = await openDb();
  let hashed = 0;
  for (let i = 0; i < count; i++) {
    const chunk = await getChunk(db, name, i);
    if (!chunk) throw new CacheError('damaged', `chunk ${i + 1} of ${count} disappeared from the browser's storage`);
    hasher.update(chunk);
    hashed += chunk.byteLength;
    onProgress({ phase: 'verify', done: hashed, total: size });
  }
  const digest = hasher.finishHex();
  if (digest !== entry.sha256 || hashed !== size) {
    await deleteModel(name);
    throw new CacheError('damaged', `the downloaded model does not match its checksum (sha256 ${digest.slice(0, 12)}…, expected ${entry.sha256.slice(0, 12)}…); it was deleted, please download it again`);
  }
  meta = { ...meta, complete: true, updated: Date.now() };
  await putMeta(meta);
  return meta;
}

/**
 * The chunks of a completely downloaded model, in file order, read from IndexedDB only.
 * `onProgress({ done, total })` counts bytes.
 */
export async function readChunks(name, onProgress = () => {}) {
  const meta = await getMeta(name);
  if (!meta?.complete) {
    throw new CacheError('not_cached', `${name} is not in this browser's model cache yet: download it first`);
  }
  const db = await openDb();
  const chunks = [];
  let bytes = 0;
  for (let i = 0; i < meta.chunk_count; i++) {
    const chunk = await getChunk(db, name, i);
    if (!chunk) throw new CacheError('not_cached', `part ${i + 1} of ${name} is missing from the model cache: delete it and download again`);
    chunks.push(chunk);
    bytes += chunk.byteLength;
    onProgress({ done: bytes, total: meta.size });
  }
  if (bytes !== meta.size) {
    throw new CacheError('not_cached', `the cached ${name} has ${bytes} bytes, expected ${meta.size}: delete it and download again`);
  }
  return chunks;
}
