// Reseller caps (issue 13, item 4) in a real browser against a real panel:
// the sudo sets a reseller's caps on the Admins page, the reseller is
// refused past them with a 403 that names the cap, and sees its own use on
// Overview at 390 px. axe-core checks both pages.
//
// Run after `make build`: node --test web/e2e/caps.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, axeViolations, signIn, startPanel } from './harness.mjs';

const seller = { username: 'cap_seller', password: 'cap-pass-1234' };
let h;

before(async () => {
  h = await startPanel();
  const r = await h.api('POST', '/api/admin', { username: seller.username, password: seller.password, is_sudo: false });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await h?.stop();
});

async function sellerToken() {
  const res = await fetch(`${h.base}/api/admin/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(seller).toString(),
  });
  assert.equal(res.status, 200);
  return (await res.json()).access_token;
}

async function createAs(token, username) {
  const res = await fetch(`${h.base}/api/user`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ username, proxies: { vless: {} }, data_limit: 1024 ** 3, expire: 4102444800 }),
  });
  return { status: res.status, body: await res.json() };
}

test('a sudo sets caps on the Admins page; the reseller is held to them and sees its use', async () => {
  const page = await h.newPage();
  await page.goto(`${h.base}/dashboard/admins`);
  await signIn(page, admin);
  const row = page.locator(`tr[data-admin="${seller.username}"]`);
  await row.waitFor();
  await row.getByRole('button', { name: 'Edit' }).click();
  const form = page.getByRole('form', { name: `Edit admin ${seller.username}` });
  await form.getByLabel('Most users (empty: no cap)').fill('2');
  await form.getByLabel('Most total data limit, GiB (empty: no cap)').fill('5');
  await form.getByLabel('May create unlimited users (no data limit or no expiry)').uncheck();
  await form.getByRole('button', { name: 'Save' }).click();
  await form.waitFor({ state: 'detached' });

  const admins = await h.api('GET', '/api/admins');
  const got = admins.body.find((a) => a.username === seller.username);
  assert.equal(got.max_users, 2);
  assert.equal(got.max_data_limit, 5 * 1024 ** 3);
  assert.equal(got.allow_unlimited, false);
  assert.equal(got.max_used_traffic, null);

  const token = await sellerToken();
  assert.equal((await createAs(token, 'cap_u1')).status, 200);
  assert.equal((await createAs(token, 'cap_u2')).status, 200);
  const refused = await createAs(token, 'cap_u3');
  assert.equal(refused.status, 403);
  assert.equal(refused.body.cap, 'max_users');
  assert.equal(refused.body.limit, 2);
  assert.equal(refused.body.current, 3);

  // The sudo's table shows the use.
  await page.getByRole('button', { name: 'Refresh' }).click();
  await row.locator('[data-cap="max_users"]', { hasText: '2 / 2' }).waitFor();
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);

  // The reseller's own Overview, on a phone.
  const phone = await h.browser.newContext({ viewport: { width: 390, height: 844 } });
  try {
    const p = await phone.newPage();
    await p.goto(`${h.base}/dashboard/login`);
    await signIn(p, seller);
    const mine = p.getByRole('region', { name: 'Your caps' });
    await mine.locator('[data-cap="max_users"]', { hasText: '2 / 2' }).waitFor();
    await mine.locator('[data-cap="allow_unlimited"]').waitFor();
    await mine.locator('[data-cap="max_data_limit"]').waitFor();
    await p.waitForLoadState('networkidle');
    assert.deepEqual(await axeViolations(p), []);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'Overview scrolls sideways at 390 px');
  } finally {
    await phone.close();
  }
});
