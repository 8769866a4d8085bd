// Must-show 5 and 6 (issue 5): every main screen, as the administrator and as a carer, at
// 1280×800 and on a 768-wide tablet: axe-core finds no serious or critical violation, and a
// screenshot of each is saved for review. Also: the navigation shows only what a role allows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, watchConsole, loginFor, signInAs, axeViolations, screenshot, baseUrl, artifacts, ageAuthentication } from './support.js';

mkdirSync(artifacts, { recursive: true });

const SCREENS = [
  ['Home', 'home', (p) => p.getByRole('heading', { level: 1, name: /^Hello/ })],
  ['Service users', 'service-users', (p) => p.getByTestId('service-users')],
  ['Review queue', 'review-queue', (p) => p.getByRole('heading', { level: 1, name: 'Review queue' })],
  ['Audit log', 'audit-log', (p) => p.getByTestId('audit-entries').getByRole('row').nth(1)],
  ['Organisation Ladder', 'ladder', (p) => p.getByRole('checkbox', { name: 'Carer may care_notes.view', exact: true })],
  ['Staff', 'staff', (p) => p.getByTestId('assignments')],
  ['Organisation', 'organisation', (p) => p.getByLabel('Organisation name')],
  ['Exports', 'exports', (p) => p.getByRole('link', { name: /All data/ }).first()],
  ['Aayu model', 'model-manager', (p) => p.getByTestId('models')],
];

const TABS = ['Profile', 'Care notes', 'Care plans', 'Risk assessments', 'Incidents', 'Body map', 'Observations', 'Handovers', 'Medication'];

async function check(page, name, problems) {
  const found = await axeViolations(page);
  if (found.length) problems.push(`${name}: ${found.join('; ')}`);
  await screenshot(page, name);
}

test('every screen passes axe-core (no serious or critical violations) and is photographed', async () => {
  const admin = loginFor('Administrator', 'Meadowbank');
  const context = await launch();
  const problems = [];
  try {
    const page = await context.newPage();
    const errors = watchConsole(page);
    await page.goto(baseUrl);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await check(page, 'screen-sign-in', problems);
    await signInAs(page, admin);
    const nav = page.getByRole('navigation', { name: 'Main' });

    for (const width of [1280, 768]) {
      await page.setViewportSize({ width, height: 800 });
      for (const [link, name, ready] of SCREENS) {
        await nav.getByRole('link', { name: link, exact: true }).click();
        await ready(page).waitFor();
        await check(page, `screen-${name}-${width}`, problems);
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });

    // The record: one screen per tab, and the note editor.
    await nav.getByRole('link', { name: 'Service users', exact: true }).click();
    await page.getByTestId('service-users').locator('.su-name a').first().click();
    const tabs = page.getByTestId('record-tabs');
    await tabs.getByRole('link', { name: 'Care notes' }).waitFor();
    assert.deepEqual(await tabs.getByRole('link').allTextContents(), TABS, 'the administrator sees every tool');
    for (const tab of TABS) {
      await tabs.getByRole('link', { name: tab, exact: true }).click();
      await page.getByRole('heading', { level: 2, name: tab === 'Body map' ? 'Body map' : tab }).waitFor();
      await page.locator('.tab-panel').getByText('Loading…').waitFor({ state: 'detached' });
      await check(page, `screen-record-${tab.toLowerCase().replace(/ /g, '-')}`, problems);
    }
    // The incident form's validation messages are the domain's.
    await tabs.getByRole('link', { name: 'Incidents', exact: true }).click();
    await page.getByRole('button', { name: 'Report an incident' }).click();
    await page.getByRole('button', { name: 'Save report' }).click();
    await page.locator('#inc-location-error').filter({ hasText: 'This is required.' }).waitFor();
    await check(page, 'screen-incident-form', problems);

    await tabs.getByRole('link', { name: 'Care notes' }).click();
    await page.getByRole('link', { name: 'New care note' }).click();
    await page.getByTestId('aayu-panel').waitFor();
    await page.setViewportSize({ width: 768, height: 1024 });
    await check(page, 'screen-note-editor-768', problems);
    await page.setViewportSize({ width: 1280, height: 800 });
    await check(page, 'screen-note-editor', problems);

    // The account screens (issue 9): the account page with its second factors and passkeys,
    // the authenticator app's set-up, and the step-up dialog.
    await page.getByRole('link', { name: 'Your account' }).click();
    await page.getByTestId('mfa-off').waitFor();
    await page.getByTestId('passkeys-none').waitFor();
    await check(page, 'screen-account', problems);
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await page.getByTestId('totp-secret').waitFor();
    await check(page, 'screen-account-totp-setup', problems);
    ageAuthentication(admin.email);
    await nav.getByRole('link', { name: 'Exports', exact: true }).click();
    await page.getByRole('link', { name: /All data/ }).first().click();
    await page.getByTestId('step-up').waitFor();
    await check(page, 'screen-step-up', problems);
    await page.getByTestId('step-up').getByRole('button', { name: 'Cancel' }).click();

    // The invitation page, for someone new (signed out) and for someone signed in.
    const token = await page.evaluate(async () => {
      const roles = await (await fetch('/api/roles')).json();
      const carer = roles.find((r) => r.name === 'Carer');
      const resp = await fetch('/api/staff/invitations', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-requested-with': 'thrive' },
        body: JSON.stringify({ email: 'axe.invitee@meadowbank.example', display_name: 'Axe Invitee', role_id: carer.id }),
      });
      return (await resp.json()).token;
    });
    await page.goto(`${baseUrl}/#/invitation/${token}`);
    await page.getByTestId('invitation-info').waitFor();
    await check(page, 'screen-invitation-signed-in', problems);
    await page.goto(baseUrl);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.goto(`${baseUrl}/#/invitation/${token}`);
    await page.getByTestId('invitation-info').waitFor();
    await page.getByRole('button', { name: 'Sign in to join' }).waitFor();
    await check(page, 'screen-invitation', problems);

    assert.deepEqual(problems, [], 'no serious or critical axe violations');
    assert.deepEqual(errors.filter((e) => !/40[134]/.test(e)), [], 'no console errors');
  } finally {
    await context.close();
  }
});

test("a carer's navigation shows only what the Carer role allows", async () => {
  const carer = loginFor('Carer', 'Meadowbank');
  const context = await launch();
  try {
    const page = await context.newPage();
    await signInAs(page, carer);
    const links = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    assert.deepEqual(links, ['Home', 'Service users', 'Aayu model']);
    await page.getByTestId('service-users').waitFor();
    const problems = [];
    await check(page, 'screen-carer-home', problems);
    // A manager-only address typed by hand shows the API's refusal, not data.
    await page.goto(`${baseUrl}/#/audit`);
    await page.getByRole('alert').filter({ hasText: 'permission' }).waitFor();
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
