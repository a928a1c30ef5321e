// The Audit log page in chromium against bin/panel (see harness.mjs): a
// change made through the API is listed with its actor, the filters live in
// the URL, the drawer shows before and after, the export downloads JSON
// lines, at 1440 and 390 px, axe-clean. Run alone with
//   node --test web/e2e/audit.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, signIn, startPanel } from './harness.mjs';

let h;

before(async () => {
  h = await startPanel();
});

after(async () => {
  await h?.stop();
});

test('Audit log: listed, filtered by URL, before/after in the drawer, exported', async () => {
  const { api, base } = h;
  assert.equal((await api('POST', '/api/user', { username: 'audited_user', proxies: { vless: {} } })).status, 200);
  assert.equal((await api('PUT', '/api/user/audited_user', { note: 'first note' })).status, 200);
  assert.equal((await api('POST', '/api/user', { username: 'other_user', proxies: { vless: {} } })).status, 200);

  const page = await h.newPage();
  await page.goto(`${base}/dashboard/audit?target=/api/user/audited_user`);
  await page.waitForURL(/\/login/);
  await signIn(page);
  await page.waitForURL(/\/dashboard\/audit/);
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  const rows = page.locator('tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 2, 'the target filter from the URL keeps the two entries of audited_user');
  assert.match(await rows.first().innerText(), /PUT \/api\/user\/:username/);
  assert.equal(await page.getByLabel('Target').inputValue(), '/api/user/audited_user');

  // The newest entry's drawer shows the note before and after.
  await rows.first().getByRole('button', { name: /Details of entry/ }).click();
  const drawer = page.getByRole('dialog');
  await drawer.getByText('first note').first().waitFor();
  assert.deepEqual(await axeViolations(page), [], 'axe with the drawer open');
  await page.keyboard.press('Escape');
  await drawer.waitFor({ state: 'hidden' });

  // Filters by the form land in the URL.
  await page.getByLabel('Target').fill('/api/user/other_*');
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.waitForURL(/target=%2Fapi%2Fuser%2Fother_\*/);
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1);

  // Export: a JSON lines file of the filtered entries.
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export JSON lines' }).click();
  const file = await download;
  assert.equal(file.suggestedFilename(), 'outpost-audit.jsonl');
  const text = await (await file.createReadStream()).toArray();
  const lines = Buffer.concat(text).toString('utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).target, '/api/user/other_user');

  assert.deepEqual(await axeViolations(page), [], 'axe on the page');
  await page.setViewportSize({ width: 390, height: 844 });
  assert.deepEqual(await axeViolations(page), [], 'axe at 390 px');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'nothing scrolls sideways at 390 px');
  await page.close();
});

test('Audit log: a node change shows its fields before and after, its token masked', async () => {
  const { api, base } = h;
  const created = await api('POST', '/api/node', { name: 'audit-edge', address: '192.0.2.40' });
  assert.equal(created.status, 200);
  const { id, token } = created.body;
  assert.ok(token, 'the new node has a token');
  assert.equal((await api('PUT', `/api/node/${id}`, { name: 'audit-edge-renamed', address: '192.0.2.41' })).status, 200);

  const page = await h.newPage();
  await page.goto(`${base}/dashboard/audit?target=/api/node/${id}`);
  // Signed in already when the test above ran (one browser context).
  const heading = page.getByRole('heading', { name: 'Audit log' });
  const signInButton = page.getByRole('button', { name: 'Sign in' });
  await heading.or(signInButton).first().waitFor();
  if (await signInButton.isVisible()) {
    await signIn(page);
  }
  await heading.waitFor();
  const rows = page.locator('tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 2, 'created and modified');
  assert.match(await rows.first().innerText(), /PUT \/api\/node\/:id/);

  await rows.first().getByRole('button', { name: /Details of entry/ }).click();
  const drawer = page.getByRole('dialog');
  await drawer.getByText('audit-edge-renamed').first().waitFor();
  await drawer.getByText('192.0.2.40').first().waitFor();
  assert.ok(!(await drawer.innerText()).includes(token), 'the token is not shown');
  await page.keyboard.press('Escape');
  await drawer.waitFor({ state: 'hidden' });

  // The creation: after only, its token hash masked.
  await rows.nth(1).getByRole('button', { name: /Details of entry/ }).click();
  await drawer.getByText('"***"').first().waitFor();
  assert.ok(!(await drawer.innerText()).includes(token), 'the token is not shown');
  assert.deepEqual(await axeViolations(page), [], 'axe with the drawer open');
  await page.close();
});
