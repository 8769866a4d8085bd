// Issue 9, finding 1's right way in, in the browser: a person who already has a Thrive account
// opens an invitation from another organisation, chooses "Sign in to join", signs in as usual
// (PKCE; no password goes to an invitation route) and lands in the new organisation.
// Riverside's second carer is used by no other browser test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, demoLogins, loginFor, signIn, signInAs, baseUrl } from './support.js';

test('an existing account joins another organisation by signing in from the invitation', async () => {
  const admin = loginFor('Administrator', 'Meadowbank');
  const person = demoLogins.filter((l) => l.role === 'Carer' && l.organization.includes('Riverside'))[1];
  assert.ok(person, 'a second Riverside carer');
  const context = await launch();
  try {
    const page = await context.newPage();
    await signInAs(page, admin);
    const token = await page.evaluate(async (email) => {
      const roles = await (await fetch('/api/roles')).json();
      const carer = roles.find((r) => r.name === 'Carer');
      const resp = await fetch('/api/staff/invitations', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-requested-with': 'thrive' },
        body: JSON.stringify({ email, display_name: 'Joining Carer', role_id: carer.id }),
      });
      return (await resp.json()).token;
    }, person.email);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();

    await page.goto(`${baseUrl}/#/invitation/${token}`);
    await page.getByTestId('invitation-info').waitFor();
    await page.getByRole('button', { name: 'Sign in to join' }).click();
    await page.getByTestId('joining-notice').waitFor();
    await signIn(page, person.email);
    await page.getByTestId('signed-in-as').waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/me')).json());
    assert.match(me.organization_name, /Meadowbank/, 'signed in to the organisation that invited them');
    assert.equal(me.role_name, 'Carer');
  } finally {
    await context.close();
  }
});
