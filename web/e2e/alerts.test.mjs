// Fleet alerts (issue 12, item 3) in a real browser against a real panel
// and a real bin/node: the sudo sets the offline threshold in Settings, the
// node is killed, and the Overview's Active alerts card shows it (pushed
// by the events socket, no reload) as does a badge on its Nodes row; the
// node comes back and the alert goes. axe-core checks both pages.
//
// Run after `make build`: node --test web/e2e/alerts.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { axeViolations, nodeBin, signIn, spawnTied, startPanel, stopChild } from './harness.mjs';

let h;
const nodeDir = mkdtempSync(join(tmpdir(), 'outpost-web-alerts-node-'));

before(async () => {
  h = await startPanel({ args: ['--alert-interval', '500ms', '--ping-interval', '1s'] });
});

after(async () => {
  await h?.stop();
  rmSync(nodeDir, { recursive: true, force: true });
});

function startNode(token) {
  return spawnTied([nodeBin, '--panel', h.base, '--token', token, '--state-dir', nodeDir], { stdio: ['ignore', 'ignore', 'ignore'] });
}

async function nodeStatus(id) {
  return (await h.api('GET', `/api/node/${id}`)).body.status;
}

test('an offline node shows on the Overview as an alert, with the threshold set in Settings', async () => {
  const page = await h.newPage();
  await page.goto(`${h.base}/dashboard/settings`);
  await signIn(page);
  const form = page.getByRole('form', { name: 'Alert thresholds' });
  const offline = form.getByLabel('Node offline for (minutes)');
  await offline.waitFor();
  assert.equal(await offline.inputValue(), '5');
  await offline.fill('0.2');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByText('Saved', { exact: false }).waitFor();
  const set = await h.api('GET', '/api/alerts/settings');
  assert.equal(set.body.node_offline_seconds, 12);
  assert.equal(set.body.cert_expiry_days, 14);
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axeViolations(page), []);

  const created = await h.api('POST', '/api/node', { name: 'alert_node' });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  let node = startNode(created.body.token);
  try {
    await h.waitFor('the node to connect', async () => (await nodeStatus(created.body.id)) === 'connected', 60_000);
    // A fresh load (the sign-in is kept): a nav link still hovered after a
    // click would be what axe measures.
    await page.goto(`${h.base}/dashboard/`);
    const card = page.getByRole('region', { name: 'Active alerts' });
    await card.getByText('No active alerts', { exact: false }).waitFor();

    await stopChild(node, 'SIGKILL');
    const row = card.locator('tr[data-alert="node_offline"]');
    await row.waitFor({ timeout: 60_000 });
    assert.match(await row.innerText(), /Node offline/i);
    assert.match(await row.innerText(), /alert_node/);
    assert.equal(await card.locator('[data-alerts-active]').innerText(), '1');
    const list = await h.api('GET', '/api/alerts');
    assert.equal(list.body.alerts.length, 1);
    assert.equal(list.body.alerts[0].subject, `node:${created.body.id}`);
    await page.waitForLoadState('networkidle');
    assert.deepEqual(await axeViolations(page), []);

    // The Nodes page marks the node's row.
    await page.goto(`${h.base}/dashboard/nodes`);
    await page.locator('tr[data-node="alert_node"] [data-node-alerts="1"]').waitFor();
    await page.goto(`${h.base}/dashboard/`);
    await row.waitFor();

    node = startNode(created.body.token);
    await row.waitFor({ state: 'detached', timeout: 60_000 });
    await card.getByText('No active alerts', { exact: false }).waitFor();
  } finally {
    await stopChild(node, 'SIGKILL');
  }
});
