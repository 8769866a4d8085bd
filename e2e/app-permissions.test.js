// Must-show 2 and 3 (issue 5): the Organisation Ladder editor denies `incidents.view` to the
// Carer role; on their next page load the carer has no Incidents tab, and the API refuses the
// incidents list (403) anyway. Allowing it again brings the tab back. Riverside's ladder is
// used so the Meadowbank journeys are unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, loginFor, signInAs, axeViolations, screenshot, baseUrl, artifacts } from './support.js';

mkdirSync(artifacts, { recursive: true });

/** The carer's record tabs for their first assigned service user, after a fresh load. */
async function recordTabs(page, person) {
  // A real load (a hash change alone would keep the app, and its permissions, in memory).
  await page.goto(`${baseUrl}/#/`);
  await page.reload();
  await page.getByTestId('service-users').getByRole('link', { name: person }).click();
  const tabs = page.getByTestId('record-tabs');
  await tabs.getByRole('link', { name: 'Care notes' }).waitFor();
  return tabs.getByRole('link').allTextContents();
}

async function setCarerPermission(page, key, allow) {
  await page.goto(`${baseUrl}/#/ladder`);
  const box = page.getByRole('checkbox', { name: `Carer may ${key}`, exact: true });
  await box.waitFor();
  assert.equal(await box.isChecked(), !allow, `Carer's ${key} starts as ${allow ? 'deny' : 'allow'}`);
  await box.setChecked(allow);
  // Nothing is saved yet: the summary says what will change.
  const summary = page.getByTestId('ladder-summary');
  await summary.getByText(`Carer: ${key} — ${allow ? 'deny → allow' : 'allow → deny'}`).waitFor();
  assert.match(await summary.getByRole('heading').textContent(), /^1 unsaved change$/);
  return summary;
}

test('the ladder editor denies incidents.view to carers; their screens and the API follow', async () => {
  const admin = loginFor('Administrator', 'Riverside');
  const carer = loginFor('Carer', 'Riverside');
  assert.ok(carer.assigned.length > 0);
  const person = carer.assigned[0];

  const adminContext = await launch();
  const carerContext = await launch();
  try {
    const adminPage = await adminContext.newPage();
    const carerPage = await carerContext.newPage();
    await signInAs(carerPage, carer);
    assert.ok((await recordTabs(carerPage, person)).includes('Incidents'), 'carers see incidents by default');
    // The ladder is not the carer's screen.
    assert.equal(await carerPage.getByRole('link', { name: 'Organisation Ladder' }).count(), 0);

    await signInAs(adminPage, admin);
    const summary = await setCarerPermission(adminPage, 'incidents.view', false);
    assert.deepEqual(await axeViolations(adminPage), [], 'ladder editor: no serious or critical axe violations');
    await screenshot(adminPage, 'ladder-editor-summary');
    await summary.getByRole('button', { name: 'Save changes' }).click();
    await adminPage.getByRole('status').filter({ hasText: 'Saved 1 change' }).waitFor();
    assert.equal(await adminPage.getByRole('checkbox', { name: 'Carer may incidents.view', exact: true }).isChecked(), false);

    // The carer's next load: no Incidents tab, and the API refuses the list regardless.
    const tabs = await recordTabs(carerPage, person);
    assert.ok(!tabs.includes('Incidents'), `no Incidents tab: ${tabs.join(', ')}`);
    assert.ok(tabs.includes('Care notes'));
    await screenshot(carerPage, 'record-without-incidents');
    const url = new URL(carerPage.url());
    const suId = url.hash.split('/')[2];
    const status = await carerPage.evaluate(async (id) => (await fetch(`/api/incidents?service_user_id=${id}`)).status, suId);
    assert.equal(status, 403);
    // Typing the tab's address shows a refusal, not the data.
    await carerPage.goto(`${baseUrl}/#/service-users/${suId}/incidents`);
    await carerPage.getByRole('alert').filter({ hasText: 'does not include this part' }).waitFor();

    // Allowed again: the tab comes back on the next load.
    const again = await setCarerPermission(adminPage, 'incidents.view', true);
    await again.getByRole('button', { name: 'Save changes' }).click();
    await adminPage.getByRole('status').filter({ hasText: 'Saved 1 change' }).waitFor();
    assert.ok((await recordTabs(carerPage, person)).includes('Incidents'));
    const back = await carerPage.evaluate(async (id) => (await fetch(`/api/incidents?service_user_id=${id}`)).status, suId);
    assert.equal(back, 200);
  } finally {
    await adminContext.close();
    await carerContext.close();
  }
});
