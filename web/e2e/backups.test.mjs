// Backups on the dashboard in a real browser against a real panel with
// scheduled backups on: the sudo opens Backups from the sidebar, takes one
// now, downloads it from the list and a fresh one (plain and encrypted),
// and each downloaded file is checked to be the backup format: the
// envelope's magic, then a gzip stream whose first line is the format's
// header. axe-core checks the page.
//
// Run after `make build`: node --test web/e2e/backups.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { axeViolations, signIn, startPanel } from './harness.mjs';

const magic = 'OUTPOST-BACKUP/1';
let h;
let backupDir;

before(async () => {
  backupDir = mkdtempSync(join(tmpdir(), 'outpost-web-backups-'));
  h = await startPanel({ args: ['--backup-dir', backupDir, '--backup-every', '24h', '--backup-keep', '3'] });
  for (const username of ['bk_one', 'bk_two', 'bk_three']) {
    const r = await h.api('POST', '/api/user', { username, proxies: { vless: {} } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
});

after(async () => {
  await h?.stop();
  if (backupDir) {
    rmSync(backupDir, { recursive: true, force: true });
  }
});

/** The downloaded file's bytes, after clicking what starts the download. */
async function downloadBy(page, click) {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), data: readFileSync(path) };
}

/** Checks a plain backup: magic, mode 'z', then gzip'ed JSON lines. */
function checkPlainBackup(data) {
  assert.equal(data.subarray(0, magic.length).toString('latin1'), magic);
  assert.equal(String.fromCharCode(data[magic.length]), 'z');
  const gz = data.subarray(magic.length + 1);
  assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b], 'a gzip stream follows the envelope');
  const lines = gunzipSync(gz).toString('utf8').trimEnd().split('\n');
  const header = JSON.parse(lines[0]);
  assert.equal(header.format, 'outpost-backup');
  assert.equal(header.version, 1);
  assert.equal(header.engine, 'sqlite');
  // The last line is the manifest, counting the three users.
  const manifest = JSON.parse(lines.at(-1)).manifest;
  assert.equal(manifest.tables.find((t) => t.name === 'users').rows, 3);
}

test('a sudo takes, lists and downloads backups on the Backups page', async () => {
  const page = await h.newPage();
  await page.goto(`${h.base}/dashboard/`);
  await signIn(page, { username: 'web_admin', password: 'web-pass-1234' });
  await page.getByRole('link', { name: 'Backups' }).click();
  const schedule = page.getByRole('region', { name: 'Schedule', exact: true });
  await schedule.getByTestId('backup-schedule').waitFor();
  assert.match(await schedule.textContent(), /Not encrypted/);
  // The schedule took its first backup at start (none was there yet).
  const rows = page.locator('tr[data-backup^="outpost-"]');
  await rows.first().waitFor();
  await schedule.getByText('This replica takes the scheduled backups.').waitFor();
  const restore = await page.getByTestId('restore-command').textContent();
  assert.match(restore, /panel restore --from FILE --data-dir \S+/);
  const firstName = await rows.first().getAttribute('data-backup');

  // Back up now: a second file appears, newest first, in the list and
  // in the directory.
  await page.getByRole('button', { name: 'Back up now' }).click();
  await page.locator('tr[data-backup^="outpost-"]:nth-child(2)').waitFor();
  const row = rows.first();
  const name = await row.getAttribute('data-backup');
  assert.match(name, /^outpost-\d{8}T\d{6}Z\.backup$/);
  assert.notEqual(name, firstName);
  await page.getByRole('status').filter({ hasText: `Took ${name}` }).waitFor();

  const scheduled = await downloadBy(page, () => row.getByRole('button', { name: `Download ${name}` }).click());
  assert.equal(scheduled.name, name);
  assert.deepEqual(scheduled.data, readFileSync(join(backupDir, name)));
  checkPlainBackup(scheduled.data);

  // A fresh one, straight from the database.
  const fresh = page.getByRole('form', { name: 'Download a backup' });
  const plain = await downloadBy(page, () => fresh.getByRole('button', { name: 'Download' }).click());
  assert.match(plain.name, /^outpost-\d{8}T\d{6}Z\.backup$/);
  checkPlainBackup(plain.data);

  // With a passphrase: sealed (mode 'e'), no gzip in sight.
  await fresh.getByLabel('Passphrase (optional)').fill('short');
  await fresh.getByText('At least 8 characters').waitFor();
  await fresh.getByLabel('Passphrase (optional)').fill('a browser passphrase');
  const sealed = await downloadBy(page, () => fresh.getByRole('button', { name: 'Download' }).click());
  assert.equal(sealed.data.subarray(0, magic.length).toString('latin1'), magic);
  assert.equal(String.fromCharCode(sealed.data[magic.length]), 'e');

  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);
  await page.close();
});

test('a regular admin has no Backups page and the API refuses it', async () => {
  const r = await h.api('POST', '/api/admin', { username: 'bk_reseller', password: 'bk-pass-1234', is_sudo: false });
  assert.equal(r.status, 200);
  // A context of its own: the first test's sign-in stays in the shared one.
  const context = await h.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${h.base}/dashboard/`);
  await signIn(page, { username: 'bk_reseller', password: 'bk-pass-1234' });
  await page.getByRole('link', { name: 'Users', exact: true }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Backups' }).count(), 0);
  const login = await fetch(`${h.base}/api/admin/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: 'bk_reseller', password: 'bk-pass-1234' }).toString(),
  });
  const token = (await login.json()).access_token;
  for (const [method, path] of [['GET', '/api/system/backups'], ['POST', '/api/system/backup'], ['POST', '/api/system/backups/run']]) {
    const res = await fetch(h.base + path, { method, headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 403, `${method} ${path}`);
  }
  await context.close();
});

test('the Backups page passes axe-core in Persian, right to left', async () => {
  const context = await h.browser.newContext();
  await context.addInitScript((token) => {
    localStorage.setItem('outpost.token', token);
    localStorage.setItem('outpost.language', 'fa');
  }, h.apiToken);
  const page = await context.newPage();
  await page.goto(`${h.base}/dashboard/backups`);
  await page.locator('tr[data-backup^="outpost-"]').first().waitFor();
  await page.getByRole('region', { name: 'زمان‌بندی', exact: true }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);
  await context.close();
});
