// The HWID device registry (issue 14, item 1) in a real browser against a
// real panel: devices that fetched a user's subscription are listed on the
// user's page, one is renamed and one removed (its slot frees up for the
// next device); the global device limit and the no-x-hwid policy are set
// on Settings, and a template carries a device limit. axe-core checks the
// pages.
//
// Run after `make build`: node --test web/e2e/devices.test.mjs

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

async function fetchSub(url, hwid, model) {
  const headers = { 'User-Agent': 'Happ/3.1.0' };
  if (hwid) {
    Object.assign(headers, { 'x-hwid': hwid, 'x-device-os': 'Android', 'x-ver-os': '15', 'x-device-model': model });
  }
  const res = await fetch(`${url}/v2ray`, { headers });
  assert.equal(res.status, 200);
  return Buffer.from(await res.text(), 'base64').toString();
}

test('devices are listed, renamed and removed on the user page; limits are set in Settings and templates', async () => {
  const created = await h.api('POST', '/api/user', { username: 'dev_user', proxies: { vless: {} }, hwid_device_limit: 1 });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const subUrl = h.base + created.body.subscription_url.slice(created.body.subscription_url.indexOf('/sub/'));
  const uuid = created.body.proxies.vless.id;
  assert.ok((await fetchSub(subUrl, 'hwid-phone-0001', 'Pixel 9')).includes(uuid), 'the first device gets configs');
  assert.ok(!(await fetchSub(subUrl, 'hwid-laptop-0002', 'ThinkPad')).includes(uuid), 'the second device is past the limit');

  const page = await h.newPage();
  await page.goto(`${h.base}/dashboard/users/dev_user`);
  await signIn(page);
  const card = page.getByRole('region', { name: 'Devices' });
  const phone = card.locator('tr[data-device="hwid-phone-0001"]');
  const laptop = card.locator('tr[data-device="hwid-laptop-0002"]');
  await phone.waitFor();
  await laptop.getByText('Over the limit').waitFor();
  await card.getByTestId('device-count').getByText('1 of 1').waitFor();
  assert.ok(!(await card.textContent()).includes('hwid-phone-0001'), 'the raw HWID is shown in full');
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);

  // Rename the phone.
  await phone.getByRole('button', { name: 'Rename' }).click();
  const renameForm = card.getByRole('form', { name: 'Rename Pixel 9' });
  await renameForm.getByLabel('New name').fill('Work phone');
  await renameForm.getByRole('button', { name: 'Save' }).click();
  await phone.getByText('Work phone').waitFor();
  let list = (await h.api('GET', '/api/user/dev_user/devices')).body;
  assert.equal(list.devices.find((d) => d.hwid === 'hwid-phone-0001').name, 'Work phone');

  // Remove it: the laptop gets the slot on its next fetch.
  await phone.getByRole('button', { name: 'Remove' }).click();
  const dialog = page.getByRole('dialog', { name: 'Are you sure?' });
  await dialog.getByRole('button', { name: 'Remove' }).click();
  await phone.waitFor({ state: 'detached' });
  assert.ok((await fetchSub(subUrl, 'hwid-laptop-0002', 'ThinkPad')).includes(uuid), 'the freed slot went to the laptop');
  list = (await h.api('GET', '/api/user/dev_user/devices')).body;
  assert.deepEqual(list.devices.map((d) => [d.hwid, d.refused]), [['hwid-laptop-0002', false]]);

  // The global default and the no-x-hwid policy, on Settings.
  await page.goto(`${h.base}/dashboard/settings`);
  const form = page.getByRole('form', { name: 'Subscription' });
  const limit = form.getByLabel('Device limit per user (0: unlimited)');
  await limit.fill('300');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByText('A whole number from 0 to 256.').waitFor();
  await limit.fill('3');
  await form.getByLabel('Fetches without x-hwid').selectOption('refuse');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByRole('status').getByText('Saved.').waitFor();
  const set = (await h.api('GET', '/api/subscription/settings')).body;
  assert.equal(set.hwid_device_limit, 3);
  assert.equal(set.hwid_missing, 'refuse');
  assert.ok(!(await fetchSub(subUrl, '', '')).includes(uuid), 'a fetch without x-hwid is refused');
  assert.deepEqual(await axeViolations(page), []);

  // A template with a device limit.
  await page.goto(`${h.base}/dashboard/templates`);
  await page.getByRole('button', { name: 'New template' }).click();
  const tform = page.getByRole('form', { name: 'New template' });
  await tform.getByRole('textbox', { name: 'Name', exact: true }).fill('two_devices');
  await tform.getByLabel('Device limit (empty: the global default, 0: unlimited)').fill('2');
  await tform.getByRole('button', { name: 'Create' }).click();
  await tform.waitFor({ state: 'detached' });
  const templates = (await h.api('GET', '/api/user_template')).body;
  assert.equal(templates.find((t) => t.name === 'two_devices').hwid_device_limit, 2);
});
