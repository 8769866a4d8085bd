// Issue 9, must-show 3 (an export demands step-up, in the browser): a manager who signed in
// more than five minutes ago clicks an export; the app asks them to confirm it is them, and
// once they have, the download carries on by itself. Cancelling gives no download and says
// why. (Five minutes pass in the database: the test ages the session's authentication.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, watchConsole, loginFor, signInAs, demoPassword, ageAuthentication, axeViolations, screenshot } from './support.js';

test('an export asks for a fresh confirmation, then downloads without a second click', async () => {
  const manager = loginFor('Registered Manager', 'Riverside');
  const context = await launch();
  try {
    const page = await context.newPage();
    const errors = watchConsole(page);
    await signInAs(page, manager);
    await page.getByRole('link', { name: 'Exports' }).click();
    const link = page.getByRole('link', { name: 'All data (CSV files, zip)' });
    await link.waitFor();

    ageAuthentication(manager.email);
    // Cancelled: no download, and the page says why.
    await link.click();
    const dialog = page.getByTestId('step-up');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('alert').filter({ hasText: /confirm/i }).first().waitFor();
    assert.equal(await dialog.count(), 0, 'the dialog closed');

    // Confirmed with the password: the download follows.
    await link.click();
    await dialog.waitFor();
    const found = await axeViolations(page);
    await screenshot(page, 'screen-step-up');
    assert.deepEqual(found, [], 'step-up dialog: no serious or critical axe violations');
    await dialog.getByLabel('Password or code').fill(demoPassword);
    const download = page.waitForEvent('download');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    const file = await download;
    assert.match(file.suggestedFilename(), /\.zip$/);
    assert.equal(await dialog.count(), 0, 'the dialog closed');

    // Within the five minutes, another export needs no confirmation.
    const again = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Audit trail (CSV)' }).click();
    assert.match((await again).suggestedFilename(), /\.csv$/);
    assert.deepEqual(errors.filter((e) => !/40[13]/.test(e)), [], 'no console errors');
  } finally {
    await context.close();
  }
});
