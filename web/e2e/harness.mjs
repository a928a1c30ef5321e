// What every browser test file shares: free loopback ports, child
// processes that die with the test, a panel started on SQLite in a
// temporary directory, a signed-in API client, chromium with one browser
// profile, and the small steps the pages are driven with (sign in, confirm
// a dialog, replace an editor's text, run axe-core).
//
// Each file under web/e2e/ starts its own panel with startPanel() in its
// before() hook and stops it in after(); `node --test web/e2e/` runs the
// files one after another.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const panelBin = process.env.PANEL_BIN ?? join(root, 'bin', 'panel');
export const nodeBin = process.env.NODE_BIN ?? join(root, 'bin', 'node');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const admin = { username: 'web_admin', password: 'web-pass-1234' };
// util-linux's setpriv makes the kernel kill the panel when this test
// process dies, so a run cut off by a timeout leaves no panel behind.
const setpriv = '/usr/bin/setpriv';

// Ports handed out so far: never twice in one run.
const portsUsed = new Set();

// A free loopback port below the kernel's ephemeral range (32768 and up)
// and above the default config's inbounds (20001-20004): a port taken
// from ":0" and released could go to a child process's outgoing connection
// before the panel or Xray binds it; these cannot.
export async function freePort() {
  for (let i = 0; i < 1000; i++) {
    const port = 21000 + Math.floor(Math.random() * 11000);
    if (portsUsed.has(port)) {
      continue;
    }
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => {
        resolve(false);
      });
      srv.listen(port, '127.0.0.1', () => {
        srv.close(() => {
          resolve(true);
        });
      });
    });
    if (free) {
      portsUsed.add(port);
      return port;
    }
  }
  throw new Error('no free loopback port in 21000-32000');
}

export function spawnTied(argv, options) {
  const [cmd, ...args] = existsSync(setpriv) ? [setpriv, '--pdeathsig', 'KILL', '--', ...argv] : argv;
  return spawn(cmd, args, options);
}

// Polls check every 100 ms until it returns true; on timeout the error
// carries the tail of log() (the panel's output) to say why.
export async function waitFor(what, check, ms = 30_000, log = () => '') {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) {
        return;
      }
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}\n${log().slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Answers yes to the dashboard's "Are you sure?" dialog (revoke, delete,
// new token, reconnect) and waits for it to close.
export async function confirmDialog(page) {
  const dialog = page.getByRole('dialog', { name: 'Are you sure?' });
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'detached' });
}

// Replaces the whole text of a CodeMirror editor the way a person would:
// select all, then type (CodeMirror renders only the visible lines, so a
// DOM-level fill could miss the rest).
export async function setEditor(editor, text) {
  await editor.click();
  await editor.press('ControlOrMeta+a');
  await editor.press('Delete');
  await editor.page().keyboard.insertText(text);
}

export async function signIn(page, who = admin) {
  await page.getByLabel('Username').fill(who.username);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// The serious and critical accessibility violations axe-core finds on the
// page as it is now.
export async function axeViolations(page) {
  // Evaluated through the DevTools protocol: the panel's CSP (script-src
  // 'self') rightly refuses an injected inline <script>, and the pages are
  // tested under that policy.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 8).map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

// Starts bin/panel on a free port with SQLite in a new temporary directory
// (args and env are added to the defaults), signs in through the API and
// opens chromium with one browser profile. The returned object has:
// base (the panel's URL), dir, panel (the child), log() (its output so
// far), apiToken, api(method, path, body) → {status, body}, browser,
// context, newPage(), waitFor(what, check, ms) with the log attached, and
// stop().
export async function startPanel({ args = [], env = {}, viewport = { width: 1440, height: 900 } } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let panelLog = '';
  // Nodes report usage every second, so a test sees its bytes soon.
  const panel = spawnTied([panelBin, '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--usage-interval', '1s', ...args], {
    env: { ...process.env, SUDO_USERNAME: admin.username, SUDO_PASSWORD: admin.password, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  panel.stdout.on('data', (d) => (panelLog += d));
  panel.stderr.on('data', (d) => (panelLog += d));
  const log = () => panelLog;
  const wait = (what, check, ms) => waitFor(what, check, ms, log);
  await wait('the panel', async () => (await fetch(`${base}/healthz`)).ok);
  const login = await fetch(`${base}/api/admin/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(admin).toString(),
  });
  const apiToken = (await login.json()).access_token;
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  async function api(method, path, body) {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${apiToken}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : await res.json() };
  }
  async function stop() {
    await browser.close();
    panel.kill('SIGTERM');
    if (panel.exitCode === null) {
      await new Promise((r) => panel.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { base, dir, panel, log, apiToken, api, browser, context, newPage: () => context.newPage(), waitFor: wait, stop };
}
