// Shared set-up for the browser tests: Debian's Chromium, headless, a fresh profile per test.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const baseUrl = process.env.THRIVE_URL ?? 'https://localhost:8080';
export const demoPassword = process.env.THRIVE_DEMO_PASSWORD;
export const artifacts = process.env.THRIVE_ARTIFACTS ?? join(tmpdir(), 'thrive-e2e');

/** Demo sign-ins printed by `thrive-api provision --seed-demo`: org, role, email, name, assigned. */
export const demoLogins = (process.env.THRIVE_DEMO_LOGINS ?? '')
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const [organization, role, email, name, assigned] = line.split('\t');
    return { organization, role, email, name, assigned: assigned ? assigned.split(', ') : [] };
  });

// The server's certificate comes from the run's local CA: Chromium trusts that one key
// (its SPKI hash), so every other certificate error still fails the page.
const trustKey = process.env.THRIVE_TLS_SPKI ? [`--ignore-certificate-errors-spki-list=${process.env.THRIVE_TLS_SPKI}`] : [];

export async function launch() {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'thrive-chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...trustKey,
    ],
  });
  // A Rust panic's message carries the JS stack: keep enough of it to name the wasm function.
  await context.addInitScript(() => { Error.stackTraceLimit = 60; });
  return context;
}

/** Collects console errors (a CSP refusal shows up there) for the test to assert on. */
export function watchConsole(page) {
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

export async function signIn(page, email, password = demoPassword) {
  await page.goto(baseUrl);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The demo login of `role` in the organisation whose name contains `org` (default: the first). */
export function loginFor(role, org = '') {
  const login = demoLogins.find((l) => l.role === role && l.organization.includes(org));
  if (!login) throw new Error(`no demo login for ${role} ${org} (run through cargo xtask test)`);
  return login;
}

/** Signs in and waits for the signed-in shell. */
export async function signInAs(page, login) {
  await signIn(page, login.email);
  await page.getByTestId('signed-in-as').waitFor();
}

let axeText;
function axeSource() {
  axeText ??= readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
  return axeText;
}

/**
 * Runs axe-core (from e2e/node_modules) on the page and returns the serious and critical
 * violations as readable strings ("rule: target …").
 */
export async function axeViolations(page) {
  const present = await page.evaluate(() => typeof window.axe !== 'undefined');
  // Evaluated through the DevTools protocol: the app's CSP (rightly) refuses an injected
  // inline <script>, which is what addScriptTag would add.
  if (!present) await page.evaluate(axeSource());
  const results = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')} — ${n.failureSummary?.split('\n')[1] ?? v.help}`));
}

/** Saves a full-page screenshot named `name`.png into the artifacts directory. */
export async function screenshot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/**
 * Makes `email`'s sessions count as authenticated more than five minutes ago, as if the person
 * had been working a while: the step-up guards then ask again. Runs psql against the e2e
 * database (THRIVE_E2E_DATABASE_URL, an administrator's connection set by `cargo xtask test`),
 * with the password in the child's environment, never on its command line.
 */
export function ageAuthentication(email) {
  const url = new URL(process.env.THRIVE_E2E_DATABASE_URL ?? '');
  const env = {
    ...process.env,
    PGHOST: url.hostname,
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password),
    PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
  };
  const sql = `update auth.sessions s set authenticated_at = s.authenticated_at - interval '10 minutes'
                 from public.users u where u.id = s.user_id and u.email = :'email'`;
  // psql interpolates :'email' (quoted) only in what it reads, so the statement goes on stdin.
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `email=${email}`], { env, input: sql, stdio: 'pipe' });
}
