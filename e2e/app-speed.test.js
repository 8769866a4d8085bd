// Issue 5's speed bar, measured and reported (never asserted as a time): what the first screen
// downloads, gzipped, and how long until the sign-in form answers, from a cold and a warm cache.
// What is asserted is the mechanism: the app's wasm and JS travel gzipped, and nothing of the
// assistant (its worker, its wasm, the model) is fetched before it is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, baseUrl, watchConsole } from './support.js';

async function firstScreen(page) {
  await page.goto(baseUrl);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Email').fill('ready@example.invalid');
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource');
    const all = [nav, ...resources];
    return {
      interactiveMs: performance.now(),
      requests: all.length,
      transferred: all.reduce((n, e) => n + (e.transferSize || 0), 0),
      encoded: all.reduce((n, e) => n + (e.encodedBodySize || 0), 0),
      decoded: all.reduce((n, e) => n + (e.decodedBodySize || 0), 0),
      names: resources.map((e) => new URL(e.name).pathname),
    };
  });
}

const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;

test('the first screen downloads the app gzipped, nothing of the assistant, and its timing is reported', async () => {
  const context = await launch();
  try {
    const page = await context.newPage();
    const errors = watchConsole(page);
    const encodings = new Map();
    page.on('response', (r) => encodings.set(new URL(r.url()).pathname, r.headers()['content-encoding'] ?? 'identity'));

    const cold = await firstScreen(page);
    assert.equal(encodings.get('/thrive-web_bg.wasm'), 'gzip', 'the wasm travels gzipped');
    assert.equal(encodings.get('/thrive-web.js'), 'gzip', 'the JS travels gzipped');
    assert.deepEqual(cold.names.filter((n) => n.startsWith('/aayu/') || n.startsWith('/api/models')), [],
      'no part of the assistant is fetched before it is used');

    const warm = await firstScreen(page);
    console.log(`first screen, cold cache: ${cold.requests} requests, ${kib(cold.encoded)} over the wire ` +
      `(${kib(cold.decoded)} unpacked), sign-in form ready at ${cold.interactiveMs.toFixed(0)} ms`);
    console.log(`first screen, warm cache: ${warm.requests} requests, sign-in form ready at ${warm.interactiveMs.toFixed(0)} ms`);
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), [], 'no console errors but the signed-out /api/me');
  } finally {
    await context.close();
  }
});
