// The Nodes page against a real panel and a real bin/node: a node added on
// the page and started with the command it shows turns connected, its
// drawer streams its Xray log, restarts its core and reports it, and when
// the node stops the page says for how long it has been offline, without a
// reload. The add-node snippets (systemd, compose) carry the node's real
// variables, and the page with its drawer open is axe-clean at 390 px.
//
// Run alone: node --test web/e2e/nodes.test.mjs (after make build).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { axeViolations, confirmDialog, freePort, nodeBin, root, signIn, spawnTied, startPanel } from './harness.mjs';

let h;

before(async () => {
  h = await startPanel();
});

after(async () => {
  await h?.stop();
});

const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());

test('a node added on the Nodes page runs from its command, streams its log, restarts its core and goes offline live', async () => {
  const { base, api } = h;
  // The node's Xray on a free loopback port, not the default config's fixed ones.
  const port = await freePort();
  const put = await api('PUT', '/api/core/config', {
    log: { loglevel: 'warning' },
    inbounds: [{ tag: 'Trojan', protocol: 'trojan', listen: '127.0.0.1', port, settings: { clients: [] }, streamSettings: { network: 'raw', security: 'none' } }],
    outbounds: [{ tag: 'DIRECT', protocol: 'freedom' }],
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));

  const page = await h.newPage();
  await page.goto(`${base}/dashboard/nodes`);
  await signIn(page);
  const nodes = page.getByRole('region', { name: 'Nodes' });
  await nodes.getByText('No nodes yet.').waitFor();
  await nodes.getByRole('button', { name: 'New node' }).click();
  const form = page.getByRole('form', { name: 'New node' });
  await form.getByLabel('Name').fill('e2e_node');
  await form.getByRole('button', { name: 'Create' }).click();

  // The token once, in three ready snippets, each copied whole.
  const notice = nodes.getByRole('status', { name: 'Node token' });
  await notice.getByRole('button', { name: 'Copy the node command' }).click();
  const command = await clipboard(page);
  assert.match(command, new RegExp(`^bin/node --panel ${base} --token \\S+$`));
  const token = command.split(' ').at(-1);
  await notice.getByRole('tab', { name: 'systemd' }).click();
  await notice.getByRole('button', { name: 'Copy the systemd setup' }).click();
  const systemd = await clipboard(page);
  for (const want of [
    `NODE_PANEL_URL=${base}\n`,
    `NODE_TOKEN=${token}\n`,
    'NODE_STATE_DIR=/var/lib/outpost-node\n',
    'EnvironmentFile=/etc/outpost/node.env\n',
    'Restart=always\n',
    'StateDirectory=outpost-node\n',
    'NoNewPrivileges=yes\n',
    'ProtectSystem=strict\n',
    'ExecStart=/usr/local/bin/outpost-node\n',
  ]) {
    assert.ok(systemd.includes(want), `the systemd setup lacks ${JSON.stringify(want)}:\n${systemd}`);
  }
  await notice.getByRole('tab', { name: 'Docker compose' }).click();
  await notice.getByRole('button', { name: 'Copy the compose service' }).click();
  const compose = await clipboard(page);
  for (const want of [`NODE_PANEL_URL: "${base}"`, `NODE_TOKEN: "${token}"`, 'dockerfile: deploy/Dockerfile.node', 'restart: always', 'node-state:/var/lib/outpost-node']) {
    assert.ok(compose.includes(want), `the compose service lacks ${want}:\n${compose}`);
  }
  assert.ok(existsSync(join(root, 'deploy', 'Dockerfile.node')));
  // Every variable the snippets set is one bin/node reads.
  const main = readFileSync(join(root, 'nodes', 'cmd', 'node', 'main.go'), 'utf8');
  for (const name of `${systemd}\n${compose}`.match(/NODE_[A-Z0-9_]+/g)) {
    assert.ok(main.includes(`"${name}"`), `bin/node does not read ${name}`);
  }
  await notice.getByRole('button', { name: 'Done' }).click();

  // The command as copied, run: the row turns connected.
  const nodeDir = mkdtempSync(join(tmpdir(), 'outpost-web-node-'));
  let nodeLog = '';
  const [, ...args] = command.split(' ');
  const node = spawnTied([nodeBin, ...args, '--state-dir', nodeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  node.stdout.on('data', (d) => (nodeLog += String(d)));
  node.stderr.on('data', (d) => (nodeLog += String(d)));
  try {
    const row = nodes.locator('tr[data-node="e2e_node"]');
    await row.locator('td[data-status="connected"]').waitFor({ timeout: 30_000 });

    // The drawer, opened by keyboard, at its own URL.
    await row.getByRole('link', { name: 'Open node e2e_node' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/dashboard\/nodes\/\d+$/);
    const drawer = page.getByRole('dialog', { name: 'Node e2e_node' });
    await drawer.locator('[data-live-status]').getByText('Connected').waitFor();
    const fact = (name) => drawer.locator(`[data-fact="${name}"] dd`);
    await h.waitFor('the node to report its health', async () => (await fact('reported').innerText()) !== 'never');
    // Xray's first start counts as one: the restart must add to it.
    const restartsBefore = Number(await fact('restarts').innerText());
    assert.match(await fact('xray').innerText(), /^\d+\.\d+/);

    // Its live log is open; a core restart from the page logs Xray's
    // start there, and the node reports the restart.
    const log = drawer.getByRole('log', { name: 'Xray log lines' });
    await drawer.getByRole('status').getByText('Watching', { exact: false }).waitFor();
    await drawer.getByRole('button', { name: 'Restart core' }).click();
    await confirmDialog(page);
    await drawer.getByRole('status').getByText('Asked e2e_node to restart its core.').waitFor();
    await h.waitFor('the restart to be reported', async () => Number(await fact('restarts').innerText()) > restartsBefore, 30_000);
    await h.waitFor(
      "Xray's start line in the node's log",
      async () => {
        if (/started/i.test(await log.innerText())) {
          return true;
        }
        // The node streams only once the panel asked it to; if the first
        // restart came before that, ask again.
        await api('POST', `/api/node/${page.url().split('/').at(-1)}/restart`);
        await new Promise((r) => setTimeout(r, 1500));
        return /started/i.test(await log.innerText());
      },
      30_000,
    );
    // The filter hides what does not match; Pause holds new lines back.
    await drawer.getByLabel('Filter').fill('no line has this');
    await h.waitFor('the filter to hide the lines', async () => !/started/i.test(await log.innerText()));
    await drawer.getByLabel('Filter').fill('');
    await drawer.getByRole('button', { name: 'Pause' }).click();
    await drawer.getByRole('button', { name: 'Resume' }).waitFor();
    await drawer.getByRole('button', { name: 'Resume' }).click();

    // axe with the drawer open, on a phone-sized screen too.
    for (const width of [1440, 390]) {
      await page.setViewportSize({ width, height: 900 });
      const problems = await axeViolations(page);
      assert.deepEqual(problems, [], `axe at ${String(width)} px: ${JSON.stringify(problems, null, 1)}`);
    }
    await page.setViewportSize({ width: 1440, height: 900 });

    // Closing the drawer closes the log socket: the node stops streaming.
    await page.keyboard.press('Escape');
    await page.waitForURL(`${base}/dashboard/nodes`);
    await drawer.waitFor({ state: 'detached' });

    // The node stops: the row says for how long it has been offline and
    // which revision it still serves, without a reload.
    await page.evaluate(() => (window.outpostLoaded = true));
    node.kill('SIGTERM');
    await new Promise((r) => node.once('exit', r));
    const live = row.locator('[data-live-status]');
    await live.getByText(/^Offline for \d+ sec, serving revision [\d,]+ of [\d,]+$/).waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate(() => window.outpostLoaded), true, 'the page was reloaded');
    // On a phone the row is a card and nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await h.waitFor('the Nodes page to fit a phone', async () => (await overflow()) <= 1, 5_000).catch(async () => {
      const wide = await page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
          .slice(0, 4)
          .map((e) => `${e.tagName}.${String(e.className)}: ${(e.textContent ?? '').slice(0, 40)}`),
      );
      assert.fail(`the Nodes page is ${String(await overflow())} px wider than the phone: ${wide.join(' | ')}`);
    });
    await page.setViewportSize({ width: 1440, height: 900 });
    // An offline node cannot be restarted: the button is off, the API says 409.
    assert.equal(await row.getByRole('button', { name: 'Restart core' }).isDisabled(), true);
    const r = await api('POST', `/api/node/${String((await api('GET', '/api/nodes')).body[0].id)}/restart`);
    assert.equal(r.status, 409, JSON.stringify(r.body));
    await page.close();
  } catch (err) {
    throw new Error(`${String(err)}\nnode output:\n${nodeLog.slice(-3000)}\npanel output:\n${h.log().slice(-3000)}`, { cause: err });
  } finally {
    if (node.exitCode === null && node.signalCode === null) {
      node.kill('SIGKILL');
      await new Promise((r) => node.once('exit', r));
    }
    rmSync(nodeDir, { recursive: true, force: true });
  }
});
