// The dashboard in a real browser (Debian's chromium driven by
// playwright-core) against a real panel process (bin/panel, SQLite in a
// temporary directory) and a real node (bin/node): an admin signs in,
// creates users, finds them by search and status, edits, resets, revokes
// and deletes them one by one and in bulk, copies a link and scans its QR
// code back, manages nodes, hosts, the core config, templates and admins,
// switches to Persian and signs out; every step is checked against the
// REST API too. axe-core checks every page in English and Persian, and
// the last test writes the screenshots in docs/screenshots/.
//
// Run by `make test` (target browsercheck) after `make build`. PANEL_BIN,
// NODE_BIN and CHROMIUM override the binaries' paths; SCREENSHOTS=1 also
// writes the screenshots (every page, light and dark, English and Persian,
// desktop and phone).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsQR from 'jsqr';
import { renderTypes, schemaFile } from '../scripts/openapi-types.mjs';
import {
  admin,
  axeViolations,
  confirmDialog,
  freePort,
  nodeBin,
  panelBin,
  root,
  setEditor,
  signIn,
  spawnTied,
  startPanel,
  waitFor as waitForLog,
} from './harness.mjs';

// The panel, chromium and the steps every file shares live in harness.mjs.
let base;
let browser;
let context; // one browser profile: the dashboard keeps its sign-in across pages
let apiToken;
let api;
let h;

function waitFor(what, check, ms) {
  return waitForLog(what, check, ms, () => h?.log() ?? '');
}

async function newPage() {
  return context.newPage();
}

before(async () => {
  h = await startPanel();
  ({ base, browser, context, apiToken, api } = h);
});

after(async () => {
  await h?.stop();
});

test('an admin manages users from the dashboard', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/users?status=active`);
  // Not signed in: the sign-in page, and back to the deep link after it.
  await page.waitForURL(/\/dashboard\/login\?next=/);
  await signIn(page);
  await page.waitForURL(`${base}/dashboard/users?status=active`);
  const nav = page.getByRole('navigation', { name: 'Pages' });
  await nav.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('region', { name: 'Overview' }).waitFor();
  await nav.getByRole('link', { name: 'Users' }).click();
  await page.waitForURL(`${base}/dashboard/users`);
  const users = page.getByRole('region', { name: 'Users' });
  await users.getByText('No users yet.').waitFor();

  // Create users through the form in the drawer.
  for (const [name, limit, note, reset, onHoldDays] of [
    ['alice_web', '5', 'vip customer', 'month', ''],
    ['bob_web', '', '', 'no_reset', ''],
    ['carol_web', '20', '', 'no_reset', '30'],
  ]) {
    await users.getByRole('button', { name: 'New user' }).click();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('Username').fill(name);
    await form.getByRole('checkbox', { name: 'trojan', exact: true }).check();
    await form.getByLabel('Data limit (GiB, empty: unlimited)').fill(limit);
    await form.getByLabel('Usage resets').selectOption(reset);
    await form.getByLabel('Or: days from the first connection').fill(onHoldDays);
    await form.getByLabel('Note').fill(note);
    await form.getByRole('button', { name: 'Create' }).click();
    await users.getByRole('status').getByText(`Created ${name}.`).waitFor();
  }
  const carol = (await api('GET', '/api/user/carol_web')).body;
  assert.equal(carol.status, 'on_hold');
  assert.equal(carol.on_hold_expire_duration, 30 * 86400);
  assert.match(await users.locator('tr[data-username="carol_web"]').innerText(), /on hold/i);
  assert.equal((await api('DELETE', '/api/user/carol_web')).status, 200);
  const alice = await api('GET', '/api/user/alice_web');
  assert.equal(alice.status, 200);
  assert.equal(alice.body.data_limit, 5 * 1024 ** 3);
  assert.deepEqual(Object.keys(alice.body.proxies).sort(), ['trojan', 'vless']);
  assert.equal(alice.body.note, 'vip customer');
  assert.equal(alice.body.data_limit_reset_strategy, 'month');
  assert.ok(!(await api('GET', '/api/user/bob_web')).body.data_limit, 'bob is unlimited');

  // A bad username: the panel's message, nothing created.
  await users.getByRole('button', { name: 'New user' }).click();
  const bad = page.getByRole('form', { name: 'New user' });
  await bad.getByLabel('Username').fill('no spaces here');
  await bad.getByRole('button', { name: 'Create' }).click();
  await bad.getByRole('alert').waitFor();
  assert.match(await bad.getByRole('alert').innerText(), /username/i);
  await bad.getByRole('button', { name: 'Cancel' }).click();
  await bad.waitFor({ state: 'detached' });
  assert.equal((await api('GET', '/api/users')).body.total, 2);

  // Search finds by note, and the URL holds it; the row shows usage against the limit.
  await users.getByLabel('Search users').fill('vip');
  await users.getByRole('button', { name: 'Search' }).click();
  await users.locator('tr[data-username="bob_web"]').waitFor({ state: 'detached' });
  assert.match(page.url(), /[?&]search=vip/);
  await page.reload();
  await users.locator('tr[data-username="alice_web"]').waitFor();
  assert.equal(await users.locator('tr[data-username="bob_web"]').count(), 0, 'the search survives a reload');
  assert.equal(await users.getByLabel('Search users').inputValue(), 'vip');
  const aliceRow = users.locator('tr[data-username="alice_web"]');
  assert.match(await aliceRow.innerText(), /0 B \/ 5\.0 GiB/);
  await users.getByLabel('Search users').fill('');
  await users.getByRole('button', { name: 'Search' }).click();
  await users.locator('tr[data-username="bob_web"]').waitFor();

  // Disable bob; the status filter then shows only him.
  await users.locator('tr[data-username="bob_web"]').getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByRole('form', { name: 'Edit bob_web' });
  await edit.getByLabel('Disabled').check();
  await edit.getByLabel('Expires (UTC, empty: never)').fill('2030-01-31');
  await edit.getByRole('button', { name: 'Save' }).click();
  await users.getByRole('status').getByText('Saved bob_web.').waitFor();
  const bob = (await api('GET', '/api/user/bob_web')).body;
  assert.equal(bob.status, 'disabled');
  assert.equal(new Date(bob.expire * 1000).toISOString().slice(0, 10), '2030-01-31');
  await users.getByLabel('Status', { exact: true }).selectOption('disabled');
  await users.locator('tr[data-username="alice_web"]').waitFor({ state: 'detached' });
  assert.match(page.url(), /[?&]status=disabled/);
  assert.match(await users.locator('tr[data-username="bob_web"]').innerText(), /disabled/i);
  await users.getByLabel('Status', { exact: true }).selectOption('');

  // Revoke alice's subscription: new credentials.
  const before = (await api('GET', '/api/user/alice_web')).body.proxies.vless.id;
  await users.locator('tr[data-username="alice_web"]').getByRole('button', { name: 'Revoke' }).click();
  await confirmDialog(page);
  await users.getByRole('status').getByText("Revoked alice_web's subscription.").waitFor();
  assert.notEqual((await api('GET', '/api/user/alice_web')).body.proxies.vless.id, before);

  // Reset and delete, each after a question.
  await users.locator('tr[data-username="alice_web"]').getByRole('button', { name: 'Reset usage' }).click();
  await confirmDialog(page);
  await users.getByRole('status').getByText("Reset alice_web's usage.").waitFor();
  await users.locator('tr[data-username="alice_web"]').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog', { name: 'Are you sure?' }).getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await api('GET', '/api/user/alice_web')).status, 200, 'Cancel keeps the user');
  await users.locator('tr[data-username="alice_web"]').getByRole('button', { name: 'Delete' }).click();
  await confirmDialog(page);
  await users.getByRole('status').getByText('Deleted alice_web.').waitFor();
  assert.equal((await api('GET', '/api/user/alice_web')).status, 404);
  await users.locator('tr[data-username="alice_web"]').waitFor({ state: 'detached' });
  // The overview's count follows.
  await nav.getByRole('link', { name: 'Overview' }).click();
  await page.locator('.stat', { hasText: 'Users' }).getByText('1', { exact: true }).waitFor();
  await page.close();
});

test('pages through more users than fit on one page; the page is in the URL', async () => {
  for (let i = 0; i < 45; i++) {
    const r = await api('POST', '/api/user', { username: `page_${String(i).padStart(2, '0')}`, proxies: { vless: {} } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const page = await newPage();
  await page.goto(`${base}/dashboard/users`); // signed in: the token is kept
  const users = page.getByRole('region', { name: 'Users' });
  await users.getByLabel('Sort').selectOption('username');
  await users.locator('tr[data-username="bob_web"]').waitFor();
  const pager = users.getByRole('navigation', { name: 'Pagination' });
  await pager.getByText('Page 1 of 3 · 46 users').waitFor();
  await pager.getByRole('button', { name: 'Next' }).click();
  await pager.getByText('Page 2 of 3 · 46 users').waitFor();
  await pager.getByRole('button', { name: 'Next' }).click();
  await pager.getByText('Page 3 of 3 · 46 users').waitFor();
  // bob_web, then page_00 to page_44: the third page holds page_39 to page_44.
  await users.locator('tr[data-username="page_44"]').waitFor();
  assert.equal(await users.locator('tbody tr').count(), 6);
  assert.ok(await pager.getByRole('button', { name: 'Next' }).isDisabled());
  // A shared link opens the same page.
  assert.match(page.url(), /[?&]page=3/);
  const again = await newPage();
  await again.goto(page.url());
  await again.getByRole('navigation', { name: 'Pagination' }).getByText('Page 3 of 3 · 46 users').waitFor();
  await again.locator('tr[data-username="page_44"]').waitFor();
  await again.close();
  // 100 a page: everything on one.
  await users.getByLabel('Per page').selectOption('100');
  await pager.getByText('Page 1 of 1 · 46 users').waitFor();
  await waitFor('all 46 rows', async () => (await users.locator('tbody tr').count()) === 46);
  await page.close();
});

test('bulk actions: 45 users disabled and enabled again from the selection bar', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/users?search=page_&size=50`);
  const users = page.getByRole('region', { name: 'Users' });
  await users.locator('tr[data-username="page_44"]').waitFor();
  await users.getByRole('checkbox', { name: 'Select every user on this page' }).check();
  const bar = users.getByRole('toolbar', { name: 'Selected users' });
  await bar.getByText('45 selected').waitFor();
  // One unticked: 44 go.
  await users.getByRole('checkbox', { name: 'Select page_00' }).uncheck();
  await bar.getByText('44 selected').waitFor();
  await bar.getByRole('button', { name: 'Disable' }).click();
  await users.getByRole('status').getByText('Changed 44 users.').waitFor();
  const listed = (await api('GET', '/api/users?search=page_&limit=100')).body.users;
  assert.equal(listed.filter((u) => u.status === 'disabled').length, 44);
  assert.equal(listed.find((u) => u.username === 'page_00').status, 'active');
  await bar.waitFor({ state: 'detached' });
  // The table shows the new status without a reload.
  await users.locator('tr[data-username="page_44"] [data-status="disabled"]').waitFor();

  await users.getByRole('checkbox', { name: 'Select every user on this page' }).check();
  await bar.getByRole('button', { name: 'Enable' }).click();
  // One request for the 45; page_00, active already, is skipped and named.
  await users.getByRole('status').getByText(/^Changed 44 users\. 1 skipped \(page_00: .+\)\.$/).waitFor();
  const again = (await api('GET', '/api/users?search=page_&limit=100')).body.users;
  assert.ok(again.every((u) => u.status === 'active'));

  // Delete asks first; two users go.
  await users.getByRole('checkbox', { name: 'Select page_43' }).check();
  await users.getByRole('checkbox', { name: 'Select page_44' }).check();
  await bar.getByRole('button', { name: 'Delete' }).click();
  await confirmDialog(page);
  await users.getByRole('status').getByText('Changed 2 users.').waitFor();
  assert.equal((await api('GET', '/api/user/page_44')).status, 404);
  assert.equal((await api('GET', '/api/user/page_43')).status, 404);
  await page.close();
});

test('bulk actions in one request: extend expiry, add GB, set inbounds, change owner', async () => {
  for (const name of ['bulk_a', 'bulk_b']) {
    const r = await api('POST', '/api/user', { username: name, proxies: { vless: {} }, data_limit: 1024 ** 3, expire: Math.floor(Date.now() / 1000) + 86400 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const owner = await api('POST', '/api/admin', { username: 'bulk_owner', password: 'bulk-pass-1', is_sudo: false });
  assert.equal(owner.status, 200, JSON.stringify(owner.body));
  const before = Object.fromEntries(await Promise.all(['bulk_a', 'bulk_b'].map(async (n) => [n, (await api('GET', `/api/user/${n}`)).body])));
  const vlessTags = (await api('GET', '/api/inbounds')).body.vless.map((i) => i.tag);
  assert.ok(vlessTags.length > 0);

  const page = await newPage();
  const users = await openSignedIn(page, `${base}/dashboard/users?search=bulk_`, 'Users');
  const bulkPosts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/users/bulk') {
      bulkPosts.push(r.postDataJSON());
    }
  });
  const selectBoth = async () => {
    await users.locator('tr[data-username="bulk_b"]').waitFor();
    await users.getByRole('checkbox', { name: 'Select every user on this page' }).check();
  };
  const bar = users.getByRole('toolbar', { name: 'Selected users' });
  const done = users.getByRole('status').getByText('Changed 2 users.');

  await selectBoth();
  await bar.getByLabel('Days').fill('10');
  await bar.getByRole('button', { name: 'Extend expiry' }).click();
  await done.waitFor();
  await bar.waitFor({ state: 'detached' });
  for (const n of ['bulk_a', 'bulk_b']) {
    assert.equal((await api('GET', `/api/user/${n}`)).body.expire, before[n].expire + 10 * 86400, `${n} expiry`);
  }

  await selectBoth();
  await bar.getByLabel('GB').fill('2');
  await bar.getByRole('button', { name: 'Add data' }).click();
  await done.waitFor();
  await bar.waitFor({ state: 'detached' });
  for (const n of ['bulk_a', 'bulk_b']) {
    assert.equal((await api('GET', `/api/user/${n}`)).body.data_limit, 3 * 1024 ** 3, `${n} data limit`);
  }

  await selectBoth();
  await bar.getByRole('combobox', { name: 'Inbounds' }).click({ force: true });
  await page.getByRole('option', { name: vlessTags[0], exact: true }).click();
  await page.keyboard.press('Escape');
  await bar.getByRole('button', { name: 'Set inbounds' }).click();
  await done.waitFor();
  await bar.waitFor({ state: 'detached' });
  for (const n of ['bulk_a', 'bulk_b']) {
    assert.deepEqual((await api('GET', `/api/user/${n}`)).body.inbounds.vless, [vlessTags[0]], `${n} inbounds`);
  }

  await selectBoth();
  await bar.getByLabel('New owner').selectOption('bulk_owner');
  await bar.getByRole('button', { name: 'Change owner' }).click();
  await done.waitFor();
  await users.locator('tr[data-username="bulk_a"]').getByText('owner: bulk_owner').waitFor();
  for (const n of ['bulk_a', 'bulk_b']) {
    assert.equal((await api('GET', `/api/user/${n}`)).body.admin?.username, 'bulk_owner', `${n} owner`);
  }

  // Each action was one request naming both users.
  assert.deepEqual(
    bulkPosts.map((b) => [b.action, [...b.usernames].sort()]),
    ['extend_expiry', 'add_data', 'set_inbounds', 'set_owner'].map((a) => [a, ['bulk_a', 'bulk_b']]),
  );
  assert.ok((await axeViolations(page)).length === 0, 'axe');
  await page.close();
  for (const n of ['bulk_a', 'bulk_b']) {
    assert.equal((await api('DELETE', `/api/user/${n}`)).status, 200);
  }
});

test('the users filters: expiring within N days, on hold, data left under N %; all in the URL', async () => {
  const now = Math.floor(Date.now() / 1000);
  const made = [
    { username: 'filt_soon', proxies: { vless: {} }, expire: now + 2 * 86400 },
    { username: 'filt_later', proxies: { vless: {} }, expire: now + 60 * 86400, data_limit: 1024 ** 3 },
    { username: 'filt_hold', proxies: { vless: {} }, status: 'on_hold', on_hold_expire_duration: 86400 },
  ];
  for (const u of made) {
    const r = await api('POST', '/api/user', u);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const page = await newPage();
  const users = await openSignedIn(page, `${base}/dashboard/users?search=filt_`, 'Users');
  const row = (n) => users.locator(`tr[data-username="${n}"]`);
  await row('filt_hold').waitFor();
  const listed = async () => (await users.locator('tr[data-username]').evaluateAll((rows) => rows.map((r) => r.dataset.username))).sort();

  await users.getByLabel('Expiring').selectOption({ label: 'within 3 days' });
  await row('filt_later').waitFor({ state: 'detached' });
  assert.deepEqual(await listed(), ['filt_soon']);
  assert.equal(new URL(page.url()).searchParams.get('expiring'), '3');

  await users.getByLabel('Expiring').selectOption({ label: 'Any time' });
  await users.getByLabel('On hold only').click();
  await row('filt_soon').waitFor({ state: 'detached' });
  // Two quick changes: "any time" must survive the "on hold" click that
  // follows before the router has navigated.
  await row('filt_hold').waitFor();
  assert.deepEqual(await listed(), ['filt_hold']);
  assert.equal(new URL(page.url()).searchParams.get('on_hold'), '1');

  // Nobody has used anything: no user is under 5 % of their limit, and
  // the filter reaches the panel as data_left_below_percent.
  await users.getByLabel('On hold only').click();
  await row('filt_soon').waitFor();
  const asked = page.waitForRequest((r) => new URL(r.url()).searchParams.get('data_left_below_percent') === '5');
  await users.getByLabel('Data left').selectOption({ label: 'under 5 %' });
  await asked;
  await users.getByText('No user matches these filters.').waitFor();
  assert.equal(new URL(page.url()).searchParams.get('data_left'), '5');

  // The URL alone brings the filters back.
  await page.goto(`${base}/dashboard/users?search=filt_&expiring=3`);
  await row('filt_soon').waitFor();
  assert.deepEqual(await listed(), ['filt_soon']);
  assert.equal(await users.getByLabel('Expiring').inputValue(), '3');
  assert.deepEqual(await axeViolations(page), []);
  await page.close();
  for (const u of made) {
    assert.equal((await api('DELETE', `/api/user/${u.username}`)).status, 200);
  }
});

test("a user's page: every link with copy and a QR code that scans back", async () => {
  assert.equal((await api('POST', '/api/user', { username: 'qr_user', proxies: { vless: {}, trojan: {} } })).status, 200);
  const page = await newPage();
  await page.goto(`${base}/dashboard/users/qr_user`);
  const card = page.getByRole('region', { name: 'Subscription' });
  const shownURL = await card.locator('[title^="http"]').first().getAttribute('title');
  const apiURL = (await api('GET', '/api/user/qr_user')).body.subscription_url;
  assert.equal(shownURL.slice(0, shownURL.indexOf('/sub/') + 5), apiURL.slice(0, apiURL.indexOf('/sub/') + 5));

  await card.getByRole('button', { name: 'Copy Subscription URL' }).click();
  await card.getByRole('button', { name: 'Copy Subscription URL' }).getByText('Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shownURL);

  await card.getByRole('button', { name: 'QR code of Subscription URL' }).click();
  const canvas = page.getByRole('img', { name: 'QR code image of Subscription URL' });
  await canvas.waitFor();
  const scan = async () => {
    const { width, height, data } = await canvas.evaluate((c) => {
      const img = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      return { width: img.width, height: img.height, data: Array.from(img.data) };
    });
    return jsQR(Uint8ClampedArray.from(data), width, height)?.data;
  };
  assert.equal(await scan(), shownURL, 'the QR code scans back to the URL shown');
  await page.getByRole('dialog', { name: 'Subscription URL' }).getByRole('button', { name: 'Close' }).click();

  // Every link has its own copy and QR buttons.
  const links = (await api('GET', '/api/user/qr_user')).body.links;
  assert.ok(links.length >= 2, links.join('\n'));
  for (let i = 0; i < links.length; i++) {
    await card.getByRole('button', { name: `Copy Link ${String(i + 1)}` }).waitFor();
  }
  await card.getByRole('button', { name: 'Copy Link 1' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.ok(links.some((l) => l.split('#')[0] === copied.split('#')[0]), copied);
  await card.getByRole('button', { name: 'QR code of Link 1' }).click();
  const linkCanvas = page.getByRole('img', { name: 'QR code image of Link 1' });
  await linkCanvas.waitFor();
  const linkScan = await linkCanvas.evaluate((c) => {
    const img = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    return { width: img.width, height: img.height, data: Array.from(img.data) };
  });
  assert.equal(jsQR(Uint8ClampedArray.from(linkScan.data), linkScan.width, linkScan.height)?.data, copied);
  await page.close();
  assert.equal((await api('DELETE', '/api/user/qr_user')).status, 200);
});

// A node token works when the node's session presents it: before the
// WebSocket upgrade the panel answers 401 for a bad token and 426 for a
// good one on a plain GET.
async function nodeTokenStatus(nodeToken) {
  const res = await fetch(`${base}/api/node/ws`, { headers: { Authorization: `Bearer ${nodeToken}` } });
  await res.arrayBuffer();
  return res.status;
}

test('a sudo admin adds a node, rotates its token and deletes it', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/nodes`);
  const nodes = page.getByRole('region', { name: 'Nodes' });
  await nodes.getByText('No nodes yet.').waitFor();
  await nodes.getByRole('button', { name: 'New node' }).click();
  const form = page.getByRole('form', { name: 'New node' });
  await form.getByLabel('Name').fill('fra_1');
  await form.getByLabel('Usage coefficient').fill('1.5');
  await form.getByRole('button', { name: 'Create' }).click();
  const notice = nodes.getByRole('status', { name: 'Node token' });
  const command = await notice.locator('pre').innerText();
  assert.match(command, new RegExp(`^bin/node --panel ${base} --token \\S+$`));
  await notice.getByRole('button', { name: 'Copy the node command' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), command);
  const first = command.split(' ').at(-1);
  assert.equal(await nodeTokenStatus(first), 426);
  const listed = (await api('GET', '/api/nodes')).body;
  assert.equal(listed.length, 1);
  assert.equal(listed[0].name, 'fra_1');
  assert.equal(listed[0].usage_coefficient, 1.5);
  await notice.getByRole('button', { name: 'Done' }).click();

  const row = nodes.locator('tr[data-node="fra_1"]');
  await row.getByRole('button', { name: 'New token' }).click();
  await confirmDialog(page);
  const second = (await nodes.getByRole('status', { name: 'Node token' }).locator('pre').innerText()).split(' ').at(-1);
  assert.notEqual(second, first);
  assert.equal(await nodeTokenStatus(first), 401, 'the old token is cut');
  assert.equal(await nodeTokenStatus(second), 426);

  await row.getByRole('button', { name: 'Delete' }).click();
  await confirmDialog(page);
  await row.waitFor({ state: 'detached' });
  assert.equal((await api('GET', '/api/nodes')).body.length, 0);

  // The built-in node (what --local-node creates) offers no token or
  // delete button: it gets a new token at every panel start.
  const local = await api('POST', '/api/node', { name: 'local', address: '127.0.0.1' });
  assert.equal(local.status, 200, JSON.stringify(local.body));
  await nodes.getByRole('button', { name: 'Refresh' }).click();
  const localRow = nodes.locator('tr[data-node="local"]');
  await localRow.getByText('built in').waitFor();
  assert.equal(await localRow.getByRole('button').count(), 0);
  assert.equal((await api('DELETE', `/api/node/${String(local.body.id)}`)).status, 200);
  await page.close();
});

// Opens a dashboard page, signing in first when this profile is not yet
// (so a test also runs alone, with --test-name-pattern).
async function openSignedIn(page, url, region) {
  await page.goto(url);
  const signInButton = page.getByRole('button', { name: 'Sign in' });
  const pageRegion = page.getByRole('region', { name: region });
  await signInButton.or(pageRegion).first().waitFor();
  if (await signInButton.isVisible()) {
    await signIn(page);
  }
  await pageRegion.waitFor();
  return pageRegion;
}

// Counts the dashboard's requests to one API path (GET, any query).
function countRequests(page, path) {
  const counter = { n: 0 };
  page.on('request', (r) => {
    if (r.method() === 'GET' && new URL(r.url()).pathname === path) {
      counter.n++;
    }
  });
  return counter;
}

test('live: a node that stops turns offline on an open Nodes page, without a reload or a poll', async () => {
  const created = await api('POST', '/api/node', { name: 'live_node', address: '127.0.0.1' });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const nodeDir = mkdtempSync(join(tmpdir(), 'outpost-web-node-'));
  let node;
  try {
    const page = await newPage();
    const nodesFetched = countRequests(page, '/api/nodes');
    const nodes = await openSignedIn(page, `${base}/dashboard/nodes`, 'Nodes');
    const status = nodes.locator('tr[data-node="live_node"] td[data-label="Status"]');
    await status.waitFor();
    await page.evaluate(() => (window.outpostLoaded = true));
    // The events socket is up before the node starts.
    await page.locator('[data-live="true"]').waitFor();
    const before = nodesFetched.n;
    node = spawnTied([nodeBin, '--panel', base, '--token', created.body.token, '--state-dir', nodeDir], { stdio: 'ignore' });
    await nodes.locator('tr[data-node="live_node"] td[data-status="connected"]').waitFor({ timeout: 30_000 });
    node.kill('SIGKILL');
    await new Promise((r) => node.once('exit', r));
    await nodes.locator('tr[data-node="live_node"] td[data-status]:not([data-status="connected"])').waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate(() => window.outpostLoaded), true, 'the page was reloaded');
    assert.equal(nodesFetched.n, before, 'the Nodes page fetched /api/nodes again: it polled instead of applying the events');
    await page.close();
  } finally {
    if (node && node.exitCode === null && node.signalCode === null) {
      node.kill('SIGKILL');
      await new Promise((r) => node.once('exit', r));
    }
    rmSync(nodeDir, { recursive: true, force: true });
    assert.equal((await api('DELETE', `/api/node/${String(created.body.id)}`)).status, 200);
  }
});

test('live: a user created through the API appears on an open Users page without a reload', async () => {
  const page = await newPage();
  const users = await openSignedIn(page, `${base}/dashboard/users`, 'Users');
  await users.getByRole('button', { name: 'New user' }).waitFor();
  await page.locator('[data-live="true"]').waitFor();
  await page.evaluate(() => (window.outpostLoaded = true));
  assert.equal((await api('POST', '/api/user', { username: 'live_user', proxies: { vless: {} } })).status, 200);
  await users.locator('tr[data-username="live_user"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.outpostLoaded), true, 'the page was reloaded');
  assert.equal((await api('DELETE', '/api/user/live_user')).status, 200);
  await users.locator('tr[data-username="live_user"]').waitFor({ state: 'detached', timeout: 10_000 });
  await page.close();
});

test('a sudo admin edits the core config; a config Xray refuses changes nothing', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/core`);
  const card = page.getByRole('region', { name: 'Core config' });
  const editor = card.getByLabel('Xray config (JSON)');
  await editor.waitFor();
  const config = (await api('GET', '/api/core/config')).body;
  assert.ok(Array.isArray(config.inbounds) && config.inbounds.length > 0);
  assert.match(await editor.innerText(), /"inbounds"/, 'the editor shows the config');

  config.log = { loglevel: 'info' };
  await setEditor(editor, JSON.stringify(config, null, 2));
  await card.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('dialog', { name: 'Review the changes' }).getByRole('button', { name: 'Save and apply' }).click();
  await card.getByRole('status').getByText('Saved.', { exact: false }).waitFor();
  assert.deepEqual((await api('GET', '/api/core/config')).body.log, { loglevel: 'info' });

  const broken = structuredClone(config);
  broken.inbounds[0].port = 'not a port';
  await setEditor(editor, JSON.stringify(broken));
  await card.getByRole('button', { name: 'Save' }).click();
  await card.getByRole('alert').waitFor();
  assert.match(await card.getByRole('alert').innerText(), /port/i);
  assert.notEqual((await api('GET', '/api/core/config')).body.inbounds[0].port, 'not a port');

  await setEditor(editor, '{ "inbounds": [');
  await card.getByRole('button', { name: 'Save' }).click();
  await card.getByRole('alert').getByText('Not JSON', { exact: false }).waitFor();
  await page.close();
});

test("a user's Page link opens their subscription page", async () => {
  assert.equal((await api('POST', '/api/user', { username: 'page_link', proxies: { vless: {} } })).status, 200);
  const page = await newPage();
  await page.goto(`${base}/dashboard/users?search=page_link`);
  const users = page.getByRole('region', { name: 'Users' });
  const link = users.locator('tr[data-username="page_link"]').getByRole('link', { name: 'Page', exact: true });
  const href = await link.getAttribute('href');
  // The token carries its issue time in seconds, so two fetches may differ
  // in it; the address up to the token is the same.
  const apiURL = (await api('GET', '/api/user/page_link')).body.subscription_url;
  assert.equal(href.slice(0, href.indexOf('/sub/') + 5), apiURL.slice(0, apiURL.indexOf('/sub/') + 5));
  const [sub] = await Promise.all([page.waitForEvent('popup'), link.click()]);
  await sub.waitForLoadState();
  assert.match(await sub.content(), /page_link/);
  await sub.close();
  await page.close();
});

test('a reseller admin sees only its own users; sudo disables and re-activates them', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/admins`);
  const adminsCard = page.getByRole('region', { name: 'Admins' });
  await adminsCard.getByRole('button', { name: 'New admin' }).click();
  const form = page.getByRole('form', { name: 'New admin' });
  await form.getByLabel('Username').fill('reseller_web');
  await form.getByRole('textbox', { name: 'Password', exact: true }).fill('reseller-pass-1');
  await form.getByRole('button', { name: 'Create' }).click();
  await adminsCard.locator('tr[data-admin="reseller_web"]').waitFor();

  // The reseller, in a browser profile of its own: no pages for sudo only.
  const resellerContext = await browser.newContext();
  const rp = await resellerContext.newPage();
  await rp.goto(`${base}/dashboard/`);
  await signIn(rp, { username: 'reseller_web', password: 'reseller-pass-1' });
  const rNav = rp.getByRole('navigation', { name: 'Pages' });
  await rNav.getByRole('link', { name: 'Users' }).click();
  const rUsers = rp.getByRole('region', { name: 'Users' });
  await rUsers.getByText('No users yet.').waitFor();
  for (const sudoOnly of ['Nodes', 'Admins', 'Core config', 'Hosts']) {
    assert.equal(await rNav.getByRole('link', { name: sudoOnly }).count(), 0, `the reseller sees ${sudoOnly}`);
  }
  assert.equal(await rUsers.getByLabel('Owner').count(), 0, 'the reseller has no owner filter');
  await rUsers.getByRole('button', { name: 'New user' }).click();
  const rForm = rp.getByRole('form', { name: 'New user' });
  await rForm.getByLabel('Username').fill('res_user');
  await rForm.getByRole('button', { name: 'Create' }).click();
  await rUsers.locator('tr[data-username="res_user"]').waitFor();
  assert.equal(await rUsers.locator('tbody tr').count(), 1, 'the reseller sees only its own user');
  assert.equal((await api('GET', '/api/user/res_user')).body.admin.username, 'reseller_web');
  await resellerContext.close();

  // Sudo filters the table by owner.
  const users = page.getByRole('region', { name: 'Users' });
  await page.goto(`${base}/dashboard/users`);
  await users.getByLabel('Owner').selectOption('reseller_web');
  await users.locator('tr[data-username="bob_web"]').waitFor({ state: 'detached' });
  await users.locator('tr[data-username="res_user"]').waitFor();
  await waitFor('only res_user in the table', async () => (await users.locator('tbody tr').count()) === 1);
  assert.match(page.url(), /[?&]owner=reseller_web/);

  // Sudo takes the reseller's users off the nodes and back.
  await page.goto(`${base}/dashboard/admins`);
  const row = adminsCard.locator('tr[data-admin="reseller_web"]');
  await row.getByRole('button', { name: 'Disable users' }).click();
  await confirmDialog(page);
  await adminsCard.getByRole('status').getByText("Disabled reseller_web's users.").waitFor();
  assert.equal((await api('GET', '/api/user/res_user')).body.status, 'disabled');
  await row.getByRole('button', { name: 'Activate users' }).click();
  await adminsCard.getByRole('status').getByText("Activated reseller_web's users.").waitFor();
  assert.equal((await api('GET', '/api/user/res_user')).body.status, 'active');
  await page.goto(`${base}/dashboard/users?search=res_user`);
  await users.locator('tr[data-username="res_user"]').getByText('active').waitFor();
  await page.goto(`${base}/dashboard/admins`);

  // A new password from the dashboard: the old one and the tokens issued
  // with it stop working at once.
  const login = (password) =>
    fetch(`${base}/api/admin/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'reseller_web', password }).toString(),
    });
  const oldToken = (await (await login('reseller-pass-1')).json()).access_token;
  const asReseller = (t) => fetch(`${base}/api/admin`, { headers: { Authorization: `Bearer ${t}` } });
  assert.equal((await asReseller(oldToken)).status, 200);
  await row.getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByRole('form', { name: 'Edit admin reseller_web' });
  await edit.getByLabel('New password (empty: unchanged; signs them out everywhere)').fill('reseller-pass-2');
  await edit.getByRole('button', { name: 'Save' }).click();
  await adminsCard.getByRole('status').getByText('Saved reseller_web; their old password and sessions stop working.').waitFor();
  assert.equal((await login('reseller-pass-1')).status, 401);
  const fresh = await login('reseller-pass-2');
  assert.equal(fresh.status, 200);
  assert.equal((await asReseller((await fresh.json()).access_token)).status, 200, 'a token issued after the change works');
  assert.equal((await asReseller(oldToken)).status, 401, 'a token issued before the change is refused');
  assert.equal((await api('GET', '/api/admins')).body.find((a) => a.username === 'reseller_web').is_sudo, false);

  // Where the reseller hears of its users' events, set and then cleared.
  const reseller = async () => (await api('GET', '/api/admins')).body.find((a) => a.username === 'reseller_web');
  const hook = 'https://discord.com/api/webhooks/42/reseller-token';
  await row.getByRole('button', { name: 'Edit' }).click();
  await edit.getByLabel("Telegram chat id for their users' events (empty: none)").fill('5550001');
  await edit.getByLabel("Discord webhook for their users' events (empty: none)").fill(hook);
  await edit.getByRole('button', { name: 'Save' }).click();
  await adminsCard.getByRole('status').getByText('Saved reseller_web.').waitFor();
  assert.equal((await reseller()).telegram_id, 5550001);
  assert.equal((await reseller()).discord_webhook, hook);

  // An event of the reseller's user now goes to its Discord webhook too;
  // this machine cannot deliver it, and the Settings page says so,
  // naming the webhook by its id, never its token.
  assert.equal((await api('PUT', '/api/user/res_user', { note: 'pinged' })).status, 200);
  await page.goto(`${base}/dashboard/settings`);
  const notifications = page.getByRole('region', { name: 'Notifications' });
  const discordRow = notifications.locator('tr[data-target="Discord webhook 42"]');
  await waitFor('the Discord delivery to fail and show', async () => {
    await notifications.getByRole('button', { name: 'Refresh' }).click();
    return (await discordRow.count()) === 1 && (await discordRow.locator('td[data-label="Retrying"]').innerText()) === '1';
  });
  assert.notEqual(await discordRow.locator('td[data-label="Last error"]').innerText(), '—');
  assert.ok(!(await notifications.innerText()).includes('reseller-token'), 'the page shows the webhook token');
  await page.goto(`${base}/dashboard/admins`);
  await row.getByRole('button', { name: 'Edit' }).click();
  assert.equal(await edit.getByLabel("Discord webhook for their users' events (empty: none)").inputValue(), hook);
  await edit.getByLabel("Discord webhook for their users' events (empty: none)").fill('http://example.com/not-discord');
  await edit.getByRole('button', { name: 'Save' }).click();
  await edit.getByRole('alert').getByText('discord_webhook', { exact: false }).waitFor();
  assert.equal((await reseller()).discord_webhook, hook, 'a refused webhook changes nothing');
  await edit.getByLabel("Telegram chat id for their users' events (empty: none)").fill('');
  await edit.getByLabel("Discord webhook for their users' events (empty: none)").fill('');
  await edit.getByRole('button', { name: 'Save' }).click();
  await adminsCard.getByRole('status').getByText('Saved reseller_web.').waitFor();
  assert.equal((await reseller()).telegram_id, null);
  assert.equal((await reseller()).discord_webhook, null);

  await row.getByRole('button', { name: 'Delete' }).click();
  await confirmDialog(page);
  await row.waitFor({ state: 'detached' });
  assert.equal((await api('GET', '/api/user/res_user')).status, 200, 'the users stay');
  await page.close();
});

test('a sudo admin edits the hosts subscription links use; the overview shows the users by status', async () => {
  assert.equal((await api('POST', '/api/user', { username: 'hosts_user', proxies: { vless: {} } })).status, 200);
  const page = await newPage();
  await page.goto(`${base}/dashboard/`);
  const system = (await api('GET', '/api/system')).body;
  const overview = page.getByRole('region', { name: 'Overview' });
  for (const [label, value] of [
    ['active', system.users_active],
    ['limited', system.users_limited],
    ['expired', system.users_expired],
    ['Users', system.total_user],
  ]) {
    await overview.locator('.stat', { has: page.getByText(label, { exact: true }) }).getByText(String(value), { exact: true }).waitFor();
  }

  await page.goto(`${base}/dashboard/hosts`);
  const card = page.getByRole('region', { name: 'Hosts' });

  // The form: one section per inbound, a host added and filled in.
  const vless = card.getByRole('region', { name: 'VLESS TCP', exact: true });
  await vless.getByRole('button', { name: 'Add a host' }).click();
  const added = vless.getByRole('group').last();
  await added.getByLabel('Address').fill('form.example.com');
  await added.getByLabel('Port').fill('9443');
  await card.getByRole('button', { name: 'Save' }).click();
  await card.getByRole('status').getByText('Saved.', { exact: false }).waitFor();
  const fromForm = (await api('GET', '/api/hosts')).body['VLESS TCP'].at(-1);
  assert.equal(fromForm.address, 'form.example.com');
  assert.equal(fromForm.port, 9443);
  const formLinks = (await api('GET', '/api/user/hosts_user')).body.links;
  assert.ok(formLinks.some((l) => l.includes('@form.example.com:9443')), formLinks.join('\n'));

  // The same as JSON.
  await card.getByRole('tab', { name: 'JSON' }).click();
  const editor = card.getByLabel('Hosts (JSON)');
  await editor.waitFor();
  const hosts = (await api('GET', '/api/hosts')).body;
  assert.ok('VLESS TCP' in hosts, JSON.stringify(Object.keys(hosts)));
  hosts['VLESS TCP'] = [{ remark: 'edge {USERNAME}', address: 'edge.example.com', port: 8443, security: 'inbound_default' }];
  await setEditor(editor, JSON.stringify(hosts, null, 2));
  await card.getByRole('button', { name: 'Save' }).click();
  await card.getByRole('status').getByText('Saved.', { exact: false }).waitFor();
  const links = (await api('GET', '/api/user/hosts_user')).body.links;
  assert.ok(links.some((l) => l.startsWith('vless://') && l.includes('@edge.example.com:8443')), links.join('\n'));

  hosts['VLESS TCP'][0].port = 70000;
  await setEditor(editor, JSON.stringify(hosts));
  await card.getByRole('button', { name: 'Save' }).click();
  await card.getByRole('alert').waitFor();
  assert.match(await card.getByRole('alert').innerText(), /port/i);
  assert.equal((await api('GET', '/api/hosts')).body['VLESS TCP'][0].port, 8443);
  await page.close();
});

test('a template fills a new user: limit, expiry and the username prefix', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/templates`);
  const card = page.getByRole('region', { name: 'Templates' });
  await card.getByRole('button', { name: 'New template' }).click();
  const tf = page.getByRole('form', { name: 'New template' });
  await tf.getByRole('textbox', { name: 'Name', exact: true }).fill('monthly');
  await tf.getByLabel('Data limit (GiB, empty: unlimited)').fill('30');
  await tf.getByLabel('Days until expiry (empty: never)').fill('30');
  await tf.getByLabel('Username prefix').fill('m_');
  await tf.getByRole('checkbox', { name: /^Trojan TCP/ }).check();
  await tf.getByRole('button', { name: 'Create' }).click();
  await card.locator('tr[data-template="monthly"]').waitFor();
  const [tpl] = (await api('GET', '/api/user_template')).body;
  assert.equal(tpl.data_limit, 30 * 1024 ** 3);
  assert.equal(tpl.expire_duration, 30 * 86400);
  assert.deepEqual(tpl.inbounds, { trojan: ['Trojan TCP'] });

  // Edited: the limit changes, the rest stays.
  await card.locator('tr[data-template="monthly"]').getByRole('button', { name: 'Edit' }).click();
  const ef = page.getByRole('form', { name: 'Edit template monthly' });
  assert.equal(await ef.getByLabel('Days until expiry (empty: never)').inputValue(), '30');
  assert.equal(await ef.getByRole('checkbox', { name: /^Trojan TCP/ }).isChecked(), true);
  await ef.getByLabel('Data limit (GiB, empty: unlimited)').fill('40');
  await ef.getByRole('button', { name: 'Save' }).click();
  await card.getByRole('status').getByText('Saved template monthly.').waitFor();
  const [edited] = (await api('GET', '/api/user_template')).body;
  assert.equal(edited.data_limit, 40 * 1024 ** 3);
  assert.equal(edited.expire_duration, 30 * 86400);
  assert.equal(edited.username_prefix, 'm_');
  assert.deepEqual(edited.inbounds, { trojan: ['Trojan TCP'] });

  await page.goto(`${base}/dashboard/users`);
  const users = page.getByRole('region', { name: 'Users' });
  await users.getByRole('button', { name: 'New user' }).click();
  const form = page.getByRole('form', { name: 'New user' });
  await form.getByLabel('Template').selectOption({ label: 'monthly' });
  assert.equal(await form.getByLabel('Data limit (GiB, empty: unlimited)').inputValue(), '40');
  assert.equal(await form.getByRole('checkbox', { name: 'trojan', exact: true }).isChecked(), true);
  assert.equal(await form.getByRole('checkbox', { name: 'vless', exact: true }).isChecked(), false, "the template's protocols replace the default");
  await form.getByLabel('Username').fill('from_tpl');
  await form.getByRole('button', { name: 'Create' }).click();
  await users.getByRole('status').getByText('Created m_from_tpl.').waitFor();
  const u = (await api('GET', '/api/user/m_from_tpl')).body;
  assert.equal(u.data_limit, 40 * 1024 ** 3);
  assert.deepEqual(Object.keys(u.proxies), ['trojan']);
  const days = (u.expire * 1000 - Date.now()) / 86400_000;
  assert.ok(days > 29 && days <= 31, `expires in ${days} days`);

  await page.goto(`${base}/dashboard/templates`);
  await card.locator('tr[data-template="monthly"]').getByRole('button', { name: 'Delete' }).click();
  await confirmDialog(page);
  await card.locator('tr[data-template="monthly"]').waitFor({ state: 'detached' });
  assert.equal((await api('GET', '/api/user_template')).body.length, 0);
  await page.close();
});

// A Trojan client (the protocol needs no TLS under it): the request header
// names the user by the SHA-224 of its password and the destination, and
// the rest of the stream is relayed. It sends `size` bytes to an echo
// server through the node and resolves with how many came back.
function trojanEcho(proxyPort, password, echoPort, size) {
  return new Promise((resolve, reject) => {
    const header = trojanHeader(password, echoPort);
    let got = 0;
    const sock = net.connect(proxyPort, '127.0.0.1', () => {
      sock.write(Buffer.concat([header, Buffer.alloc(size, 7)]));
    });
    sock.setTimeout(5000, () => {
      sock.destroy();
      resolve(got);
    });
    sock.on('data', (d) => {
      got += d.length;
      if (got >= size) {
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('close', () => {
      resolve(got);
    });
    sock.on('error', (err) => {
      if (got > 0 || err.code === 'ECONNRESET') {
        resolve(got);
      } else {
        reject(err);
      }
    });
  });
}

// A Trojan connection kept open: echo(n) sends n bytes and resolves true
// once n bytes came back, false if the connection closed first.
function trojanSession(proxyPort, password, echoPort) {
  const sock = net.connect(proxyPort, '127.0.0.1');
  let pending = null;
  let got = 0;
  let closed = false;
  const settle = (ok) => {
    const p = pending;
    pending = null;
    p?.(ok);
  };
  sock.on('data', (d) => {
    got += d.length;
    if (pending && got >= pending.want) {
      got -= pending.want;
      settle(true);
    }
  });
  sock.on('close', () => {
    closed = true;
    settle(false);
  });
  sock.on('error', () => {});
  let first = true;
  return {
    echo(n) {
      if (closed) {
        return Promise.resolve(false);
      }
      return new Promise((resolve) => {
        pending = resolve;
        pending.want = n;
        const body = Buffer.alloc(n, 9);
        if (first) {
          first = false;
          sock.write(Buffer.concat([trojanHeader(password, echoPort), body]));
        } else {
          sock.write(body);
        }
      });
    },
    close() {
      sock.destroy();
    },
  };
}

function trojanHeader(password, echoPort) {
  return Buffer.concat([
    Buffer.from(createHash('sha224').update(password).digest('hex') + '\r\n'),
    Buffer.from([1, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff]), // CONNECT, IPv4 127.0.0.1
    Buffer.from('\r\n'),
  ]);
}


test('a user gets inbounds, a next plan and auto-delete from the form; its bytes through a real node show per node', async () => {
  // Two Trojan inbounds on a node of this test, so the form has inbounds
  // to choose from and the choice can be seen on the wire.
  const savedConfig = (await api('GET', '/api/core/config')).body;
  const [portA, portB] = [await freePort(), await freePort()];
  const trojan = (tag, port) => ({
    tag,
    protocol: 'trojan',
    listen: '127.0.0.1',
    port,
    settings: { clients: [] },
    streamSettings: { network: 'raw', security: 'none' },
  });
  const put = await api('PUT', '/api/core/config', {
    log: { loglevel: 'warning' },
    inbounds: [trojan('Trojan A', portA), trojan('Trojan B', portB)],
    outbounds: [{ tag: 'DIRECT', protocol: 'freedom' }],
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  const created = await api('POST', '/api/node', { name: 'web_node', address: '127.0.0.1' });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const nodeDir = mkdtempSync(join(tmpdir(), 'outpost-web-node-'));
  const node = spawnTied([nodeBin, '--panel', base, '--token', created.body.token, '--state-dir', nodeDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let nodeLog = '';
  node.stdout.on('data', (d) => (nodeLog += String(d)));
  node.stderr.on('data', (d) => (nodeLog += String(d)));
  const sessions = () => nodeLog.split('connected to panel').length - 1;
  const echo = net.createServer((c) => c.pipe(c));
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = echo.address().port;
  try {
    const page = await newPage();
    await page.goto(`${base}/dashboard/users`);
    const users = page.getByRole('region', { name: 'Users' });
    await users.getByRole('button', { name: 'New user' }).click();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('Username').fill('carol_web');
    await form.getByRole('checkbox', { name: 'vless', exact: true }).uncheck();
    await form.getByRole('checkbox', { name: 'trojan', exact: true }).check();
    await form.getByLabel('Data limit (GiB, empty: unlimited)').fill('1');
    await form.getByRole('checkbox', { name: /^Trojan B/ }).uncheck();
    await form.getByLabel('Delete after running out (days, empty: never)').fill('7');
    await form.getByLabel('Give a next plan when this one runs out').check();
    await form.getByLabel("Next plan's limit in GiB (empty: unlimited)").fill('50');
    await form.getByLabel("Next plan's days (empty: no expiry)").fill('30');
    await form.getByLabel('Carry over the traffic left').check();
    await form.getByRole('button', { name: 'Create' }).click();
    const row = users.locator('tr[data-username="carol_web"]');
    await row.getByText('next plan waiting').waitFor();
    let carol = (await api('GET', '/api/user/carol_web')).body;
    assert.deepEqual(carol.inbounds, { trojan: ['Trojan A'] });
    assert.equal(carol.auto_delete_in_days, 7);
    assert.deepEqual(carol.next_plan, { data_limit: 50 * 1024 ** 3, expire: 30 * 86400, add_remaining_traffic: true, fire_on_either: true });

    // The environment's sudo made carol, so she has no owner; she goes to a
    // reseller, whose users' traffic count then grows with hers.
    assert.equal((await api('POST', '/api/admin', { username: 'shop_admin', password: 'shop-pass-1', is_sudo: false })).status, 200);
    assert.equal(carol.admin, null);
    await row.getByRole('button', { name: 'Edit' }).click();
    const ownerForm = page.getByRole('form', { name: 'Edit carol_web' });
    await ownerForm.getByLabel('Owner').selectOption('shop_admin');
    await ownerForm.getByRole('button', { name: 'Save' }).click();
    await row.getByText('owner: shop_admin').waitFor();
    carol = (await api('GET', '/api/user/carol_web')).body;
    assert.equal(carol.admin.username, 'shop_admin');
    assert.equal(carol.next_plan?.data_limit, 50 * 1024 ** 3, 'the owner change kept the plan');

    // On the node: the user passes on Trojan A, and Trojan B, which the
    // form took them out of, does not know them.
    const size = 256 * 1024;
    const password = carol.proxies.trojan.password;
    await waitFor('the node to serve carol_web on Trojan A', async () => (await trojanEcho(portA, password, echoPort, size)) === size);
    assert.equal(await trojanEcho(portB, password, echoPort, 1024), 0, 'Trojan B relayed a user the form excluded');

    // The node's Xray access log, live in the dashboard while watched.
    await page.goto(`${base}/dashboard/logs`);
    const logs = page.getByRole('region', { name: 'Logs' });
    await logs.getByRole('button', { name: 'Watch' }).click();
    await logs.getByRole('status').getByText('Watching', { exact: false }).waitFor();
    const logBox = logs.getByRole('log', { name: 'Xray log lines' });
    await waitFor('an access log line of web_node', async () => {
      await trojanEcho(portA, password, echoPort, 1024);
      const text = await logBox.innerText();
      return /\[web_node\] .*accepted/.test(text);
    });
    await logs.getByRole('button', { name: 'Stop' }).click();
    await logs.getByRole('status').getByText('Stopped.').waitFor();
    // One node's lines only: no name in front of them.
    await logs.getByRole('button', { name: 'Clear' }).click();
    await logs.getByLabel('Node').selectOption({ label: 'web_node' });
    await logs.getByRole('button', { name: 'Watch' }).click();
    await waitFor("an access log line on web_node's own stream", async () => {
      await trojanEcho(portA, password, echoPort, 1024);
      const text = await logBox.innerText();
      return /accepted/.test(text) && !text.includes('[web_node]');
    });
    await logs.getByRole('button', { name: 'Stop' }).click();

    // The bytes reach the panel's per-node usage, and the dashboard shows them.
    let used = 0;
    await waitFor('carol_web usage on web_node', async () => {
      const usage = (await api('GET', '/api/user/carol_web/usage')).body;
      used = usage.usages.find((u) => u.node_name === 'web_node')?.used_traffic ?? 0;
      return used >= 2 * size;
    });
    // A client fetches the subscription; the card says when and which
    // (the panel writes fetch records every few seconds, in one batch).
    const sub = await fetch(carol.subscription_url, { headers: { 'User-Agent': 'v2rayNG/1.9.16' } });
    assert.equal(sub.status, 200);
    await waitFor('the fetch to be recorded', async () => (await api('GET', '/api/user/carol_web')).body.sub_last_user_agent === 'v2rayNG/1.9.16');
    // The user's page, reached from the table's link.
    await page.goto(`${base}/dashboard/users?search=carol_web`);
    await row.getByRole('link', { name: 'carol_web' }).click();
    await page.waitForURL(/\/dashboard\/users\/carol_web$/);
    const usageCard = page.getByRole('region', { name: 'carol_web', exact: true });
    await usageCard.getByText('by v2rayNG/1.9.16').waitFor();
    const nodeRow = usageCard.locator('tr[data-node="web_node"]');
    await nodeRow.waitFor();
    // The last bars carry the bytes just passed: today's (UTC), or
    // yesterday's too when the test ran across midnight.
    const chart = usageCard.getByTestId('daily-usage');
    let bars = [];
    await waitFor('the daily chart to hold the bytes just passed', async () => {
      bars = JSON.parse(await chart.getAttribute('data-days'));
      return bars.length === 30 && bars[28].bytes + bars[29].bytes >= used;
    });
    assert.equal(bars.length, 30, 'one bar per day of the last 30');
    assert.equal(bars[29].day, new Date().toISOString().slice(0, 10), 'the last bar is today');
    assert.ok(await chart.locator('.recharts-bar-rectangle').count() > 0, 'the chart draws bars');
    const lastTwo = bars[28].bytes + bars[29].bytes;
    assert.ok(lastTwo >= used, `the last bars hold ${String(lastTwo)} bytes, not the ${String(used)} just passed`);
    const shown = await nodeRow.locator('td[data-label="Used"]').innerText();
    assert.match(shown, /KiB|MiB/);
    assert.ok(Number.parseFloat(shown) > 0, `usage shown as ${shown}`);
    await usageCard.getByLabel('Period').selectOption({ label: 'Last 24 hours' });
    await nodeRow.waitFor();

    // The Nodes card: the node's traffic, an edit, and a reconnect that
    // an open connection through the node does not notice.
    await page.goto(`${base}/dashboard/nodes`);
    const nodes = page.getByRole('region', { name: 'Nodes' });
    const nodeListRow = nodes.locator('tr[data-node="web_node"]');
    await waitFor('the Nodes card to show web_node traffic', async () =>
      /↑ \d.*(KiB|MiB)/.test(await nodeListRow.locator('td[data-label="Traffic (30 days)"]').innerText()),
    );
    await nodeListRow.getByRole('button', { name: 'Edit' }).click();
    const nodeForm = page.getByRole('form', { name: 'Edit node web_node' });
    await nodeForm.getByLabel('Address').fill('node1.example.com');
    await nodeForm.getByLabel('Usage coefficient').fill('2');
    await nodeForm.getByRole('button', { name: 'Save' }).click();
    // The traffic chart of the page shows the node too.
    await nodes.getByRole('region', { name: 'Traffic per node (30 days)' }).locator('.recharts-bar-rectangle').first().waitFor();
    await nodeForm.waitFor({ state: 'detached' });
    const edited = (await api('GET', `/api/node/${String(created.body.id)}`)).body;
    assert.equal(edited.address, 'node1.example.com');
    assert.equal(edited.usage_coefficient, 2);

    const open = trojanSession(portA, password, echoPort);
    assert.ok(await open.echo(4096), 'the open connection echoes before the reconnect');
    const before = sessions();
    await nodeListRow.getByRole('button', { name: 'Reconnect' }).click();
    await confirmDialog(page);
    await waitFor('the node to open a new session', () => sessions() > before);
    await waitFor('the node to be connected again', async () => (await api('GET', `/api/node/${String(created.body.id)}`)).body.status === 'connected');
    assert.ok(await open.echo(4096), 'the connection opened before the reconnect still echoes');
    open.close();
    // The row's Logs link opens that node's own log.
    await nodeListRow.getByRole('link', { name: 'Logs' }).click();
    await page.waitForURL(new RegExp(`/dashboard/logs\\?node=${String(created.body.id)}$`));
    assert.equal(await page.getByRole('region', { name: 'Logs' }).getByLabel('Node').inputValue(), String(created.body.id));

    // The edit form shows what was set; emptied and unticked, they are removed.
    await page.goto(`${base}/dashboard/users?search=carol_web`);
    await row.getByRole('button', { name: 'Edit' }).click();
    let edit = page.getByRole('form', { name: 'Edit carol_web' });
    assert.equal(await edit.getByLabel('Delete after running out (days, empty: never)').inputValue(), '7');
    assert.equal(await edit.getByLabel("Next plan's limit in GiB (empty: unlimited)").inputValue(), '50');
    assert.equal(await edit.getByRole('checkbox', { name: /^Trojan B/ }).isChecked(), false);
    await edit.getByLabel('Delete after running out (days, empty: never)').fill('');
    await edit.getByLabel('Give a next plan when this one runs out').uncheck();
    await edit.getByRole('checkbox', { name: /^Trojan B/ }).check();
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    carol = (await api('GET', '/api/user/carol_web')).body;
    assert.equal(carol.auto_delete_in_days, null);
    assert.equal(carol.next_plan, null);
    assert.deepEqual(carol.inbounds.trojan.toSorted(), ['Trojan A', 'Trojan B']);
    await waitFor('the node to serve carol_web on Trojan B too', async () => (await trojanEcho(portB, password, echoPort, 1024)) === 1024);

    // A plan given again and started at once: usage logged and reset,
    // the plan's limit replaces the old one (no carry-over asked). The
    // node reports every second; bytes it reports after the reset count
    // toward the new plan, so wait until the last ones are in.
    let last = -1;
    let steadySince = Date.now();
    await waitFor("carol_web's usage to stop changing", async () => {
      const now = (await api('GET', '/api/user/carol_web')).body.used_traffic;
      if (now !== last) {
        last = now;
        steadySince = Date.now();
      }
      return Date.now() - steadySince > 3000;
    });

    // The reseller's count of its users' traffic, and its reset.
    await page.goto(`${base}/dashboard/admins`);
    const adminsCard = page.getByRole('region', { name: 'Admins' });
    const shopUsage = async () => (await api('GET', '/api/admins')).body.find((a) => a.username === 'shop_admin').users_usage;
    assert.ok((await shopUsage()) >= 2 * size, `shop_admin's users_usage ${String(await shopUsage())}`);
    await adminsCard.locator('tr[data-admin="shop_admin"]').getByRole('button', { name: 'Reset count' }).click();
    await confirmDialog(page);
    await adminsCard.getByRole('status').getByText("Reset shop_admin's usage count.").waitFor();
    assert.equal(await shopUsage(), 0);
    assert.ok((await api('GET', '/api/user/carol_web')).body.used_traffic > 0, "the users' own usage stays");

    // Everyone's usage reset at once: lifetime usage stays.
    await page.goto(`${base}/dashboard/users?search=carol_web`);
    await users.getByRole('button', { name: 'Reset all usage' }).click();
    await confirmDialog(page);
    await users.getByRole('status').getByText("Reset every user's usage.").waitFor();
    carol = (await api('GET', '/api/user/carol_web')).body;
    assert.equal(carol.used_traffic, 0);
    assert.ok(carol.lifetime_used_traffic >= last, 'lifetime usage kept through the reset');
    await row.getByRole('button', { name: 'Edit' }).click();
    edit = page.getByRole('form', { name: 'Edit carol_web' });
    await edit.getByLabel('Give a next plan when this one runs out').check();
    await edit.getByLabel("Next plan's limit in GiB (empty: unlimited)").fill('10');
    await edit.getByRole('button', { name: 'Save' }).click();
    await row.getByRole('button', { name: 'Next plan now' }).click();
    await users.getByRole('status').getByText("Started carol_web's next plan.").waitFor();
    carol = (await api('GET', '/api/user/carol_web')).body;
    assert.equal(carol.next_plan, null);
    assert.equal(carol.data_limit, 10 * 1024 ** 3);
    assert.equal(carol.used_traffic, 0);
    assert.ok(carol.lifetime_used_traffic >= used, 'lifetime usage kept');
    await page.close();
  } finally {
    node.kill('SIGTERM');
    if (node.exitCode === null) {
      await new Promise((r) => node.once('exit', r));
    }
    echo.close();
    rmSync(nodeDir, { recursive: true, force: true });
    await api('DELETE', '/api/user/carol_web');
    await api('DELETE', '/api/admin/shop_admin');
    await api('DELETE', `/api/node/${String(created.body.id)}`);
    await api('PUT', '/api/core/config', savedConfig);
  }
});

test('users that ran out long ago are found and deleted in one go', async () => {
  const now = Math.floor(Date.now() / 1000);
  for (const [username, expire] of [
    ['gone_long', now - 40 * 86400],
    ['gone_lately', now - 5 * 86400],
    ['still_here', 0],
  ]) {
    const r = await api('POST', '/api/user', { username, proxies: { vless: {} }, expire });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await waitFor('both to be expired', async () => {
    const statuses = await Promise.all(['gone_long', 'gone_lately'].map(async (u) => (await api('GET', `/api/user/${u}`)).body.status));
    return statuses.every((st) => st === 'expired');
  });
  const page = await newPage();
  await page.goto(`${base}/dashboard/users`);
  const users = page.getByRole('region', { name: 'Users' });
  await users.getByRole('button', { name: 'Clean up' }).click();
  const form = page.getByRole('form', { name: 'Clean up users' });
  await form.getByLabel('Ran out at least this many days ago').fill('30');
  await form.getByRole('button', { name: 'Find' }).click();
  assert.equal(await form.getByRole('status', { name: 'Users found' }).innerText(), '1 user: gone_long');
  await form.getByRole('button', { name: 'Delete 1 user' }).click();
  await confirmDialog(page);
  await users.getByRole('status').getByText('Deleted 1 user that had run out.').waitFor();
  assert.equal((await api('GET', '/api/user/gone_long')).status, 404);
  assert.equal((await api('GET', '/api/user/gone_lately')).status, 200, 'ran out 5 days ago: kept');
  assert.equal((await api('GET', '/api/user/still_here')).status, 200);

  await users.getByRole('button', { name: 'Clean up' }).click();
  await form.getByLabel('Ran out at least this many days ago').fill('60');
  await form.getByRole('button', { name: 'Find' }).click();
  await form.getByText('No user ran out that long ago.').waitFor();
  await form.getByLabel('Ran out at least this many days ago').fill('-1');
  await form.getByRole('button', { name: 'Find' }).click();
  await form.getByRole('alert').getByText('Days: a whole number', { exact: false }).waitFor();
  await form.getByRole('button', { name: 'Close' }).click();
  for (const u of ['gone_lately', 'still_here']) {
    assert.equal((await api('DELETE', `/api/user/${u}`)).status, 200);
  }
  await page.close();
});

test('on a panel with a self-signed certificate the node command pins it, and that command connects', async () => {
  const tlsDir = mkdtempSync(join(tmpdir(), 'outpost-web-tls-'));
  const [crt, key] = [join(tlsDir, 'panel.crt'), join(tlsDir, 'panel.key')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const certPEM = readFileSync(crt, 'utf8');
  const pin = new X509Certificate(certPEM).fingerprint256.replaceAll(':', '').toLowerCase();
  const port = await freePort();
  const origin = `https://127.0.0.1:${String(port)}`;
  let log = '';
  const tlsPanel = spawnTied([panelBin, '--listen', `127.0.0.1:${String(port)}`, '--data-dir', join(tlsDir, 'data'), '--tls-cert', crt, '--tls-key', key], {
    env: { ...process.env, SUDO_USERNAME: admin.username, SUDO_PASSWORD: admin.password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  tlsPanel.stdout.on('data', (d) => (log += String(d)));
  tlsPanel.stderr.on('data', (d) => (log += String(d)));
  let node = null;
  const tlsContext = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    await waitFor('the HTTPS panel', () =>
      new Promise((resolve) => {
        https.get(`${origin}/healthz`, { ca: certPEM }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        }).on('error', () => {
          resolve(false);
        });
      }),
    );
    const page = await tlsContext.newPage();
    await page.goto(`${origin}/dashboard/nodes`);
    await signIn(page);
    const nodes = page.getByRole('region', { name: 'Nodes' });
    await nodes.getByRole('button', { name: 'New node' }).click();
    const form = page.getByRole('form', { name: 'New node' });
    await form.getByLabel('Name').fill('tls_node');
    await form.getByRole('button', { name: 'Create' }).click();
    const notice = nodes.getByRole('status', { name: 'Node token' });
    const command = await notice.locator('pre').innerText();
    assert.match(command, new RegExp(`^bin/node --panel ${origin} --token \\S+ --panel-cert-sha256 ${pin}$`));
    await notice.getByText('self-signed', { exact: false }).waitFor();

    // The command as shown, run: the node gets in over TLS.
    const [, ...args] = command.split(' ');
    const nodeDir = join(tlsDir, 'node');
    node = spawnTied([nodeBin, ...args, '--state-dir', nodeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    node.stdout.on('data', (d) => (log += `node: ${String(d)}`));
    node.stderr.on('data', (d) => (log += `node: ${String(d)}`));
    await notice.getByRole('button', { name: 'Done' }).click();
    const row = nodes.locator('tr[data-node="tls_node"]');
    await waitFor('tls_node to connect', async () => {
      await nodes.getByRole('button', { name: 'Refresh' }).click();
      return (await row.locator('td[data-label="Status"]').textContent()).trim() === 'Connected';
    });
    await page.close();
  } catch (err) {
    throw new Error(`${String(err)}\nHTTPS panel and node output:\n${log.slice(-3000)}`, { cause: err });
  } finally {
    await tlsContext.close();
    for (const p of [node, tlsPanel]) {
      if (p && p.exitCode === null) {
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
      }
    }
    rmSync(tlsDir, { recursive: true, force: true });
  }
});

// The dashboard's API types are generated (web/scripts/openapi-types.mjs)
// from the panel's OpenAPI document, itself generated from the Go types:
// the committed file must be what the running panel's document renders to.
test("the dashboard's API types match the panel's OpenAPI document", async () => {
  const doc = await (await fetch(`${base}/openapi.json`)).json();
  const want = await renderTypes(doc);
  const have = readFileSync(schemaFile, 'utf8');
  assert.ok(
    have === want,
    `${schemaFile} is stale: run \`node web/scripts/openapi-types.mjs ${base}/openapi.json\` against a panel built from this tree`,
  );
  assert.ok(!existsSync(join(root, 'web/src/types')), 'hand-written API types are back in web/src/types');
});

// The first page (the overview after signing in) starts with at most
// 350 KB of JavaScript, gzipped: the entry script and what it imports
// statically (index.html's script and modulepreload links), so every other
// page is its own chunk, fetched when first visited. The Overview's traffic
// chart (recharts, ~130 KB) is itself a lazy chunk fetched after the stats
// are painted; everything the overview loads, chart included, stays under
// 400 KB. Both numbers are printed for docs/benchmarks.md.
test('the first page loads at most 350 KB of JavaScript, gzipped', async () => {
  const gz = async (url) => gzipSync(Buffer.from(await (await fetch(url)).arrayBuffer()), { level: 9 }).length;
  const html = await (await fetch(`${base}/dashboard/`)).text();
  const initial = [...html.matchAll(/(?:src|href)="([^"]+\.js)"/g)].map((m) => new URL(m[1], base).href);
  assert.ok(initial.length > 0, html);
  let initialGz = 0;
  for (const url of initial) {
    initialGz += await gz(url);
  }
  const ctx = await browser.newContext();
  await ctx.addInitScript((token) => {
    localStorage.setItem('outpost.token', token);
  }, apiToken);
  const page = await ctx.newPage();
  const scripts = new Set();
  page.on('response', (r) => {
    if (r.url().endsWith('.js')) {
      scripts.add(r.url());
    }
  });
  await page.goto(`${base}/dashboard/`);
  await page.getByRole('region', { name: 'Overview' }).locator('.stat').first().waitFor();
  await page.waitForLoadState('networkidle');
  let allGz = 0;
  for (const url of scripts) {
    allGz += await gz(url);
  }
  await ctx.close();
  console.log(`first page: ${String(initial.length)} initial scripts, ${String(initialGz)} bytes gzipped; with its lazy chunks ${String(scripts.size)} scripts, ${String(allGz)} bytes gzipped`);
  assert.ok(initial.every((u) => scripts.has(u)), 'index.html names scripts the page did not load');
  assert.ok(initialGz <= 350 * 1000, `the first page starts with ${String(initialGz)} bytes of gzipped JavaScript`);
  assert.ok(allGz <= 400 * 1000, `the first page loads ${String(allGz)} bytes of gzipped JavaScript with its lazy chunks`);
  // The pages that need CodeMirror, the other languages or another page's
  // code did not come with it.
  assert.ok(![...scripts].some((u) => /CoreConfig|Hosts|User-|Nodes|\/(fa|ru|zh)-/.test(u)), [...scripts].join('\n'));
});

test('on a phone the tables become labelled cards and nothing scrolls sideways', async () => {
  const page = await newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/dashboard/users?search=bob_web`);
  const users = page.getByRole('region', { name: 'Users' });
  const row = users.locator('tr[data-username="bob_web"]');
  await row.waitFor();
  const label = await row.locator('td[data-label="Status"]').evaluate((td) => getComputedStyle(td, '::before').content);
  assert.equal(label, '"Status"');
  for (const path of ['/', '/users', '/users/bob_web', '/nodes', '/hosts', '/core', '/templates', '/admins', '/settings', '/logs']) {
    await page.goto(`${base}/dashboard${path}`);
    await page.locator('main section[aria-label]').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `${path} is ${String(overflow)} px wider than the phone`);
  }
  // The menu opens from the burger and takes the admin to a page.
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Nodes' }).click();
  await page.waitForURL(`${base}/dashboard/nodes`);
  await page.close();
});

test('the keyboard alone: move between pages, create a user, select it and act on it', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/`);
  await page.getByRole('region', { name: 'Overview' }).waitFor();
  // Tab reaches the navigation; Enter follows a link.
  let onUsersLink = false;
  for (let i = 0; i < 15 && !onUsersLink; i++) {
    await page.keyboard.press('Tab');
    onUsersLink = await page.evaluate(() => document.activeElement?.textContent === 'Users' && document.activeElement.tagName === 'A');
  }
  assert.ok(onUsersLink, 'Tab never reached the Users link');
  await page.keyboard.press('Enter');
  const users = page.getByRole('region', { name: 'Users' });
  await users.waitFor();
  // Tab on to "New user" (past the rest of the navigation, the header and
  // the filters); the drawer opens on the username field.
  let onNew = false;
  for (let i = 0; i < 40 && !onNew; i++) {
    await page.keyboard.press('Tab');
    onNew = await page.evaluate(() => document.activeElement?.textContent === 'New user');
  }
  assert.ok(onNew, 'Tab never reached New user');
  await page.keyboard.press('Enter');
  await page.getByRole('form', { name: 'New user' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-path')), 'username');
  await page.keyboard.type('keys_user');
  await page.keyboard.press('Enter');
  await users.getByRole('status').getByText('Created keys_user.').waitFor();
  assert.equal((await api('GET', '/api/user/keys_user')).status, 200);
  // Space ticks its box; the bar's Disable is reachable and works.
  const box = users.getByRole('checkbox', { name: 'Select keys_user' });
  await box.focus();
  await page.keyboard.press('Space');
  const bar = users.getByRole('toolbar', { name: 'Selected users' });
  await bar.getByText('1 selected').waitFor();
  await bar.getByRole('button', { name: 'Disable' }).focus();
  await page.keyboard.press('Enter');
  await users.getByRole('status').getByText('Changed 1 user.').waitFor();
  assert.equal((await api('GET', '/api/user/keys_user')).body.status, 'disabled');
  // Escape closes the confirmation without deleting.
  await users.locator('tr[data-username="keys_user"]').getByRole('button', { name: 'Delete' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Are you sure?' }).waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog', { name: 'Are you sure?' }).waitFor({ state: 'detached' });
  assert.equal((await api('GET', '/api/user/keys_user')).status, 200);
  assert.equal((await api('DELETE', '/api/user/keys_user')).status, 200);
  await page.close();
});

test('Persian turns the page right-to-left and is remembered; the theme too; signing out ends the session', async () => {
  const page = await newPage();
  await page.goto(`${base}/dashboard/users`);
  await page.getByRole('region', { name: 'Users' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'ltr');
  await page.getByLabel('Language').selectOption('fa');
  await page.getByRole('region', { name: 'کاربران' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'fa');
  // Right-to-left for real: the navigation sits on the right.
  const navBox = await page.getByRole('navigation', { name: 'صفحه‌ها' }).boundingBox();
  assert.ok(navBox.x > 700, `the navigation starts at x=${String(navBox.x)}`);
  await page.locator('label', { hasText: 'تیره' }).click();
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute('data-mantine-color-scheme')), 'dark');
  await page.reload();
  await page.getByRole('region', { name: 'کاربران' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl', 'the language survives a reload');
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute('data-mantine-color-scheme')), 'dark', 'the theme survives a reload');
  await page.getByLabel('زبان').selectOption('en');
  await page.locator('label', { hasText: 'Light' }).click();
  await page.getByRole('region', { name: 'Users' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'ltr');

  // Sign out: the token is gone and a deep link asks to sign in again.
  const other = await newPage();
  await other.goto(`${base}/dashboard/nodes`);
  await other.getByRole('region', { name: 'Nodes' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/dashboard\/login/);
  assert.equal(await page.evaluate(() => localStorage.getItem('outpost.token')), null);
  // Another tab of the same profile follows.
  await other.waitForURL(/\/dashboard\/login/);
  await page.goto(`${base}/dashboard/templates`);
  await page.waitForURL(/\/dashboard\/login\?next=%2Ftemplates/);
  await signIn(page);
  await page.getByRole('region', { name: 'Templates' }).waitFor();
  await other.close();
  await page.close();
});

// Every page in both languages: axe-core finds no serious or critical
// violation (light theme, desktop). With SCREENSHOTS=1 every page is also
// shot in both themes on a desktop and a phone, for docs/screenshots.
test('every page passes axe-core in English and Persian (and is shot for docs/screenshots)', async () => {
  assert.equal((await api('POST', '/api/user', { username: 'shot_user', proxies: { vless: {}, trojan: {} }, data_limit: 50 * 1024 ** 3, note: 'screenshot' })).status, 200);
  const pages = [
    ['overview', '/', 'Overview'],
    ['users', '/users', 'Users'],
    ['user', '/users/shot_user', 'shot_user'],
    ['nodes', '/nodes', 'Nodes'],
    ['hosts', '/hosts', 'Hosts'],
    ['core', '/core', 'Core config'],
    ['templates', '/templates', 'Templates'],
    ['admins', '/admins', 'Admins'],
    ['settings', '/settings', 'Settings'],
    ['security', '/security', 'Security'],
    ['audit', '/audit', 'Audit log'],
    ['logs', '/logs', 'Logs'],
    ['backups', '/backups', 'Backups'],
  ];
  const shots = join(root, 'docs', 'screenshots');
  // Written only when asked for (SCREENSHOTS=1): every run would otherwise
  // change them (times, ports) and leave the tree dirty.
  const writeShots = process.env.SCREENSHOTS === '1';
  if (writeShots) {
    mkdirSync(shots, { recursive: true });
  }
  const problems = [];
  const devices = [
    ['desktop', { width: 1440, height: 900 }],
    ['phone', { width: 390, height: 844 }],
  ];
  for (const lang of ['en', 'fa']) {
    for (const scheme of writeShots ? ['light', 'dark'] : ['light']) {
      for (const [device, viewport] of writeShots ? devices : devices.slice(0, 1)) {
        const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: scheme });
        await ctx.addInitScript(
          ([token, language, theme]) => {
            localStorage.setItem('outpost.token', token);
            localStorage.setItem('outpost.language', language);
            localStorage.setItem('outpost.color-scheme', theme);
          },
          [apiToken, lang, scheme],
        );
        const page = await ctx.newPage();
        for (const [name, path] of pages) {
          await page.goto(`${base}/dashboard${path}`);
          await page.locator('main section[aria-label]').first().waitFor();
          await page.waitForLoadState('networkidle');
          await page.locator('[role="status"][aria-label] .mantine-Loader-root').first().waitFor({ state: 'detached' }).catch(() => undefined);
          assert.equal(await page.evaluate(() => document.documentElement.dir), lang === 'fa' ? 'rtl' : 'ltr');
          if (scheme === 'light' && device === 'desktop') {
            for (const v of await axeViolations(page)) {
              problems.push(`${lang} ${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
            }
          }
          if (writeShots) {
            await page.screenshot({ path: join(shots, `${name}-${lang}-${scheme}-${device}.png`) });
          }
        }
        await ctx.close();
      }
    }
  }
  assert.deepEqual(problems, []);
  if (writeShots) {
    assert.equal(readdirSync(shots).filter((f) => f.endsWith('.png')).length >= pages.length * 8, true);
  }
  assert.equal((await api('DELETE', '/api/user/shot_user')).status, 200);
});
