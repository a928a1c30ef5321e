// The hosts form (variable chips, a live preview rendered by the panel,
// reordering by keyboard and by drag) and the user page's reset history and
// Persian (Jalali) dates, in chromium against bin/panel.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axeViolations, signIn, startPanel } from './harness.mjs';

let ctx;
before(async () => {
  // Tall enough that three hosts fit on screen, so a drag stays in view.
  ctx = await startPanel({ viewport: { width: 1440, height: 2400 } });
});
after(async () => {
  await ctx?.stop();
});

/** The share links of a user's subscription, in order (base64 body). */
async function subLinks(username) {
  const url = new URL((await ctx.api('GET', `/api/user/${username}`)).body.subscription_url);
  const res = await fetch(ctx.base + url.pathname);
  assert.equal(res.status, 200);
  return Buffer.from(await res.text(), 'base64').toString().split('\n').filter(Boolean);
}

/** Opens a dashboard page, signing in first when the profile is not. */
async function open(page, path, region) {
  await page.goto(`${ctx.base}/dashboard${path}`);
  const signInButton = page.getByRole('button', { name: 'Sign in' });
  const pageRegion = page.getByRole('region', { name: region });
  await signInButton.or(pageRegion).first().waitFor();
  if (await signInButton.isVisible()) {
    await signIn(page);
  }
  await pageRegion.waitFor();
  return pageRegion;
}

const remarkOf = (link) => decodeURIComponent(link.slice(link.lastIndexOf('#') + 1));

test('hosts: a chip-inserted variable shows in the preview before saving; reordered by keyboard and by drag, links follow', async () => {
  const { api, newPage } = ctx;
  assert.equal((await api('POST', '/api/user', { username: 'order_user', proxies: { vless: {} } })).status, 200);
  const put = await api('PUT', '/api/hosts', {
    'VLESS TCP': [
      { remark: 'alpha', address: 'a.example.com' },
      { remark: 'beta', address: 'b.example.com' },
      { remark: 'gamma', address: 'c.example.com' },
    ],
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));

  const page = await newPage();
  const card = await open(page, '/hosts', 'Hosts');
  const vless = card.getByRole('region', { name: 'VLESS TCP', exact: true });
  const host = (n) => vless.locator(`[data-host="VLESS TCP/${String(n)}"]`);
  const preview = card.getByRole('region', { name: 'Preview of the links' });
  const previewRemarks = async () => (await preview.getByTestId('hosts-preview').locator('[data-link]').evaluateAll((els) => els.map((e) => e.getAttribute('data-link')))).filter((l) => l.startsWith('vless://')).map(remarkOf);

  await ctx.waitFor('the preview of the saved hosts', async () => (await previewRemarks()).join() === 'alpha,beta,gamma');

  // A chip inserts the variable where the caret is in the field last edited.
  const remark = host(1).getByLabel('Remark');
  await remark.click();
  await remark.press('End');
  await remark.pressSequentially(' for ');
  await host(1).getByRole('button', { name: '{USERNAME}' }).click();
  assert.equal(await remark.inputValue(), 'alpha for {USERNAME}');
  // The preview follows before anything is saved.
  await ctx.waitFor('the chip in the preview', async () => (await previewRemarks()).join() === 'alpha for sample_user,beta,gamma');
  assert.equal((await api('GET', '/api/hosts')).body['VLESS TCP'][0].remark, 'alpha');

  // By keyboard: host 1 down (beta, alpha, gamma).
  await host(1).getByRole('button', { name: 'Move host 1 down' }).focus();
  await page.keyboard.press('Enter');
  assert.equal(await host(2).getByLabel('Remark').inputValue(), 'alpha for {USERNAME}');
  await ctx.waitFor('the preview in the keyboard order', async () => (await previewRemarks()).join() === 'beta,alpha for sample_user,gamma');

  // By drag: host 3 (gamma) onto host 1 (gamma, beta, alpha).
  const from = await host(3).getByRole('button', { name: /^Drag host 3/ }).boundingBox();
  const to = await host(1).getByRole('button', { name: /^Drag host 1/ }).boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2 - 10, { steps: 4 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 20 });
  await page.mouse.up();
  await ctx.waitFor('the dragged order', async () => (await host(1).getByLabel('Remark').inputValue()) === 'gamma');
  assert.equal(await host(2).getByLabel('Remark').inputValue(), 'beta');
  assert.equal(await host(3).getByLabel('Remark').inputValue(), 'alpha for {USERNAME}');
  await ctx.waitFor('the preview in the dragged order', async () => (await previewRemarks()).join() === 'gamma,beta,alpha for sample_user');

  assert.deepEqual(await axeViolations(page), []);

  await card.getByRole('button', { name: 'Save' }).click();
  await card.getByRole('status').getByText('Saved.', { exact: false }).waitFor();
  const saved = (await api('GET', '/api/hosts')).body['VLESS TCP'].map((h) => h.remark);
  assert.deepEqual(saved, ['gamma', 'beta', 'alpha for {USERNAME}']);
  const links = await subLinks('order_user');
  assert.deepEqual(links.map(remarkOf), ['gamma', 'beta', 'alpha for order_user']);
  assert.ok(links[0].includes('@c.example.com:'), links.join('\n'));
  await page.close();
});

test('user page: reset history after a reset, and a Jalali expiry date in Persian', async () => {
  const { api, newPage } = ctx;
  const expire = Date.UTC(2026, 2, 21, 12) / 1000; // 1405/01/01
  assert.equal((await api('POST', '/api/user', { username: 'reset_user', proxies: { vless: {} }, expire })).status, 200);

  const page = await newPage();
  await open(page, '/users/reset_user', 'reset_user');
  const resets = page.getByRole('region', { name: 'Usage resets' });
  await resets.getByText('No resets yet', { exact: false }).waitFor();

  assert.equal((await api('POST', '/api/user/reset_user/reset')).status, 200);
  assert.equal((await api('GET', '/api/user/reset_user/resets')).body.total, 1);
  await page.reload();
  await resets.getByTestId('resets').locator('tbody tr').first().waitFor();
  assert.equal(await resets.getByTestId('resets').locator('tbody tr').count(), 1);
  await page.getByText('Offline', { exact: true }).waitFor();
  assert.deepEqual(await axeViolations(page), []);

  // Persian: the same day in the Jalali calendar.
  await page.evaluate(() => window.localStorage.setItem('outpost.language', 'fa'));
  await page.reload();
  await page.getByText('فروردین', { exact: false }).first().waitFor();
  const body = await page.locator('body').innerText();
  assert.ok(body.includes('۱۴۰۵'), body.slice(0, 600));
  assert.ok(!body.includes('2026'), body.slice(0, 600));
  assert.deepEqual(await axeViolations(page), []);

  // The user form's expiry shows and takes Jalali days in Persian.
  await page.goto(`${ctx.base}/dashboard/users?search=reset_user`);
  await page.locator('tr[data-username="reset_user"]').getByRole('button', { name: 'ویرایش' }).click();
  const form = page.getByRole('form', { name: 'ویرایش reset_user' });
  const expiry = form.getByLabel('انقضا (UTC، خالی: هرگز)');
  assert.equal(await expiry.inputValue(), '1405/01/01');
  await expiry.fill('۱۴۰۵/۲/۱');
  await form.getByText('میلادی: 2026-04-21').waitFor();
  await form.getByRole('button', { name: 'ذخیره' }).click();
  await ctx.waitFor('the new expiry', async () => (await api('GET', '/api/user/reset_user')).body.expire === Date.UTC(2026, 3, 21, 23, 59, 59) / 1000);
  await page.close();
});
