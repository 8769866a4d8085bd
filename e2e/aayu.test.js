// Aayu in headless Chromium, on the tiny test models `cargo xtask test` writes into the e2e
// server's models directory (64 KiB chunks, so a download is a dozen Range requests):
//  - load → tokenize → generate with the tiny model, streamed, in the Web Worker;
//  - download with progress → reload mid-way → resume without re-fetching stored chunks →
//    load and generate with the model route unreachable and the browser offline;
//  - no request leaves the page during a generation, let alone one carrying prompt or output;
//  - truncated, corrupt and wrong-architecture files each show a clear error; so does a
//    download whose bytes do not match the manifest's sha256;
//  - Stop cancels a running generation; a malformed message gets an `error` reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, watchConsole, signIn, demoLogins, baseUrl, artifacts } from './support.js';

mkdirSync(artifacts, { recursive: true });

const CHUNK = 64 * 1024;
const TINY = 'tiny.gguf';
const MODEL_URL = `**/api/models/${TINY}`;

/** A signed-in page on /aayu/ with the page's wasm and worker started. */
async function aayuPage(context) {
  const page = await context.newPage();
  const login = demoLogins.find((l) => l.role === 'Carer') ?? demoLogins[0];
  assert.ok(login, 'demo logins are set (run through cargo xtask test)');
  await signIn(page, login.email);
  await page.getByTestId('signed-in-as').waitFor();
  await openAayu(page);
  return page;
}

async function openAayu(page) {
  await page.goto(`${baseUrl}/aayu/index.html`);
  await page.locator('body[data-ready="true"]').waitFor();
}

async function choose(page, model) {
  await page.getByRole('combobox', { name: 'Model' }).selectOption(model);
}

async function download(page, model) {
  await choose(page, model);
  await page.getByRole('button', { name: 'Download' }).click();
  await page.getByTestId('download-bytes').filter({ hasText: 'Downloaded and verified' }).waitFor();
}

async function load(page, model) {
  await choose(page, model);
  await page.getByRole('button', { name: 'Load', exact: true }).click();
  await page.getByTestId('status').filter({ hasText: `Loaded ${model}` }).waitFor();
}

/** Generates and returns { text, stopReason, timings }. */
async function generate(page, prompt, maxTokens = 12) {
  await page.getByLabel('Prompt').fill(prompt);
  await page.getByLabel('Maximum new tokens').fill(String(maxTokens));
  await page.getByRole('button', { name: 'Generate' }).click();
  const output = page.locator('output[data-stop-reason]');
  await output.waitFor();
  return {
    text: await output.textContent(),
    stopReason: await output.getAttribute('data-stop-reason'),
    timings: await page.getByTestId('timings').textContent(),
  };
}

async function modelSize(page) {
  return page.evaluate(async (name) => {
    const res = await fetch('/api/models/manifest.json');
    return (await res.json()).models.find((m) => m.name === name).size;
  }, TINY);
}

async function storedChunks(page, name) {
  return page.evaluate(async (name) => {
    const cache = await import('/aayu/model-cache.js');
    return [...(await cache.storedChunkIndices(name))].sort((a, b) => a - b);
  }, name);
}

test('the tiny model downloads, loads, tokenizes and generates a streamed reply in the worker', async () => {
  const context = await launch();
  try {
    const page = await aayuPage(context);
    const errors = watchConsole(page);
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'COOP/COEP give the worker a SharedArrayBuffer');

    const progress = [];
    await choose(page, TINY);
    const bytes = page.getByTestId('download-bytes');
    await page.getByRole('button', { name: 'Download' }).click();
    // Progress is shown in bytes while the download runs.
    for (;;) {
      const text = await bytes.textContent();
      if (!progress.includes(text)) progress.push(text);
      if (text.startsWith('Downloaded and verified')) break;
      await page.waitForTimeout(5);
    }
    const size = await modelSize(page);
    assert.ok(size > 4 * CHUNK, `the tiny model spans several chunks (${size} bytes)`);
    assert.ok(progress.some((t) => /^(Downloaded|Verifying) [\d,]+ bytes of [\d,]+ bytes$/.test(t)), progress.join(' | '));
    await page.getByTestId('storage').filter({ hasText: /Storage used: [\d.]+ MiB of [\d.]+ MiB available · persistent: (yes|no)/ }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#download-progress').evaluate((p) => p.value), 1);

    await load(page, TINY);
    const streamed = [];
    await page.exposeFunction('recordToken', (t) => streamed.push(t));
    await page.evaluate(() => {
      new MutationObserver(() => window.recordToken(document.getElementById('output').textContent))
        .observe(document.getElementById('output'), { childList: true, characterData: true, subtree: true });
    });
    const reply = await generate(page, 'in the pin', 12);
    assert.equal(reply.stopReason, 'max_tokens');
    assert.ok(reply.text.length > 0, 'some text came out');
    assert.ok(streamed.length >= 2, `the reply was streamed token by token (${streamed.length} updates)`);
    assert.match(reply.timings, /load \d+ ms · prompt \d+ tokens at [\d.]+ tokens\/s · 12 tokens generated, decode [\d.]+ tokens\/s/);
    await page.screenshot({ path: join(artifacts, 'aayu-generated.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no console errors (CSP refusals would show here)');
  } finally {
    await context.close();
  }
});

test('an interrupted download resumes from its stored chunks, then the model works offline from IndexedDB', async () => {
  const context = await launch();
  try {
    const page = await aayuPage(context);
    const size = await modelSize(page);
    const chunks = Math.ceil(size / CHUNK);
    const range = (i) => `bytes=${i * CHUNK}-${Math.min(size, (i + 1) * CHUNK) - 1}`;

    // Serve three chunks, then hold every further request open, as a dropped network would.
    const firstRun = [];
    await page.route(MODEL_URL, async (route) => {
      firstRun.push(route.request().headers().range);
      if (firstRun.length <= 3) await route.continue();
    });
    await choose(page, TINY);
    await page.getByRole('button', { name: 'Download' }).click();
    await page.getByTestId('download-bytes').filter({ hasText: `Downloaded ${(3 * CHUNK).toLocaleString('en-GB')} bytes of` }).waitFor();
    assert.deepEqual(firstRun.slice(0, 3), [range(0), range(1), range(2)]);
    assert.deepEqual(await storedChunks(page, TINY), [0, 1, 2]);

    // Reload mid-way. Navigate while the fourth request is still held, then drop the route:
    // unrouting first could release that request and let a fourth chunk land before the reload.
    await openAayu(page);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await choose(page, TINY);
    // The state is read from IndexedDB asynchronously after the choice: wait for it to show.
    await page.getByTestId('cache-state').filter({ hasText: `${TINY} is partly downloaded (3 of ${chunks} chunks)` }).waitFor({ timeout: 10_000 });

    const secondRun = [];
    page.on('request', (r) => { if (r.url().includes(`/api/models/${TINY}`)) secondRun.push(r.headers().range); });
    await page.getByRole('button', { name: 'Download' }).click();
    await page.getByTestId('download-bytes').filter({ hasText: 'Downloaded and verified' }).waitFor();
    assert.deepEqual(secondRun, Array.from({ length: chunks - 3 }, (_, i) => range(i + 3)),
      'only the missing chunks were fetched');
    assert.deepEqual(await storedChunks(page, TINY), Array.from({ length: chunks }, (_, i) => i));
    await page.getByTestId('cache-state').filter({ hasText: `${TINY} is cached and verified` }).waitFor({ timeout: 10_000 });

    // Now the model route is unreachable, and after the page has started, the whole network.
    const modelRequests = [];
    await context.route('**/api/models/**', (route) => { modelRequests.push(route.request().url()); return route.abort(); });
    await openAayu(page);
    await context.setOffline(true);
    const beforeLoad = modelRequests.length; // the manifest, tried (and refused) at page start
    await load(page, TINY);
    const reply = await generate(page, 'the pin', 8);
    assert.equal(reply.stopReason, 'max_tokens');
    assert.ok(reply.text.length > 0);
    assert.deepEqual(modelRequests.slice(beforeLoad), [], 'loading and generating asked the server for nothing');
    assert.ok(modelRequests.every((u) => !u.includes(TINY)), 'the model file was never requested');
    await page.screenshot({ path: join(artifacts, 'aayu-offline.png'), fullPage: true });

    // Deleting the cached model is one action.
    await context.setOffline(false);
    await page.getByRole('button', { name: 'Delete cached model' }).click();
    await page.getByTestId('cache-state').filter({ hasText: 'not in this browser' }).waitFor();
    assert.deepEqual(await storedChunks(page, TINY), []);
  } finally {
    await context.close();
  }
});

test('no request leaves the page while the assistant generates, and none carries the prompt or the output', async () => {
  const context = await launch();
  try {
    const page = await aayuPage(context);
    await download(page, TINY);
    await load(page, TINY);

    const prompt = 'Resident Mrs Ada Quill, room 12, BP 128/82 mmHg, marker-Q7XK';
    const requests = [];
    const record = (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '', headers: JSON.stringify(r.headers()) });
    context.on('request', record);
    page.on('request', record);
    const reply = await generate(page, prompt, 24);
    context.off('request', record);
    page.off('request', record);

    assert.equal(reply.stopReason, 'max_tokens');
    const secrets = [prompt, 'Ada Quill', 'marker-Q7XK', '128/82', reply.text.trim()].filter((s) => s.length >= 4);
    for (const r of requests) {
      for (const s of secrets) {
        for (const field of [decodeURIComponent(r.url), r.body, r.headers]) {
          assert.ok(!field.includes(s), `request ${r.method} ${r.url} carries ${JSON.stringify(s)}`);
        }
      }
    }
    assert.deepEqual(requests, [], 'no request at all was made during the generation');
  } finally {
    await context.close();
  }
});

test('truncated, corrupt and wrong-architecture model files each show a clear error', async () => {
  const context = await launch();
  try {
    const page = await aayuPage(context);
    for (const [model, expected] of [
      ['tiny-truncated.gguf', /Could not load tiny-truncated\.gguf: the model file is truncated/],
      ['tiny-corrupt.gguf', /Could not load tiny-corrupt\.gguf: the model file is corrupt/],
      ['tiny-llama.gguf', /Could not load tiny-llama\.gguf: unsupported model architecture "llama": Aayu runs qwen2 models/],
    ]) {
      await download(page, model);
      await choose(page, model);
      await page.getByRole('button', { name: 'Load', exact: true }).click();
      const alert = page.getByRole('alert');
      await alert.filter({ hasText: 'Could not load' }).waitFor();
      assert.match(await alert.textContent(), expected);
      await page.screenshot({ path: join(artifacts, `aayu-error-${model}.png`) });
    }
    // The worker survived all three: the good model still loads and generates.
    await download(page, TINY);
    await load(page, TINY);
    assert.equal((await generate(page, 'the pin', 4)).stopReason, 'max_tokens');
  } finally {
    await context.close();
  }
});

test('a download whose bytes do not match the sha256 is refused and deleted', async () => {
  const context = await launch();
  try {
    const page = await aayuPage(context);
    await page.route(MODEL_URL, async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      if (route.request().headers().range?.startsWith(`bytes=${CHUNK}-`)) body[100] ^= 0xff;
      await route.fulfill({ response, body });
    });
    await choose(page, TINY);
    await page.getByRole('button', { name: 'Download' }).click();
    await page.getByRole('alert').filter({ hasText: 'does not match its checksum' }).waitFor();
    assert.deepEqual(await storedChunks(page, TINY), []);
    await page.getByTestId('cache-state').filter({ hasText: `${TINY} is not in this browser's cache` }).waitFor({ timeout: 10_000 });
  } finally {
    await context.close();
  }
});

test('Stop cancels a running generation through the shared flag', async () => {
  const context = await launch();
  try {
    const page = await aayuPage(context);
    await download(page, TINY);
    await load(page, TINY);
    await page.getByLabel('Prompt').fill('the pin');
    await page.getByLabel('Maximum new tokens').fill('200');
    // Stop lands before the worker even starts: the flag, not the queued message, stops it.
    await page.evaluate(() => {
      document.getElementById('generate').click();
      document.getElementById('stop').click();
    });
    const output = page.locator('output[data-stop-reason]');
    await output.waitFor();
    assert.equal(await output.getAttribute('data-stop-reason'), 'cancelled');
    // And the next generation runs normally.
    assert.equal((await generate(page, 'the pin', 5)).stopReason, 'max_tokens');
  } finally {
    await context.close();
  }
});

test('the worker answers malformed messages with a typed error', async () => {
  const context = await launch();
  try {
    const page = await aayuPage(context);
    const replies = await page.evaluate(async () => {
      const worker = new Worker('/aayu/worker.js', { type: 'module' });
      const got = [];
      const ready = new Promise((resolve) => {
        worker.onmessage = ({ data }) => {
          got.push(data);
          if (data.type === 'ready') resolve();
        };
      });
      await ready;
      for (const m of [{ type: 'explode' }, { type: 'generate', prompt: 5 }, 'not an object', { type: 'generate', prompt: 'hi' }]) {
        worker.postMessage(m);
      }
      await new Promise((resolve) => {
        const check = () => (got.length >= 5 ? resolve() : setTimeout(check, 10));
        check();
      });
      worker.terminate();
      return got.slice(1);
    });
    assert.deepEqual(replies.map((r) => [r.type, r.code]), [
      ['error', 'bad_message'], ['error', 'bad_message'], ['error', 'bad_message'], ['error', 'not_loaded'],
    ]);
    assert.match(replies[0].message, /did not understand a message/);
  } finally {
    await context.close();
  }
});
