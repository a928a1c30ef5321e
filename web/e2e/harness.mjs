// What every browser test file shares: free loopback ports, child
// processes that die with the test, a panel started on SQLite in a
// temporary directory, a signed-in API client, chromium with one browser
// profile, and the small steps the pages are driven with (sign in, confirm
// a dialog, replace an editor's text, run axe-core).
//
// Each file under web/e2e/ starts its own panel with startPanel() in its
// before() hook and stops it in after(); `node --test web/e2e/` runs the
// files one after another.

import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
  // A modal or menu still fading in has its text at part opacity, which
  // axe measures as too little contrast: let finite animations and
  // transitions end first (a spinner's infinite one is not waited for).
  await page
    .waitForFunction(
      () =>
        document
          .getAnimations()
          .every((a) => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity),
      null,
      { timeout: 5000 },
    )
    .catch(() => {});
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
// opens chromium with one browser profile. databaseUrl and redisUrl start
// it as one replica of several instead: PostgreSQL for the database and
// Redis for the change feed, node presence and locks (the temporary
// directory then holds only local state). browser: false skips chromium
// (a second replica a test only calls the API of). The returned object
// has: base (the panel's URL), dir, panel (the child), log() (its output
// so far), apiToken, api(method, path, body) → {status, body}, browser,
// context, newPage(), waitFor(what, check, ms) with the log attached, and
// stop().
export async function startPanel({
  args = [],
  env = {},
  viewport = { width: 1440, height: 900 },
  databaseUrl = '',
  redisUrl = '',
  browser: withBrowser = true,
  dataDir = '',
} = {}) {
  const dir = dataDir || mkdtempSync(join(tmpdir(), 'outpost-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let panelLog = '';
  const shared = [];
  if (databaseUrl) {
    shared.push('--database-url', databaseUrl);
  }
  if (redisUrl) {
    shared.push('--redis-url', redisUrl);
  }
  // Nodes report usage every second, so a test sees its bytes soon.
  const panel = spawnTied([panelBin, '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--usage-interval', '1s', ...shared, ...args], {
    env: { ...process.env, SUDO_USERNAME: admin.username, SUDO_PASSWORD: admin.password, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  panel.stdout.on('data', (d) => (panelLog += d));
  panel.stderr.on('data', (d) => (panelLog += d));
  const log = () => panelLog;
  const wait = (what, check, ms) => waitFor(what, check, ms, log);
  let apiToken;
  let browser = null;
  let context = null;
  try {
    await failOnExit(panel, 'bin/panel', log, wait('the panel', async () => (await fetch(`${base}/healthz`)).ok));
    const login = await fetch(`${base}/api/admin/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(admin).toString(),
    });
    apiToken = (await login.json()).access_token;
    if (withBrowser) {
      browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
      context = await browser.newContext({ viewport });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    }
  } catch (e) {
    // A panel left running would keep the test process alive (its pipes).
    await browser?.close();
    await stopChild(panel, 'SIGKILL');
    if (!dataDir) {
      rmSync(dir, { recursive: true, force: true });
    }
    throw e;
  }
  async function api(method, path, body) {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${apiToken}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : await res.json() };
  }
  async function stop() {
    await browser?.close();
    await stopChild(panel, 'SIGTERM');
    if (!dataDir) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { base, dir, panel, log, apiToken, api, browser, context, newPage: () => context.newPage(), waitFor: wait, stop };
}

// Waits for ready, failing at once if child exits first (a taken port, a
// bad flag), with the tail of its output.
async function failOnExit(child, name, log, ready) {
  // Still polling when the child exits: its own timeout must not surface
  // later as an unhandled rejection.
  ready.catch(() => undefined);
  let onExit;
  const exited = new Promise((_, reject) => {
    onExit = (code, signal) => {
      reject(new Error(`${name} exited (${String(signal ?? code)}) before it was ready\n${log().slice(-3000)}`));
    };
    child.once('exit', onExit);
  });
  try {
    await Promise.race([ready, exited]);
  } finally {
    child.off('exit', onExit);
  }
}

// Sends signal to a child (if it still runs) and waits for it to exit; a
// child still there after ms is killed.
export async function stopChild(child, signal = 'SIGTERM', ms = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

// Where the machine's PostgreSQL server binaries are (initdb, postgres,
// pg_isready, psql): PATH's initdb first, then the newest
// /usr/lib/postgresql/N/bin, as backend/internal/testenv/postgres.go does.
function postgresBin() {
  const has = (d) => ['initdb', 'postgres', 'pg_isready', 'psql'].every((b) => existsSync(join(d, b)));
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (d && existsSync(join(d, 'initdb'))) {
      const real = dirname(realpathSync(join(d, 'initdb')));
      if (has(real)) {
        return real;
      }
    }
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (has(join(root, v, 'bin'))) {
      return join(root, v, 'bin');
    }
  }
  throw new Error('PostgreSQL server binaries (initdb, postgres) not found: apt-get install postgresql, or set DATABASE_URL=postgres://...');
}

// A PostgreSQL database for replicas: with DATABASE_URL set, a new database
// on that server (dropped by stop()); otherwise a throwaway cluster of the
// machine's binaries in a temporary directory (unix socket there too), on a
// free loopback port with fsync off, run as the postgres system user when
// this process is root (initdb and postgres refuse root). Returns {url, stop}.
export async function startPostgres() {
  const bin = postgresBin();
  const psql = (url, sql) => execFileSync(join(bin, 'psql'), [url, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], { stdio: 'pipe' });
  const external = process.env.DATABASE_URL;
  if (external) {
    const name = `outpost_web_${String(process.pid)}_${String(Date.now())}`;
    psql(external, `CREATE DATABASE ${name} TEMPLATE template0`);
    const u = new URL(external);
    u.pathname = `/${name}`;
    return {
      url: u.toString(),
      stop: async () => {
        psql(external, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'outpost-web-pg-'));
  let ids = {};
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
    ids = { uid, gid };
  }
  const data = join(dir, 'data');
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'], {
    cwd: dir,
    stdio: 'pipe',
    ...ids,
  });
  const port = await freePort();
  let out = '';
  // SIGINT is PostgreSQL's fast shutdown; the parent-death signal (SIGKILL
  // through setpriv) ends it if this process dies first.
  const server = spawnTied(
    [
      join(bin, 'postgres'),
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
      '-c',
      'log_min_messages=warning',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...ids },
  );
  server.stdout.on('data', (d) => (out += d));
  server.stderr.on('data', (d) => (out += d));
  const stop = async () => {
    await stopChild(server, 'SIGINT');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ready = waitFor(
      'PostgreSQL',
      () => {
        execFileSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'], { stdio: 'ignore' });
        return true;
      },
      60_000,
      () => out,
    );
    await failOnExit(server, 'postgres', () => out, ready);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `postgres://postgres@127.0.0.1:${String(port)}/postgres?sslmode=disable`, stop };
}

// A Redis for replicas: REDIS_URL when set (it should be a server of this
// test's own: the panel's keys and channels have no prefix), otherwise a
// redis-server on a free loopback port that saves nothing. Returns {url,
// stop}.
export async function startRedis() {
  if (process.env.REDIS_URL) {
    return { url: process.env.REDIS_URL, stop: async () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'outpost-web-redis-'));
  const port = await freePort();
  let out = '';
  const server = spawnTied(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (d) => (out += d));
  server.stderr.on('data', (d) => (out += d));
  server.on('error', (e) => (out += `\n${e.message}: apt-get install redis-server, or set REDIS_URL`));
  const stop = async () => {
    await stopChild(server, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  const ping = () =>
    new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write('PING\r\n'));
      sock.once('data', (d) => {
        sock.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      sock.once('error', () => {
        resolve(false);
      });
    });
  try {
    await failOnExit(server, 'redis-server', () => out, waitFor('redis-server', ping, 30_000, () => out));
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `redis://127.0.0.1:${String(port)}/0`, stop };
}
