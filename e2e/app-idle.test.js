// Must-show 4 (issue 5): the idle timeout warns before it signs out, signs out cleanly, and the
// unsaved draft note is offered back after signing in again; an explicit sign-out removes it
// from the device. The browser's clock is Playwright's fake one, so 30 minutes take no time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, loginFor, signInAs, axeViolations, screenshot, artifacts } from './support.js';

mkdirSync(artifacts, { recursive: true });

// Moves the page's fake clock on by 30 seconds at a time (each jump runs the app's once-a-second
// idle check once) until `locator` is visible; at most `steps` jumps.
async function advanceUntil(page, locator, steps = 60) {
  for (let i = 0; i < steps; i += 1) {
    if (await locator.isVisible()) return;
    await page.clock.fastForward('00:30');
  }
  await locator.waitFor({ timeout: 5000 });
}

const draftKeys = (page) => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('thrive.draft.')));

test('the idle warning, the sign-out, and the draft offered back after signing in', async () => {
  const carer = loginFor('Carer', 'Meadowbank');
  const person = carer.assigned[carer.assigned.length - 1];
  const context = await launch();
  try {
    const page = await context.newPage();
    await page.clock.install();
    await signInAs(page, carer);
    const idle = (await page.evaluate(async () => (await (await fetch('/api/me')).json()).idle_timeout_secs));
    assert.equal(idle, 1800, 'the server ends sessions after 30 idle minutes');

    await page.getByTestId('service-users').getByRole('link', { name: person }).click();
    await page.getByRole('link', { name: 'New care note' }).click();
    const text = `Unsaved: ${person} had a settled night, repositioned at 02:00 and 04:00 ${Date.now()}`;
    await page.getByLabel('Note', { exact: true }).fill(text);

    // 28.5 minutes without activity: the warning, with a way to stay. The page's clock flows
    // with real time too, and an API answer counts as activity when the app has handled it,
    // which on a busy machine can be after the test's next jump. So the test jumps in steps of
    // 30 seconds until what it waits for shows, rather than by one exact amount.
    await page.clock.fastForward('28:10');
    const warning = page.getByRole('alertdialog', { name: 'Are you still there?' });
    await advanceUntil(page, warning);
    assert.match(await warning.textContent(), /signed out in 1:\d\d/);

    // "Stay signed in" resets the clock…
    // (It renews the server session with one request; wait for it, since an answer is activity.)
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/me')),
      warning.getByRole('button', { name: 'Stay signed in' }).click(),
    ]);
    await warning.waitFor({ state: 'detached' });
    await page.clock.fastForward('20:00');
    assert.equal(await warning.count(), 0, 'no warning 20 minutes after staying');

    // …the warning comes back after 28.5 idle minutes; it is checked and photographed now,
    // when running out of time only brings the sign-out that comes next anyway…
    await page.clock.fastForward('08:10');
    await advanceUntil(page, warning);
    assert.deepEqual(await axeViolations(page), [], 'idle warning: no serious or critical axe violations');
    await screenshot(page, 'idle-warning');

    // …and then 30 idle minutes sign out, keeping the draft on this device.
    await advanceUntil(page, page.getByRole('button', { name: 'Sign in' }));
    await page.getByTestId('signed-out-notice').waitFor();
    assert.equal((await draftKeys(page)).length, 1, 'the draft is kept for this user');
    await screenshot(page, 'signed-out-after-idle');
    const me = await page.evaluate(async () => (await fetch('/api/me')).status);
    assert.equal(me, 401, 'the server session is gone too');

    // Signing in again offers the draft back.
    await signInAs(page, carer);
    const offer = page.getByTestId('draft-offer');
    await offer.waitFor();
    assert.match(await offer.textContent(), new RegExp(person));
    await screenshot(page, 'draft-offered-back');
    await offer.getByRole('link', { name: 'Continue the note' }).click();
    await page.getByRole('heading', { name: 'New care note' }).waitFor();
    assert.equal(await page.getByLabel('Note', { exact: true }).inputValue(), text);

    // An explicit sign-out removes it from the device; the next sign-in offers nothing.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(await draftKeys(page), []);
    await signInAs(page, carer);
    await page.getByTestId('service-users').waitFor();
    assert.equal(await page.getByTestId('draft-offer').count(), 0);
  } finally {
    await context.close();
  }
});
