// The Security page in a real browser against a real panel (issue 13):
// an admin turns on two-factor sign-in by scanning the secret (the test
// computes the codes with node:crypto, RFC 6238), signs out, signs in
// again with a code, then creates a read-only API key and sees it refused
// on a write through fetch. axe-core checks the page.
//
// Run after `make build`: node --test web/e2e/security.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { axeViolations, signIn, startPanel } from './harness.mjs';

const sec = { username: 'sec_admin', password: 'sec-pass-1234' };
let h;

before(async () => {
  h = await startPanel();
  const r = await h.api('POST', '/api/admin', { username: sec.username, password: sec.password, is_sudo: false });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await h?.stop();
});

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of s.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    assert.ok(v >= 0, `base32 character ${ch}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) {
    out.push(parseInt(bits.slice(i, i + 8), 2));
  }
  return Buffer.from(out);
}

// RFC 6238: HMAC-SHA1 over the 30-second step, dynamic truncation, 6 digits.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

// Loads the page by its URL and waits for it to settle (axe reads colours
// mid-transition otherwise).
async function openSecurity(page) {
  await page.goto(`${h.base}/dashboard/security`);
  await page.locator('main section[aria-label]').first().waitFor();
  await page.waitForLoadState('networkidle');
}

const stepNow = () => Math.floor(Date.now() / 1000 / 30);

test('enrol TOTP, sign in again with a code, and a read-only key refused on a write', async () => {
  const page = await h.newPage();
  await page.goto(`${h.base}/dashboard/login`);
  await signIn(page, sec);
  await page.getByRole('link', { name: 'Security' }).waitFor();
  await openSecurity(page);
  await page.getByRole('heading', { name: 'Two-factor sign-in' }).waitFor();
  assert.deepEqual(await axeViolations(page), []);

  // Enrol: the secret beside the QR code, then a code computed here.
  await page.getByRole('button', { name: 'Set up' }).click();
  const secret = (await page.locator('[data-totp-secret]').textContent()).trim();
  assert.match(secret, /^[A-Z2-7]{16,}$/);
  assert.ok(await page.getByRole('img', { name: 'QR code for the authenticator app' }).isVisible());
  const enrolStep = stepNow();
  await page.getByRole('textbox', { name: 'Code' }).fill(totp(secret, enrolStep));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.locator('[data-recovery-codes] code');
  await codes.first().waitFor();
  assert.equal(await codes.count(), 10);
  assert.deepEqual(await axeViolations(page), []);
  await page.getByRole('button', { name: 'I have saved them' }).click();
  await page.getByText('On', { exact: true }).waitFor();

  // Sign out, which ends the session on the panel: the old token is dead.
  const oldToken = await page.evaluate(() => localStorage.getItem('outpost.token'));
  assert.equal((await fetch(`${h.base}/api/admin`, { headers: { Authorization: `Bearer ${oldToken}` } })).status, 200);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal((await fetch(`${h.base}/api/admin`, { headers: { Authorization: `Bearer ${oldToken}` } })).status, 401);
  // The password alone now asks for the code.
  await signIn(page, sec);
  const codeBox = page.getByRole('textbox', { name: 'Two-factor code' });
  await codeBox.waitFor();
  // The enrolment's step is spent; the next one is inside the window.
  await codeBox.fill(totp(secret, Math.max(stepNow(), enrolStep) + 1));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('link', { name: 'Security' }).waitFor();
  await openSecurity(page);
  await page.getByRole('heading', { name: 'Sessions' }).waitFor();
  await page.getByText('this session').waitFor();

  // A read-only key: made in the page, shown once, refused on a write.
  await page.getByRole('textbox', { name: 'Name' }).fill('reports');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.locator('[data-new-key]').textContent()).trim();
  assert.match(key, /^op_[A-Za-z0-9_-]{43}$/);
  await page.locator('[data-key="reports"]').waitFor();
  const call = (method, path, body) =>
    fetch(h.base + path, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    });
  assert.equal((await call('GET', '/api/users')).status, 200);
  const write = await call('POST', '/api/user', { username: 'from_key', proxies: { vless: {} } });
  assert.equal(write.status, 403);
  assert.match((await write.json()).detail, /scopes \(read\)/);
  assert.deepEqual(await axeViolations(page), []);

  // At phone width the page still fits.
  await page.setViewportSize({ width: 390, height: 844 });
  // Measured once the layout has settled after the resize.
  const measure = () =>
    page.evaluate(() => {
      const wide = [...document.querySelectorAll('main *')].find((el) => el.getBoundingClientRect().right > window.innerWidth + 1);
      return { by: document.documentElement.scrollWidth - window.innerWidth, what: wide ? `${wide.tagName} ${wide.textContent.slice(0, 60)}` : '' };
    });
  let overflow = await measure();
  for (let i = 0; i < 20 && overflow.by > 1; i++) {
    await new Promise((r) => setTimeout(r, 100));
    overflow = await measure();
  }
  assert.ok(overflow.by <= 1, `page wider than the phone by ${String(overflow.by)}px (${overflow.what})`);
  await page.close();
});
