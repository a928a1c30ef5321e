// The Settings page's User-Agent rules editor and tester, and the Overview
// page, in chromium against bin/panel (see harness.mjs). Run alone with
//   node --test web/e2e/settings.test.mjs

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

const testUA = 'OutpostTest/2.0';

// Drags with the mouse, in small steps: dnd-kit's pointer sensor starts
// only after the pointer moved a few pixels.
async function mouseDrag(page, from, to) {
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  const steps = 12;
  for (let i = 1; i <= steps; i++) {
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2 + ((b.y - a.y) * i) / steps);
  }
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
  await page.mouse.up();
}

test('User-Agent rules: added, reordered by button, keyboard and drag, tried on the draft, saved, and served', async () => {
  const { api, base } = h;
  assert.equal((await api('POST', '/api/user', { username: 'ua_user', proxies: { vless: {} } })).status, 200);
  const subURL = (await api('GET', '/api/user/ua_user')).body.subscription_url;
  const before = (await api('GET', '/api/subscription/settings')).body;
  const n = before.rules.length; // the default rules; ours go after them

  const page = await h.newPage();
  await page.goto(`${base}/dashboard/settings`);
  await page.waitForURL(/\/login/);
  await signIn(page);
  await page.waitForURL(`${base}/dashboard/settings`);
  const form = page.getByRole('form', { name: 'Subscription' });
  const rules = form.getByRole('list', { name: 'User-Agent rules' });
  await rules.locator('[data-rule-row]').nth(n - 1).waitFor();
  assert.equal(await rules.locator('[data-rule-row]').count(), n);

  // Two rules that both match the test User-Agent: the first one wins.
  const row = (i) => rules.locator(`[data-rule-row="${String(i)}"]`);
  async function addRule(pattern, format) {
    await form.getByRole('button', { name: 'Add rule' }).click();
    const r = row(await rules.locator('[data-rule-row]').count());
    await r.getByLabel('Pattern').fill(pattern);
    await r.getByRole('combobox', { name: 'Format' }).click();
    await page.getByRole('option', { name: format, exact: true }).click();
  }
  await addRule('^OutpostTest', 'sing-box');
  await addRule('OutpostTest/2', 'clash');
  const a = n + 1;
  const b = n + 2;

  // The tester asks the panel about the draft, unsaved.
  const tester = form.getByRole('region', { name: 'Try a User-Agent' });
  await tester.getByLabel('User-Agent').fill(testUA);
  const result = tester.getByRole('status');
  async function expectChosen(format, rule) {
    await page.waitForFunction(
      ([f, r]) => {
        const el = document.querySelector('[data-tester-result]');
        return el?.getAttribute('data-tester-result') === f && el.getAttribute('data-tester-rule') === r;
      },
      [format, String(rule)],
    );
    await result.getByText(`Gets ${format}, by rule ${String(rule)}:`).waitFor();
    await row(rule).and(page.locator('[data-matched="true"]')).waitFor();
  }
  await expectChosen('sing-box', a);
  assert.equal((await api('POST', '/api/subscription/settings/test', { user_agent: testUA })).body.format, 'v2ray', 'the draft was saved');

  // Up/down buttons.
  await row(b).getByRole('button', { name: `Move rule ${String(b)} up` }).click();
  assert.equal(await row(a).getByLabel('Pattern').inputValue(), 'OutpostTest/2');
  await expectChosen('clash', a);
  // Keyboard drag: space picks the handle up, an arrow moves it, space drops.
  await row(b).getByRole('button', { name: `Drag rule ${String(b)}` }).focus();
  // (dnd-kit measures the list between the steps.)
  await page.keyboard.press('Space');
  await page.waitForTimeout(300);
  await page.keyboard.press('ArrowUp');
  // On a page taller than the window dnd-kit moves by scrolling the
  // window smoothly: the drop waits for the scroll to end.
  await page.waitForTimeout(1000);
  await page.keyboard.press('Space');
  await expectChosen('sing-box', a);
  assert.equal(await row(a).getByLabel('Pattern').inputValue(), '^OutpostTest');
  // Mouse drag.
  await mouseDrag(page, row(b).getByRole('button', { name: `Drag rule ${String(b)}` }), row(a).getByRole('button', { name: `Drag rule ${String(a)}` }));
  await expectChosen('clash', a);
  assert.equal(await row(a).getByLabel('Pattern').inputValue(), 'OutpostTest/2');

  // Validation: inline, and nothing is saved.
  const interval = form.getByLabel('Update interval (hours)');
  await interval.fill('0');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByText('Update interval: a whole number of hours from 1 to 8760.').waitFor();
  await interval.fill('6');
  // A pattern Go's regexp refuses: the tester says so, and so does the save, on the rule.
  await row(b).getByLabel('Pattern').fill('([');
  await tester.getByText('The panel refuses these rules').waitFor();
  await form.getByRole('button', { name: 'Save' }).click();
  await row(b).getByText('error parsing regexp', { exact: false }).waitFor();
  assert.equal((await api('GET', '/api/subscription/settings')).body.rules.length, n, 'a refused save changed the rules');
  await row(b).getByLabel('Pattern').fill('^OutpostTest');
  await expectChosen('clash', a);

  assert.deepEqual(await axeViolations(page), []);

  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByRole('status').getByText('Saved.').waitFor();
  const saved = (await api('GET', '/api/subscription/settings')).body;
  assert.equal(saved.profile_update_interval, 6);
  assert.deepEqual(saved.rules.slice(n), [
    { pattern: 'OutpostTest/2', format: 'clash' },
    { pattern: '^OutpostTest', format: 'sing-box' },
  ]);
  assert.deepEqual(saved.rules.slice(0, n), before.rules, 'the default rules moved');

  // Reloaded, the page shows the saved order.
  await page.reload();
  await row(b).waitFor();
  assert.equal(await row(a).getByLabel('Pattern').inputValue(), 'OutpostTest/2');
  assert.equal(await row(a).getByRole('combobox', { name: 'Format' }).inputValue(), 'clash');
  assert.equal(await row(b).getByLabel('Pattern').inputValue(), '^OutpostTest');

  // And a client with that User-Agent gets Clash YAML.
  const sub = await fetch(subURL, { headers: { 'User-Agent': testUA } });
  assert.equal(sub.status, 200);
  const body = await sub.text();
  assert.match(sub.headers.get('content-type') ?? '', /yaml/);
  assert.match(body, /^proxies:/m);
  // Removing a rule takes effect the same way.
  await row(a).getByRole('button', { name: `Remove rule ${String(a)}` }).click();
  await tester.getByLabel('User-Agent').fill(`${testUA} `);
  await expectChosen('sing-box', a);
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByRole('status').getByText('Saved.').waitFor();
  const again = await fetch(subURL, { headers: { 'User-Agent': testUA } });
  assert.match(again.headers.get('content-type') ?? '', /json/);
  assert.ok('outbounds' in (await again.json()), 'sing-box JSON');
  await page.close();
});

test('the overview: users by status, traffic per span with totals, nodes with lag, the panel', async () => {
  const { api, base } = h;
  assert.equal((await api('POST', '/api/node', { name: 'ov-node', address: '192.0.2.7' })).status, 200);
  const ov = (await api('GET', '/api/overview')).body;
  const page = await h.newPage();
  await page.goto(`${base}/dashboard/`);
  const overview = page.getByRole('region', { name: 'Overview' });
  await overview.locator('[data-stat="total"]').getByText(String(ov.users.total), { exact: true }).waitFor();
  assert.equal(await overview.locator('[data-stat="online"]').innerText(), String(ov.users.online));
  assert.equal(await overview.locator('[data-stat="active"]').innerText(), String(ov.users.active));

  const traffic = overview.getByRole('region', { name: 'Traffic of all nodes' });
  const sum = (points, k) => points.reduce((s, p) => s + p[k], 0);
  for (const [label, span] of [
    ['Today', 'today'],
    ['30 days', 'month'],
    ['7 days', 'week'],
  ]) {
    await traffic.getByText(label, { exact: true }).click();
    const totals = traffic.locator(`[data-span="${span}"]`);
    await totals.waitFor();
    assert.equal(Number(await totals.getAttribute('data-traffic-up')), sum(ov.traffic[span], 'uplink'), span);
    assert.equal(Number(await totals.getAttribute('data-traffic-down')), sum(ov.traffic[span], 'downlink'), span);
    // The chart (its own chunk) draws one bucket per point, two series,
    // and is named by the same totals for screen readers.
    const chart = traffic.getByRole('img', { name: /^Traffic chart\./ });
    await chart.waitFor();
    assert.equal(Number(await chart.getAttribute('data-chart-points')), ov.traffic[span].length);
    assert.ok((await chart.getAttribute('aria-label')).includes(await totals.innerText()));
    await page.waitForFunction(() => document.querySelectorAll('.recharts-area-curve').length === 2);
  }

  const nodes = overview.getByRole('region', { name: 'Nodes' });
  const nodeRow = nodes.locator('tr[data-node="ov-node"]');
  await nodeRow.waitFor();
  const mine = ov.nodes.nodes.find((x) => x.name === 'ov-node');
  assert.equal(await nodeRow.locator('[data-field="lag"]').innerText(), mine.revision_lag === 0 ? 'up to date' : `${String(mine.revision_lag)} revision${mine.revision_lag === 1 ? '' : 's'} behind`);
  assert.equal(await nodeRow.locator('[data-field="backlog"]').innerText(), '—', 'a node never connected has no backlog');
  await nodes.getByText(`${String(ov.nodes.up)} up, ${String(ov.nodes.down)} down`).waitFor();
  await overview.getByText(`Outpost ${ov.version}`, { exact: false }).waitFor();
  await overview.getByText('1 replica', { exact: false }).waitFor();
  assert.deepEqual(await axeViolations(page), []);

  // A phone: no sideways scrolling on either page.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/', '/settings']) {
    await page.goto(`${base}/dashboard${path}`);
    await page.locator('main section[aria-label]').first().waitFor();
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `${path} is ${String(overflow)} px wider than the phone`);
  }
  await page.close();
});
