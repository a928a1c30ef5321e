// Who is online from where, and the IP limit (issue 14, item 3), in a real
// browser against a real panel: the sudo sets the IP limit on the Settings
// page, gives a template an ip_limit, and reads a user's addresses (with
// the node that saw each) and its limit on the user's page. axe-core
// checks both pages.
//
// The addresses are written into the panel's SQLite database as a node's
// usage batch would leave them (user_ips): a browser test has no Xray
// client to connect from several addresses; backend/e2e/online_test.go
// covers that path with a real node and real clients.
//
// Run after `make build`: node --test web/e2e/online.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { admin, axeViolations, signIn, startPanel } from './harness.mjs';

let h;

before(async () => {
  h = await startPanel();
});

after(async () => {
  await h?.stop();
});

test('the sudo sets the IP limit; a template carries ip_limit', async () => {
  const page = await h.newPage();
  await page.goto(`${h.base}/dashboard/settings`);
  await signIn(page, admin);
  const form = page.getByRole('form', { name: 'IP limit' });
  await form.waitFor();
  await form.getByLabel('Default limit for users without their own (0: unlimited)').fill('3');
  await form.getByLabel('Grace window (seconds)').fill('5');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByText('A whole number of seconds from 10 to 86400.').waitFor();
  await form.getByLabel('Grace window (seconds)').fill('90');
  await form.getByLabel('Action').selectOption('disable');
  await form.getByLabel('Disabled for (minutes)').fill('15');
  await form.getByRole('button', { name: 'Save' }).click();
  await h.waitFor('the settings saved', async () => (await h.api('GET', '/api/users/ip_limit')).body.action === 'disable');
  assert.deepEqual((await h.api('GET', '/api/users/ip_limit')).body, { default_ip_limit: 3, grace_seconds: 90, action: 'disable', disable_minutes: 15 });
  assert.deepEqual(await axeViolations(page), []);

  await page.goto(`${h.base}/dashboard/templates`);
  await page.getByText('No templates yet.').waitFor();
  const tpl = page.getByRole('form', { name: 'New template' });
  // Clicked again only while no form is open: a second click on the
  // button under the opening modal's overlay waits for it (Playwright's
  // actionability) past this wait's deadline, which failed the test.
  await h.waitFor('the template form', async () => {
    if (await tpl.isVisible()) return true;
    await page
      .getByRole('button', { name: 'New template' })
      .click({ timeout: 2000 })
      .catch(() => {});
    return tpl.isVisible();
  });
  await tpl.getByRole('textbox', { name: 'Name', exact: true }).fill('two_devices');
  await tpl.getByLabel('Addresses at once (empty: the default, 0: unlimited)').fill('2');
  await tpl.getByRole('button', { name: 'Create' }).click();
  await tpl.waitFor({ state: 'detached' });
  const list = (await h.api('GET', '/api/user_template')).body;
  assert.equal(list.find((x) => x.name === 'two_devices')?.ip_limit, 2);
  await page.close();
});

test("the user's page lists its addresses with the node, and its IP limit", async () => {
  const node = await h.api('POST', '/api/node', { name: 'edge_ips', address: '192.0.2.9' });
  assert.equal(node.status, 200, JSON.stringify(node.body));
  const created = await h.api('POST', '/api/user', { username: 'sharer_web', proxies: { vless: {} }, ip_limit: 1 });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.equal(created.body.ip_limit, 1);
  assert.equal((await h.api('PUT', '/api/user/sharer_web', { ip_limit: 65 })).status, 422, 'a limit past 64 is refused');

  const now = Math.floor(Date.now() / 1000);
  const sql = `INSERT INTO user_ips (user_id, ip, node_id, first_seen, last_seen)
    SELECT u.id, a.ip, ${String(node.body.id)}, ${String(now - 120)}, ${String(now)} - a.ago
    FROM users u, (SELECT '203.0.113.7' AS ip, 30 AS ago UNION ALL SELECT '2001:db8::5', 5) a
    WHERE u.username = 'sharer_web';`;
  execFileSync('sqlite3', ['-cmd', '.timeout 5000', join(h.dir, 'outpost.db'), sql]);
  const ips = (await h.api('GET', '/api/user/sharer_web/ips')).body;
  assert.deepEqual(ips.ips.map((x) => [x.ip, x.node]), [['2001:db8::5', 'edge_ips'], ['203.0.113.7', 'edge_ips']]);

  const page = await h.newPage();
  // Signed in by the first test (the browser context keeps the session).
  await page.goto(`${h.base}/dashboard/users/sharer_web`);
  const card = page.getByRole('region', { name: 'Addresses (last 24 hours)' });
  await card.locator('tr[data-ip="203.0.113.7"]').waitFor();
  assert.equal(await card.locator('tbody tr').count(), 2);
  assert.match(await card.locator('tr[data-ip="2001:db8::5"]').innerText(), /edge_ips/);
  await page.getByText('Addresses at once').first().waitFor();
  assert.deepEqual(await axeViolations(page), []);

  // Back on the default: an explicit null.
  assert.equal((await h.api('PUT', '/api/user/sharer_web', { ip_limit: null })).body.ip_limit, null);
  await page.close();
});
