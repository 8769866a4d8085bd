// Issue 9, must-show 3 (passkeys, in the browser): with the DevTools virtual authenticator
// (CTAP2, built in, resident keys, user verification), a member adds a passkey from their
// account page, then signs in with the password and the passkey. Passkeys need a relying-party
// id, which cannot be an IP address: the browser uses http://localhost, the server's default
// public address for a loopback listener. The account used (Meadowbank's senior carer) is used
// by no other browser test, since it ends with a second factor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, watchConsole, loginFor, baseUrl, demoPassword, axeViolations, screenshot } from './support.js';

const local = baseUrl.replace('127.0.0.1', 'localhost');

async function accessible(page, name) {
  const found = await axeViolations(page);
  await screenshot(page, name);
  assert.deepEqual(found, [], `${name}: no serious or critical axe violations`);
}

async function passwordStep(page, email) {
  await page.goto(local);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(demoPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('a member adds a passkey on the account page and signs in with it', async () => {
  const senior = loginFor('Senior Carer', 'Meadowbank');
  const context = await launch();
  try {
    const page = await context.newPage();
    const errors = watchConsole(page);
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    await passwordStep(page, senior.email);
    await page.getByTestId('signed-in-as').waitFor();
    await page.getByRole('link', { name: 'Your account' }).click();
    await page.getByTestId('passkeys-none').waitFor();
    await accessible(page, 'screen-account-passkeys');

    await page.getByLabel('Name for a new passkey').fill('Ward laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByTestId('passkeys').getByText('Ward laptop').waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the authenticator holds the new passkey');
    await accessible(page, 'screen-account-passkey-added');

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    // The password alone is not enough now: the second step offers the passkey.
    await passwordStep(page, senior.email);
    await page.getByRole('heading', { name: 'Second step' }).waitFor();
    await accessible(page, 'screen-sign-in-second-step-passkey');
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByTestId('signed-in-as').waitFor();
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(after.credentials[0].signCount >= 1, 'the passkey signed the sign-in');
    // The account page shows it used.
    await page.getByRole('link', { name: 'Your account' }).click();
    await page.getByTestId('passkeys').getByText(/last used/).waitFor();
    assert.deepEqual(errors.filter((e) => !/40[13]/.test(e)), [], 'no console errors');
  } finally {
    await context.close();
  }
});
