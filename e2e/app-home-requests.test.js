// Issue 13 (one request per screen; must-show 4: each home loads with at most two API requests).
// Counted: EVERY /api/ request the page makes after the sign-in's code exchange
// (POST /api/auth/token) until the home's content is on screen and the network is quiet, and
// again after a reload of the signed-in home. At most two: `/api/me` and the home's aggregate,
// which carries the service-users card's list too. The assignments screen is one request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseUrl, launch, loginFor, signInAs } from './support.js';

function watchApi(page) {
  const seen = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) seen.push(`${r.method()} ${u.pathname}`);
  });
  return seen;
}

/** The /api requests after the sign-in finished (the token exchange), and after a reload. */
async function homeRequests(login, ready) {
  const context = await launch();
  try {
    const page = await context.newPage();
    const seen = watchApi(page);
    await signInAs(page, login);
    await ready(page);
    await page.waitForLoadState('networkidle');
    const exchange = seen.indexOf('POST /api/auth/token');
    assert.ok(exchange >= 0, seen.join('\n'));
    const afterSignIn = seen.slice(exchange + 1);
    seen.length = 0;
    await page.reload();
    await ready(page);
    await page.waitForLoadState('networkidle');
    return { afterSignIn, afterReload: [...seen] };
  } finally {
    await context.close();
  }
}

const PER_PERSON = /\/api\/(prescriptions|handovers|observations|care-notes|incidents|care-plans|risk-assessments)\b/;

function atMostTwo(requests, aggregate) {
  const all = requests.join('\n');
  assert.ok(requests.length <= 2, `at most two API requests, saw ${requests.length}:\n${all}`);
  assert.equal(requests.filter((r) => r === `GET ${aggregate}`).length, 1, all);
  assert.ok(!requests.some((r) => PER_PERSON.test(r)), all);
}

test("the carer's home loads with at most two API requests", async () => {
  const { afterSignIn, afterReload } = await homeRequests(loginFor('Carer', 'Meadowbank'), async (p) => {
    await p.getByRole('heading', { name: "Today's tasks" }).waitFor();
    await p.getByTestId('service-users').waitFor();
  });
  atMostTwo(afterSignIn, '/api/home/today');
  atMostTwo(afterReload, '/api/home/today');
});

test("the manager's home loads with at most two API requests", async () => {
  const { afterSignIn, afterReload } = await homeRequests(loginFor('Registered Manager', 'Meadowbank'), async (p) => {
    await p.getByTestId('awaiting-count').waitFor();
    await p.getByTestId('service-users').waitFor();
  });
  atMostTwo(afterSignIn, '/api/home/dashboard');
  atMostTwo(afterReload, '/api/home/dashboard');
});

test('the assignments screen asks for its rows in one request, not one per service user', async () => {
  const context = await launch();
  try {
    const page = await context.newPage();
    await signInAs(page, loginFor('Registered Manager', 'Meadowbank'));
    await page.waitForLoadState('networkidle');
    const seen = watchApi(page);
    await page.goto(`${baseUrl}/#/staff`);
    await page.getByTestId('assignments').locator('tbody tr').first().waitFor();
    await page.waitForLoadState('networkidle');
    const all = seen.join('\n');
    assert.equal(seen.filter((r) => r === 'GET /api/assignments').length, 1, all);
    assert.ok(!seen.some((r) => /\/api\/service-users\/[^/]+\/assignments/.test(r)), all);
  } finally {
    await context.close();
  }
});
