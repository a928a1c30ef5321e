// Two replicas in the browser: two bin/panel processes on one PostgreSQL
// database and one Redis (the change feed, node presence and locks), the
// dashboard open on replica B, every change made through replica A. The
// dashboard must show it without a reload, through B's events socket: a
// user created and then disabled, and a node that connects to A and is
// killed. The delays seen are logged, not asserted: the machine is shared
// and its clock is no benchmark (docs/benchmarks.md has the numbers).
//
// PostgreSQL: DATABASE_URL (a server where a database may be created), or a
// throwaway cluster of the machine's binaries (/usr/lib/postgresql/N/bin).
// Redis: REDIS_URL (a server of this test's own), or a redis-server on a
// free port. Run by `make test` (browsercheck) after `make build`.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBin, signIn, spawnTied, startPanel, startPostgres, startRedis, stopChild } from './harness.mjs';

let pg;
let redis;
let a; // replica A: only its API is called
let b; // replica B: the browser's
let context;

before(async () => {
  pg = await startPostgres();
  redis = await startRedis();
  // One after the other: the first applies the migrations.
  a = await startPanel({ databaseUrl: pg.url, redisUrl: redis.url, browser: false });
  b = await startPanel({ databaseUrl: pg.url, redisUrl: redis.url });
  context = b.context;
});

after(async () => {
  await b?.stop();
  await a?.stop();
  await redis?.stop();
  await pg?.stop();
});

function log() {
  return `--- replica A ---\n${a.log().slice(-2000)}\n--- replica B ---\n${b.log().slice(-2000)}`;
}

// Opens path on replica B, signs in if asked to, and waits for the page's region and
// the events socket.
async function openOnB(path, region) {
  const page = await context.newPage();
  await page.goto(`${b.base}/dashboard${path}`);
  // The browser profile keeps the sign-in of an earlier page.
  const signInButton = page.getByRole('button', { name: 'Sign in' });
  const pageRegion = page.getByRole('region', { name: region });
  await signInButton.or(pageRegion).first().waitFor();
  if (await signInButton.isVisible()) {
    await signIn(page);
  }
  await pageRegion.waitFor();
  await page.locator('[data-live="true"]').waitFor();
  // Cleared by a reload: the change must arrive without one.
  await page.evaluate(() => (window.outpostLoaded = true));
  return { page, region: pageRegion };
}

// Waits for locator and returns the milliseconds since since.
async function shownWithin(locator, since, what) {
  try {
    await locator.waitFor({ timeout: 20_000 });
  } catch (e) {
    throw new Error(`${what}: ${e.message}\n${log()}`, { cause: e });
  }
  return Date.now() - since;
}

test('both replicas follow one database and one change feed', async () => {
  // Both subscribe to the feed's wake channel in Redis.
  for (const r of [a, b]) {
    await r.waitFor('the overview to count two replicas', async () => (await r.api('GET', '/api/overview')).body.replicas === 2, 15_000);
  }
});

test('a user created and then disabled through replica A shows on replica B without a reload', async () => {
  const { page, region } = await openOnB('/users', 'Users');
  const row = region.locator('tr[data-username="replica_user"]');
  assert.equal(await row.count(), 0);

  let since = Date.now();
  const created = await a.api('POST', '/api/user', { username: 'replica_user', proxies: { vless: {} }, note: 'made on A' });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const createdMs = await shownWithin(row.locator('[data-status="active"]'), since, 'the new user on B');

  since = Date.now();
  const disabled = await a.api('PUT', '/api/user/replica_user', { status: 'disabled' });
  assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
  const disabledMs = await shownWithin(row.locator('[data-status="disabled"]'), since, 'the disabled status on B');

  since = Date.now();
  assert.equal((await a.api('DELETE', '/api/user/replica_user')).status, 200);
  try {
    await row.waitFor({ state: 'detached', timeout: 20_000 });
  } catch (e) {
    throw new Error(`the deleted user left on B: ${e.message}\n${log()}`, { cause: e });
  }
  const deletedMs = Date.now() - since;

  assert.equal(await page.evaluate(() => window.outpostLoaded), true, 'the page was reloaded');
  // B's own API agrees with what its page shows.
  assert.equal((await b.api('GET', '/api/user/replica_user')).status, 404);
  console.log(`replicas: A→B users page: created ${String(createdMs)} ms, disabled ${String(disabledMs)} ms, deleted ${String(deletedMs)} ms`);
  await page.close();
});

test('a node connected to replica A and killed turns offline on replica B’s Nodes page', async () => {
  const created = await a.api('POST', '/api/node', { name: 'replica_node', address: '127.0.0.1' });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const nodeDir = mkdtempSync(join(tmpdir(), 'outpost-web-node-'));
  let node;
  try {
    const { page, region } = await openOnB('/nodes', 'Nodes');
    const row = region.locator('tr[data-node="replica_node"]');
    await row.waitFor();
    let since = Date.now();
    node = spawnTied([nodeBin, '--panel', a.base, '--token', created.body.token, '--state-dir', nodeDir], { stdio: 'ignore' });
    const connectedMs = await shownWithin(row.locator('td[data-status="connected"]'), since, 'the node connected on B');
    // The node's session is A's, not B's.
    const onA = a.log().includes('node session opened');
    assert.ok(onA, 'the node opened its session on replica A');

    since = Date.now();
    node.kill('SIGKILL');
    await new Promise((r) => node.once('exit', r));
    const offlineMs = await shownWithin(row.locator('td[data-status]:not([data-status="connected"])'), since, 'the node offline on B');
    assert.equal(await page.evaluate(() => window.outpostLoaded), true, 'the page was reloaded');
    const status = (await b.api('GET', `/api/node/${String(created.body.id)}`)).body.status;
    assert.notEqual(status, 'connected');
    console.log(`replicas: node on A → B nodes page: connected ${String(connectedMs)} ms after start, offline ${String(offlineMs)} ms after SIGKILL`);
    await page.close();
  } finally {
    if (node) {
      await stopChild(node, 'SIGKILL');
    }
    rmSync(nodeDir, { recursive: true, force: true });
    assert.equal((await a.api('DELETE', `/api/node/${String(created.body.id)}`)).status, 200);
  }
});
