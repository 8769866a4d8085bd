// Must-show 8: in headless Chromium, a demo carer signs in, sees exactly the service users
// assigned to them, and signs out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, watchConsole, signIn, demoLogins, demoPassword, baseUrl, artifacts } from './support.js';

mkdirSync(artifacts, { recursive: true });

test('a demo carer sees exactly their assigned service users, then signs out', async () => {
  assert.ok(demoPassword, 'THRIVE_DEMO_PASSWORD is set (run through cargo xtask test)');
  const carer = demoLogins.find((l) => l.role === 'Carer' && l.assigned.length > 0);
  assert.ok(carer, 'the demo seed has a carer with assignments');
  const context = await launch();
  try {
    const page = await context.newPage();
    const errors = watchConsole(page);
    await signIn(page, carer.email);

    const table = page.getByTestId('service-users');
    await table.waitFor();
    const names = (await table.locator('.su-name').allTextContents()).sort();
    assert.deepEqual(names, [...carer.assigned].sort());
    assert.match(await page.getByTestId('signed-in-as').textContent(), new RegExp(carer.name));
    await page.screenshot({ path: join(artifacts, 'my-service-users.png'), fullPage: true });

    // The session cookie is not readable by scripts.
    assert.equal(await page.evaluate(() => document.cookie), '');

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    // The session is gone server-side too: a reload stays signed out.
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/me')).status);
    assert.equal(me, 401);
    await page.screenshot({ path: join(artifacts, 'sign-in.png') });
    assert.deepEqual(errors.filter((e) => !e.includes('401')), [], 'no console errors (CSP refusals would show here)');
  } finally {
    await context.close();
  }
});

test('a wrong password shows the generic message and no session', async () => {
  const carer = demoLogins.find((l) => l.role === 'Carer');
  const context = await launch();
  try {
    const page = await context.newPage();
    await signIn(page, carer.email, 'Not-The-Password-1!');
    await page.getByRole('alert').filter({ hasText: 'did not work' }).waitFor();
    assert.equal(await page.getByTestId('service-users').count(), 0);
  } finally {
    await context.close();
  }
});

test('the SPA is served over HTTPS with the security headers, HSTS included', async () => {
  assert.ok(baseUrl.startsWith('https://'), `the browser tests run over https, not ${baseUrl}`);
  const res = await fetch(baseUrl + '/');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains');
  assert.match(res.headers.get('content-security-policy'), /script-src 'self' 'wasm-unsafe-eval'/);
  assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
});
