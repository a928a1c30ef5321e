// Marzban's USE_CUSTOM_JSON_* switches (issue 14, item 4) in a real browser
// against a real panel started with USE_CUSTOM_JSON_FOR_HAPP=yes: the
// Settings page shows that one as set by the environment and disabled,
// the rule tester says Happ gets Xray JSON by that switch and v2rayN gets
// links, and turning on v2rayN's switch and saving sends a real v2rayN
// fetch Xray JSON. axe-core checks the page.
//
// Run after `make build`: node --test web/e2e/customjson.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, axeViolations, signIn, startPanel } from './harness.mjs';

let h;

before(async () => {
  h = await startPanel({ env: { USE_CUSTOM_JSON_FOR_HAPP: 'yes' } });
});

after(async () => {
  await h?.stop();
});

async function fetchAs(url, ua) {
  const res = await fetch(url, { headers: { 'User-Agent': ua } });
  assert.equal(res.status, 200);
  return res.headers.get('content-type') ?? '';
}

test('the switches on the Settings page decide which clients get Xray JSON', async () => {
  const created = await h.api('POST', '/api/user', { username: 'json_switch', proxies: { vless: {} } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  let sub = created.body.subscription_url;
  if (!sub.startsWith('http')) sub = `${h.base}${sub}`;
  assert.match(await fetchAs(sub, 'v2rayN/7.10.5'), /^text\/plain/, 'v2rayN gets links by default');
  assert.match(await fetchAs(sub, 'Happ/1.63.1'), /^application\/json/, 'Happ gets JSON by the environment');

  const page = await h.newPage();
  await page.goto(`${h.base}/dashboard/settings`);
  await signIn(page, admin);
  const section = page.getByRole('region', { name: 'Xray JSON for v2ray clients' });
  await section.waitFor();
  const happ = section.getByRole('switch', { name: 'Xray JSON for Happ ≥ 1.63.1' });
  assert.equal(await happ.isChecked(), true);
  assert.equal(await happ.isDisabled(), true);
  await section.getByText("set in the panel's environment; change it there").waitFor();

  const tester = page.getByRole('region', { name: 'Try a User-Agent' });
  await tester.getByLabel('User-Agent').fill('Happ/1.63.1');
  await tester.locator('[data-tester-switch="USE_CUSTOM_JSON_FOR_HAPP"]').waitFor();
  await tester.getByLabel('User-Agent').fill('v2rayN/7.10.5');
  await tester.locator('[data-tester-result="v2ray"]').waitFor();

  // Drafting the switch changes the tester's answer before saving.
  const v2rayn = section.getByRole('switch', { name: 'Xray JSON for v2rayN ≥ 6.40' });
  await v2rayn.click({ force: true });
  await tester.locator('[data-tester-switch="USE_CUSTOM_JSON_FOR_V2RAYN"]').waitFor();
  assert.match(await fetchAs(sub, 'v2rayN/7.10.5'), /^text\/plain/, 'not saved yet');

  await page.getByRole('form', { name: 'Subscription' }).getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  const got = await h.api('GET', '/api/subscription/settings');
  assert.equal(got.body.use_custom_json_for_v2rayn, true);
  assert.deepEqual(got.body.custom_json_env, ['USE_CUSTOM_JSON_FOR_HAPP']);
  assert.match(await fetchAs(sub, 'v2rayN/7.10.5'), /^application\/json/, 'v2rayN gets JSON once saved');
  assert.match(await fetchAs(sub, 'v2rayNG/1.9.1'), /^text\/plain/, 'v2rayNG keeps links');

  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);
});
