// Issue 9, must-show 3 (the TOTP part, in the browser): a member sets up an authenticator app
// from their account page (the secret shown once, a code confirms it, ten recovery codes shown
// once), then signs in with the second step — a wrong code refused, a recovery code accepted.
// Every new screen goes through axe-core. The account used (Riverside's senior carer) is used
// by no other browser test, since it ends with a second factor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { launch, watchConsole, loginFor, signIn, signInAs, axeViolations, screenshot } from './support.js';

/** RFC 6238 (SHA-1, 6 digits, 30 s) from a base32 secret, as an authenticator app does. */
function totp(base32, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

async function accessible(page, name) {
  const found = await axeViolations(page);
  await screenshot(page, name);
  assert.deepEqual(found, [], `${name}: no serious or critical axe violations`);
}

test('a member sets up TOTP, sees recovery codes once, and signs in with the second step', async () => {
  const senior = loginFor('Senior Carer', 'Riverside');
  const context = await launch();
  try {
    const page = await context.newPage();
    const errors = watchConsole(page);
    await signInAs(page, senior);
    await page.getByRole('link', { name: 'Your account' }).click();
    await page.getByTestId('mfa-off').waitFor();
    await accessible(page, 'screen-account');

    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent()).trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await accessible(page, 'screen-account-totp-setup');
    await page.getByLabel('Code from the app').fill(totp(secret));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByTestId('recovery-codes').waitFor();
    const codes = await page.getByTestId('recovery-codes').getByRole('listitem').allTextContents();
    assert.equal(codes.length, 10);
    await page.getByTestId('mfa-on').waitFor();
    await accessible(page, 'screen-account-recovery-codes');

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    // The password alone is not enough now.
    await signIn(page, senior.email);
    await page.getByRole('heading', { name: 'Second step' }).waitFor();
    await accessible(page, 'screen-sign-in-second-step');
    await page.getByLabel('Code').fill('000000');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').filter({ hasText: /did not work/ }).waitFor();
    // A recovery code signs in.
    await signIn(page, senior.email);
    await page.getByRole('heading', { name: 'Second step' }).waitFor();
    await page.getByLabel('Code').fill(codes[0]);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByTestId('signed-in-as').waitFor();
    assert.deepEqual(errors.filter((e) => !/40[13]/.test(e)), [], 'no console errors');
  } finally {
    await context.close();
  }
});
