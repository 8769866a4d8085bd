// Issue 13 item 3 (one request per screen): after sign-in, each home page asks the API for its
// content in one aggregate request, not one list per service user or five capped list pages.
// Counted: every /api/ request from the sign-in page until the home's content is on screen and
// the network is quiet; checked: exactly one aggregate and no per-person or capped list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, loginFor, signInAs } from './support.js';

async function homeRequests(login, ready) {
  const context = await launch();
  try {
    const page = await context.newPage();
    const seen = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/')) seen.push(`${r.method()} ${u.pathname}`);
    });
    await signInAs(page, login);
    await ready(page);
    await page.waitForLoadState('networkidle');
    return seen;
  } finally {
    await context.close();
  }
}

const PER_PERSON = /\/api\/(prescriptions|handovers|observations|care-notes|incidents|care-plans|risk-assessments)\b/;

test("the carer's home asks for today's tasks in one request", async () => {
  const seen = await homeRequests(loginFor('Carer', 'Meadowbank'), (p) =>
    p.getByRole('heading', { name: "Today's tasks" }).waitFor());
  assert.equal(seen.filter((r) => r === 'GET /api/home/today').length, 1, seen.join('\n'));
  assert.ok(!seen.some((r) => PER_PERSON.test(r)), seen.join('\n'));
});

test("the manager's home asks for its dashboard in one request", async () => {
  const seen = await homeRequests(loginFor('Registered Manager', 'Meadowbank'), (p) =>
    p.getByTestId('awaiting-count').waitFor());
  assert.equal(seen.filter((r) => r === 'GET /api/home/dashboard').length, 1, seen.join('\n'));
  assert.ok(!seen.some((r) => PER_PERSON.test(r)), seen.join('\n'));
});
