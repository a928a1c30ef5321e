// Credentials per device (issue 14, item 2) in a real browser against a
// real panel: the global switch on Settings, the Default / On / Off
// choice on a template and on a user, and the devices card of a user
// whose two devices fetched the subscription: each with its own traffic
// and its own credential, the one its links carry. axe-core checks the
// pages in English and in Persian (right to left).
//
// Run after `make build`: node --test web/e2e/perdevice.test.mjs

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
  const res = await fetch(`${url}/v2ray`, {
    headers: { 'User-Agent': 'Happ/3.1.0', 'x-hwid': hwid, 'x-device-os': 'Android', 'x-ver-os': '15', 'x-device-model': model },
  });
  assert.equal(res.status, 200);
  return Buffer.from(await res.text(), 'base64').toString();
}

const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());

test('credentials per device: set globally, per template and per user; the devices card tells the devices apart', async () => {
  const page = await h.newPage();

  // The global switch, off by default; saved, it survives a reload.
  await page.goto(`${h.base}/dashboard/settings`);
  await signIn(page);
  const settings = page.getByRole('form', { name: 'Subscription' });
  const perDevice = settings.getByRole('switch', { name: 'Credentials per device' });
  await perDevice.waitFor();
  assert.equal(await perDevice.isChecked(), false);
  await settings.getByText('Existing clients get their new credentials on their next subscription update.', { exact: false }).waitFor();
  await perDevice.click({ force: true });
  await settings.getByRole('button', { name: 'Save' }).click();
  await settings.getByRole('status').getByText('Saved.').waitFor();
  assert.equal((await h.api('GET', '/api/subscription/settings')).body.per_device_credentials, true);
  await page.reload();
  await perDevice.waitFor();
  assert.equal(await perDevice.isChecked(), true, 'the switch is on after a reload');
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);

  // A template with credentials per device On; editing it shows On.
  await page.goto(`${h.base}/dashboard/templates`);
  await page.getByRole('button', { name: 'New template' }).click();
  const tform = page.getByRole('form', { name: 'New template' });
  await tform.getByRole('textbox', { name: 'Name', exact: true }).fill('own_creds');
  const tchoice = tform.getByRole('radiogroup', { name: 'Credentials per device' });
  assert.equal(await tchoice.getByRole('radio', { name: 'Default' }).isChecked(), true, 'a new template follows the default');
  await tchoice.getByRole('radio', { name: 'On' }).check();
  assert.deepEqual(await axeViolations(page), []);
  await tform.getByRole('button', { name: 'Create' }).click();
  await tform.waitFor({ state: 'detached' });
  const template = (await h.api('GET', '/api/user_template')).body.find((t) => t.name === 'own_creds');
  assert.equal(template.per_device_credentials, true);
  await page.locator('tr[data-template="own_creds"]').getByRole('button', { name: 'Edit' }).click();
  const tedit = page.getByRole('form', { name: 'Edit template own_creds' });
  assert.equal(await tedit.getByRole('radiogroup', { name: 'Credentials per device' }).getByRole('radio', { name: 'On' }).isChecked(), true);
  await tedit.getByRole('button', { name: 'Cancel' }).click();
  await tedit.waitFor({ state: 'detached' });

  // A user edited to Off, then back to Default (which is on now).
  const created = await h.api('POST', '/api/user', { username: 'pd_user', proxies: { vless: {} } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.equal(created.body.per_device_credentials, null);
  assert.equal(created.body.per_device_active, true, 'the global default applies');
  const editUser = async (choice) => {
    await page.goto(`${h.base}/dashboard/users?search=pd_user`);
    await page.locator('tr[data-username="pd_user"]').getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit pd_user' });
    await form.getByRole('radiogroup', { name: 'Credentials per device' }).getByRole('radio', { name: choice }).check();
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved pd_user.').waitFor();
    return (await h.api('GET', '/api/user/pd_user')).body;
  };
  let user = await editUser('Off');
  assert.equal(user.per_device_credentials, false);
  assert.equal(user.per_device_active, false);
  await page.goto(`${h.base}/dashboard/users/pd_user`);
  const card = page.getByRole('region', { name: 'Devices' });
  await card.getByTestId('credential-mode').getByText('Shared credentials').waitFor();
  user = await editUser('Default');
  assert.equal(user.per_device_credentials, null);
  assert.equal(user.per_device_active, true);
  // No shared links in the mode: the user's own credentials run nowhere.
  assert.deepEqual(user.links, []);
  await page.goto(`${h.base}/dashboard/users/pd_user`);
  await page.getByText('No shared links: with credentials per device', { exact: false }).waitFor();

  // Two devices fetch the subscription: each gets links with its own credential.
  const subUrl = h.base + user.subscription_url.slice(user.subscription_url.indexOf('/sub/'));
  const phoneLinks = await fetchSub(subUrl, 'hwid-pd-phone-01', 'Pixel 9');
  const laptopLinks = await fetchSub(subUrl, 'hwid-pd-laptop-02', 'ThinkPad');
  const list = (await h.api('GET', '/api/user/pd_user/devices')).body;
  assert.equal(list.per_device, true);
  const phone = list.devices.find((d) => d.hwid === 'hwid-pd-phone-01');
  const laptop = list.devices.find((d) => d.hwid === 'hwid-pd-laptop-02');
  assert.ok(phone.credential && laptop.credential, JSON.stringify(list));
  assert.notEqual(phone.credential, laptop.credential);
  assert.ok(phoneLinks.includes(phone.credential) && !phoneLinks.includes(laptop.credential), 'the phone gets its own credential');
  assert.ok(laptopLinks.includes(laptop.credential) && !laptopLinks.includes(phone.credential), 'the laptop gets its own credential');

  // The devices card: the mode, a traffic and a credential column.
  await page.goto(`${h.base}/dashboard/users/pd_user`);
  await card.getByTestId('credential-mode').getByText('Own credentials per device').waitFor();
  const table = card.getByTestId('devices');
  await table.getByRole('columnheader', { name: 'Traffic' }).waitFor();
  await table.getByRole('columnheader', { name: 'Credential' }).waitFor();
  for (const d of [phone, laptop]) {
    const row = card.locator(`tr[data-device="${d.hwid}"]`);
    // No node carried traffic here: 0 bytes each, formatted like every byte count.
    assert.equal(d.used_traffic, 0);
    assert.equal((await row.getByTestId('device-traffic').innerText()).trim(), '0 B');
    const shown = (await row.getByTestId('credential').innerText()).trim();
    assert.ok(shown.length < d.credential.length && d.credential.startsWith(shown.slice(0, 8)), `${shown} shortens ${d.credential}`);
    assert.ok(!(await row.innerText()).includes(d.credential), 'the full credential is not in the table');
    // The whole value in a tooltip and on the clipboard.
    await row.getByTestId('credential').hover();
    await page.getByRole('tooltip').getByText(d.credential, { exact: true }).waitFor();
    await row.getByRole('button', { name: `Copy the credential of ${d === phone ? 'Pixel 9' : 'ThinkPad'}` }).click();
    assert.equal(await clipboard(page), d.credential);
    await page.mouse.move(0, 0);
  }
  const cells = await table.locator('[data-testid="credential"]').allInnerTexts();
  assert.equal(new Set(cells).size, 2, 'two different credentials are shown');
  // The copy buttons say "Copied" for a moment; axe checks the table as it stays.
  for (let i = 0; i < 100 && (await card.getByText('Copied', { exact: true }).count()) > 0; i++) {
    await page.waitForTimeout(100);
  }
  assert.equal(await card.getByText('Copied', { exact: true }).count(), 0, 'the copy buttons went back to "Copy"');
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);

  // Removing a device says it is cut off on every node; cancelled, it stays.
  await card.locator('tr[data-device="hwid-pd-phone-01"]').getByRole('button', { name: 'Remove' }).click();
  const dialog = page.getByRole('dialog', { name: 'Are you sure?' });
  await dialog.getByText('It is cut off on every node', { exact: false }).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await h.api('GET', '/api/user/pd_user/devices')).body.devices.length, 2);

  // Persian, right to left: the card and the forms, and axe-core again.
  await page.evaluate(() => window.localStorage.setItem('outpost.language', 'fa'));
  await page.reload();
  const faCard = page.getByRole('region', { name: 'دستگاه‌ها' });
  await faCard.getByTestId('credential-mode').getByText('اعتبارنامهٔ جدا برای هر دستگاه').waitFor();
  await faCard.getByRole('columnheader', { name: 'ترافیک' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
  assert.equal(await faCard.getByTestId('credential').first().evaluate((el) => getComputedStyle(el).direction), 'ltr', 'a credential reads left to right');
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);
  await page.goto(`${h.base}/dashboard/settings`);
  await page.getByRole('switch', { name: 'اعتبارنامهٔ جدا برای هر دستگاه' }).waitFor();
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);
  await page.goto(`${h.base}/dashboard/templates`);
  await page.locator('tr[data-template="own_creds"]').getByRole('button', { name: 'ویرایش' }).click();
  await page.getByRole('radiogroup', { name: 'اعتبارنامهٔ جدا برای هر دستگاه' }).getByRole('radio', { name: 'روشن' }).waitFor();
  assert.deepEqual(await axeViolations(page), []);
  await page.close();
});
