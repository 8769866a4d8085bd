// Shared set-up for the browser tests: Debian's Chromium, headless, a fresh profile per test.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const baseUrl = process.env.THRIVE_URL ?? 'http://127.0.0.1:8080';
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

export async function launch() {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'thrive-chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
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
