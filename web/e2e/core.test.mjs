// The Core config page in a real browser against a real panel: Check
// refuses a broken config naming the inbound (marked in the editor) and
// saves nothing; Save checks, shows the diff and applies on confirmation;
// History lists the saves, diffs one against the running config and
// restores it. Every step is checked through the REST API, and axe-core
// checks the page with the diff modal and the history open.
//
// Run with `node --test web/e2e/core.test.mjs` after `make build`.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, confirmDialog, setEditor, startPanel } from './harness.mjs';

let h;

before(async () => {
  h = await startPanel();
  await h.context.addInitScript((token) => localStorage.setItem('outpost.token', token), h.apiToken);
});

after(async () => {
  await h?.stop();
});

function assertAxeClean(violations, where) {
  assert.deepEqual(
    violations.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`),
    [],
    `axe-core on ${where}`,
  );
}

test('check names the inbound at fault, save goes through the diff, history restores', async () => {
  const { api, base } = h;
  const page = await h.newPage();
  await page.goto(`${base}/dashboard/core`);
  const card = page.getByRole('region', { name: 'Core config' });
  const editor = card.getByLabel('Xray config (JSON)');
  await editor.waitFor();
  const original = (await api('GET', '/api/core/config')).body;
  assert.ok(original.inbounds.length >= 3);
  const tag = original.inbounds[2].tag;

  // A broken inbound: Check refuses it, names it, marks it in the editor; nothing saved.
  const broken = structuredClone(original);
  broken.inbounds[2].protocol = 'nonsense';
  await setEditor(editor, JSON.stringify(broken, null, 2));
  await card.getByRole('button', { name: 'Check' }).click();
  const alert = card.getByRole('alert');
  await alert.waitFor();
  const said = await alert.innerText();
  assert.ok(said.includes(`Inbound “${tag}” (inbounds[2]) is at fault.`), said);
  assert.match(said, /nonsense/);
  const mark = card.locator('.cm-lintRange-error');
  await mark.first().waitFor();
  assert.equal(await mark.first().innerText(), `"tag": "${tag}"`);
  await alert.getByRole('button', { name: 'Show it in the editor' }).click();
  assert.deepEqual((await api('GET', '/api/core/config')).body, original, 'check saved nothing');
  assert.deepEqual((await api('GET', '/api/core/config/history')).body, [], 'check recorded nothing');
  // Save refuses it as well, before any diff.
  await card.getByRole('button', { name: 'Save' }).click();
  await alert.getByText(`Inbound “${tag}”`, { exact: false }).waitFor();
  assert.equal(await page.getByRole('dialog').count(), 0, 'no diff for a refused config');
  assert.deepEqual((await api('GET', '/api/core/config')).body, original);

  // A valid edit: Check passes, Save shows the diff, confirm applies it.
  const edited = structuredClone(original);
  edited.log = { loglevel: 'debug' };
  await setEditor(editor, JSON.stringify(edited, null, 2));
  await card.getByRole('button', { name: 'Check' }).click();
  await card.getByRole('status').getByText('The config passes the check.', { exact: false }).waitFor();
  assert.deepEqual((await api('GET', '/api/core/config')).body, original, 'check saved nothing');
  await card.getByRole('button', { name: 'Save' }).click();
  const diff = page.getByRole('dialog', { name: 'Review the changes' });
  await diff.waitFor();
  const changes = diff.getByLabel('Changes against the running config');
  await changes.waitFor();
  assert.match(await diff.locator('.cm-changedLine').first().innerText(), /debug/, 'the diff marks the new line');
  assert.match(await diff.locator('.cm-deletedChunk').first().innerText(), /warning/, 'and shows the old one');
  assertAxeClean(await axeViolations(page), 'the save diff');
  await diff.getByRole('button', { name: 'Save and apply' }).click();
  await diff.waitFor({ state: 'detached' });
  await card.getByRole('status').getByText('Saved.', { exact: false }).waitFor();
  assert.deepEqual((await api('GET', '/api/core/config')).body.log, { loglevel: 'debug' });

  // History: the config found before the first save and ours; diff and restore the older.
  await card.getByRole('tab', { name: 'History' }).click();
  await page.waitForURL(/\/dashboard\/core\?tab=history$/);
  const rows = card.locator('tr[data-version]');
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  assert.match(await rows.nth(0).innerText(), /web_admin/);
  assert.match(await rows.nth(1).innerText(), /before the first save/);
  await rows.nth(1).getByRole('button', { name: /^Diff of the config of / }).click();
  const versionDiff = page.getByRole('dialog', { name: /^Config of / });
  await versionDiff.getByLabel('Saved config against the running one').waitFor();
  assert.match(await versionDiff.locator('.cm-changedLine').first().innerText(), /warning/);
  assertAxeClean(await axeViolations(page), 'the history with a version diff');
  await versionDiff.getByRole('button', { name: 'Restore' }).click();
  await confirmDialog(page);
  await card.getByRole('status').getByText('Restored the config of', { exact: false }).waitFor();
  await page.waitForURL(/\/dashboard\/core$/);
  assert.deepEqual((await api('GET', '/api/core/config')).body, original, 'the running config is the old one again');
  // The editor shows it (Save finds nothing to change), and the history recorded the restore.
  await card.getByRole('button', { name: 'Save' }).click();
  await diff.getByText('No changes: this is the running config.').waitFor();
  assert.equal(await diff.getByRole('button', { name: 'Save and apply' }).isDisabled(), true);
  await diff.getByRole('button', { name: 'Cancel' }).click();
  await diff.waitFor({ state: 'detached' });
  const history = (await api('GET', '/api/core/config/history')).body;
  assert.equal(history.length, 3);
  assert.equal(history[0].sha256, history[2].sha256);

  // The history's empty/listed states hold at phone width, and the page stays axe-clean there.
  await page.setViewportSize({ width: 390, height: 844 });
  await card.getByRole('tab', { name: 'History' }).click();
  await rows.nth(2).waitFor();
  assertAxeClean(await axeViolations(page), 'the history at 390 px');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'nothing scrolls sideways at 390 px');
  await page.close();
});
