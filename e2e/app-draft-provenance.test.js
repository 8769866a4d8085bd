// Issue 12, must-shows 2 and 3: a carer drafts a note with Aayu; the tiny test model that only
// writes numbers invents one, the fact check highlights it with its reason before Accept, the
// carer accepts anyway, and the audit viewer shows the contribution's provenance (task, model
// and its sha256, engine, what was flagged). On the way, the prompt the SPA sent to the worker is
// compared with what `aayu-bench prompt --json` builds for the same points and context: the
// same builder, the same messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, watchConsole, loginFor, signInAs, axeViolations, screenshot, artifacts } from './support.js';

mkdirSync(artifacts, { recursive: true });

const MODEL = 'tiny-numbers.gguf';
// `cargo xtask test` built it to write the tiny models.
const bench = process.env.THRIVE_AAYU_BENCH ?? new URL('../target/debug/aayu-bench', import.meta.url).pathname;

test('the fact check flags an invented number before Accept, and the audit viewer shows the provenance', async () => {
  const carer = loginFor('Carer', 'Meadowbank');
  const manager = loginFor('Registered Manager', 'Meadowbank');
  const person = carer.assigned[0];
  const points = 'found on floor by bed, no injury seen, helped up, nurse told';
  const occurred = '2026-12-02T14:30';

  const context = await launch();
  try {
    // Record every generate message the page posts to Aayu's worker.
    await context.addInitScript(() => {
      window.__aayuGenerate = [];
      const post = Worker.prototype.postMessage;
      Worker.prototype.postMessage = function (message, ...rest) {
        if (message?.type === 'generate') window.__aayuGenerate.push(JSON.parse(JSON.stringify(message)));
        return post.call(this, message, ...rest);
      };
    });
    const page = await context.newPage();
    const errors = watchConsole(page);
    await signInAs(page, carer);
    await page.getByTestId('service-users').getByRole('link', { name: person }).click();
    await page.getByRole('heading', { level: 1, name: person }).waitFor();
    const serviceUserId = page.url().match(/service-users\/([0-9a-f-]{36})/)?.[1];
    assert.ok(serviceUserId, `the record's address names the service user: ${page.url()}`);
    await page.getByRole('link', { name: 'New care note' }).click();
    await page.getByRole('heading', { name: 'New care note' }).waitFor();
    await page.getByLabel('Category').selectOption('mobility');
    await page.getByLabel('When it happened').fill(occurred);
    await page.getByLabel('Note', { exact: true }).fill(points);

    const panel = page.getByTestId('aayu-panel');
    await panel.getByLabel('Model').selectOption(MODEL);
    await panel.getByTestId('model-offer').filter({ hasText: MODEL }).waitFor();
    await panel.getByRole('button', { name: /^Download Aayu \(/ }).click();
    const draft = panel.getByRole('button', { name: 'Draft from my points' });
    await draft.waitFor({ timeout: 60_000 });
    await draft.click();

    const output = panel.getByTestId('aayu-output');
    await output.filter({ hasText: /\d/ }).waitFor({ timeout: 120_000 });
    const stop = panel.getByRole('button', { name: 'Stop' });
    if (await stop.isVisible()) await stop.click({ timeout: 3_000 }).catch(() => {});
    await panel.locator('output[data-stop-reason]').waitFor({ timeout: 120_000 });

    // The invented number is highlighted in the preview, with its reason beside it.
    const flag = output.getByTestId('fact-flag').first();
    await flag.waitFor();
    const invented = (await flag.textContent()).trim();
    assert.match(invented, /^\d+$/, 'the flagged span is the invented number');
    assert.ok(!points.includes(invented));
    assert.match(await flag.getAttribute('title'), /is not in your points or the record/);
    const checkList = panel.getByTestId('fact-check');
    assert.match(await checkList.textContent(), /Check before accepting/);
    assert.match(await checkList.textContent(), /is not in your points or the record/);
    await screenshot(page, 'note-editor-fact-check');
    assert.deepEqual(await axeViolations(page), [], 'no serious or critical axe violations with the fact check shown');

    // The prompt the SPA sent is the one `aayu-bench prompt` builds from the same facts.
    const sent = await page.evaluate(() => window.__aayuGenerate.at(-1));
    assert.ok(sent, 'a generate message went to the worker');
    const facts = await page.evaluate(async (id) => {
      const get = async (path) => (await fetch(path)).json();
      const su = await get(`/api/service-users/${id}`);
      const me = await get('/api/me');
      const d = new Date();
      const pad = (n) => String(n).padStart(2, '0');
      return {
        person: su.preferred_name?.trim() ? su.preferred_name : su.given_name,
        author_name: me.display_name,
        author_role: me.role_name,
        today: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
      };
    }, serviceUserId);
    const dir = mkdtempSync(join(tmpdir(), 'thrive-prompt-'));
    const contextFile = join(dir, 'context.json');
    writeFileSync(contextFile, JSON.stringify({ ...facts, category: 'mobility', occurred_at: occurred }));
    assert.ok(existsSync(bench), `aayu-bench is built (${bench})`);
    const native = JSON.parse(execFileSync(bench, ['prompt', '--task', 'draft', '--points', points, '--context', contextFile, '--json'], { encoding: 'utf8' }));
    assert.deepEqual(sent.messages, native.messages, 'the SPA and aayu-bench build the same messages');
    assert.deepEqual(sent.options.shaping, {
      stop_sequences: native.shaping.stop,
      forbid_markdown: native.shaping.forbid_markdown,
      forbid_brackets: native.shaping.forbid_brackets,
    });
    assert.equal(sent.options.max_new_tokens, native.shaping.max_new_tokens);
    assert.ok(sent.messages.at(-1).content.includes(`Person: ${facts.person}`));

    // Accept stays the clinician's choice: the text goes in as it is, the note records the flag.
    const suggestion = (await output.textContent()).trim();
    await panel.getByRole('button', { name: 'Accept' }).click();
    assert.equal(await page.getByLabel('Note', { exact: true }).inputValue(), suggestion);
    await page.getByTestId('ai-assistance').filter({ hasText: 'Drafted with Aayu' }).waitFor();
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.getByRole('status').filter({ hasText: 'Draft saved' }).waitFor();

    const sha256 = await page.evaluate(async (name) => (await (await fetch('/api/models/manifest.json')).json()).models.find((m) => m.name === name).sha256, MODEL);
    assert.match(sha256, /^[0-9a-f]{64}$/);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();

    // The manager's audit viewer shows the contribution with its provenance.
    await signInAs(page, manager);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Service user').selectOption({ label: person });
    await page.getByLabel('Tool').selectOption({ label: 'Care notes' });
    await page.getByRole('button', { name: 'Show entries' }).click();
    const provenance = page.getByTestId('audit-entries').getByTestId('provenance').filter({ hasText: invented.slice(0, 20) }).first();
    await provenance.waitFor();
    const text = await provenance.textContent();
    assert.match(text, new RegExp(`Aayu draft: model ${MODEL.replace('.', '\\.')} \\(sha256 ${sha256}\\), engine aayu-wasm \\d+\\.\\d+\\.\\d+`));
    assert.match(text, /flagged: "\d+" \(The number \d+ is not in your points or the record\.\)/);
    await screenshot(page, 'audit-log-provenance');
    assert.deepEqual(await axeViolations(page), [], 'no serious or critical axe violations on the audit log');

    assert.deepEqual(errors.filter((e) => !/40[13]/.test(e)), [], 'no console errors');
  } finally {
    await context.close();
  }
});
