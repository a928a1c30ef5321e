import { describe, expect, test } from 'vitest';
import type { UserTemplate } from '../templates/api';
import type { User } from './api';
import { applyTemplate, FormError, initialValues, toUserBody, type Inbounds } from './form';

const gib = 1024 ** 3;
const inbounds: Inbounds = {
  trojan: [
    { tag: 'Trojan A', protocol: 'trojan', network: 'tcp', tls: 'none', port: 1 },
    { tag: 'Trojan B', protocol: 'trojan', network: 'tcp', tls: 'none', port: 2 },
  ],
  vless: [{ tag: 'VLESS TCP', protocol: 'vless', network: 'tcp', tls: 'none', port: 3 }],
};

function user(over: Partial<User>): User {
  return { ...({ username: 'carol', status: 'active', proxies: { trojan: {} }, inbounds: {}, next_plan: null, auto_delete_in_days: null, admin: null } as unknown as User), ...over };
}

describe('a new user', () => {
  test('sends what was typed', () => {
    const v = { ...initialValues(null), username: ' alice ', protocols: ['trojan' as const], limitGiB: '5', reset: 'month' as const, expire: '2030-01-31', note: 'vip' };
    expect(toUserBody(v, null, inbounds, null)).toEqual({
      username: 'alice',
      proxies: { trojan: {} },
      data_limit: 5 * gib,
      data_limit_reset_strategy: 'month',
      expire: Date.UTC(2030, 0, 31, 23, 59, 59) / 1000,
      note: 'vip',
      // Every protocol with a choice of inbounds names them.
      inbounds: { trojan: ['Trojan A', 'Trojan B'] },
    });
  });

  test('on hold: days from the first connection, no expiry date', () => {
    const body = toUserBody({ ...initialValues(null), username: 'h', onHoldDays: '30', expire: '2030-01-01' }, null, inbounds, null);
    expect(body).toMatchObject({ status: 'on_hold', on_hold_expire_duration: 30 * 86400, expire: 0 });
  });

  test('an unticked inbound is left out; a protocol with one inbound is not named', () => {
    const v = { ...initialValues(null), username: 'c', protocols: ['trojan' as const, 'vless' as const], inbounds: { trojan: ['Trojan A'] } };
    expect(toUserBody(v, null, inbounds, null).inbounds).toEqual({ trojan: ['Trojan A'] });
  });

  test('a next plan and auto-delete', () => {
    const v = { ...initialValues(null), username: 'c', autoDelete: '7', hasPlan: true, planGiB: '50', planDays: '30', planCarry: true };
    expect(toUserBody(v, null, inbounds, null)).toMatchObject({
      auto_delete_in_days: 7,
      next_plan: { data_limit: 50 * gib, expire: 30 * 86400, add_remaining_traffic: true, fire_on_either: true },
    });
  });

  test('a template names the username and fills the limit and expiry', () => {
    const tpl = { id: 4, name: 'monthly', data_limit: 40 * gib, expire_duration: 30 * 86400, username_prefix: 'm_', username_suffix: null, inbounds: { trojan: ['Trojan A'] }, hwid_device_limit: 2, ip_limit: 2, per_device_credentials: null } as UserTemplate;
    const now = Date.UTC(2030, 0, 1);
    const v = { ...applyTemplate(initialValues(null), tpl, now), username: 'x' };
    expect(v).toMatchObject({ limitGiB: '40', expire: '2030-01-31', protocols: ['trojan'], template: '4', ipLimit: '2' });
    expect(toUserBody(v, null, inbounds, tpl)).toMatchObject({ username: 'm_x', proxies: { trojan: {} }, inbounds: { trojan: ['Trojan A'] }, hwid_device_limit: 2, ip_limit: 2 });
  });

  test('a template with credentials per device on turns them on for the new user; one on the default sends nothing', () => {
    const tpl = { id: 5, name: 'own', data_limit: 0, expire_duration: 0, username_prefix: null, username_suffix: null, inbounds: {}, hwid_device_limit: null, ip_limit: null, per_device_credentials: true } as UserTemplate;
    const v = { ...applyTemplate(initialValues(null), tpl), username: 'y' };
    expect(v.perDevice).toBe('on');
    expect(toUserBody(v, null, inbounds, tpl).per_device_credentials).toBe(true);
    const plain = { ...tpl, per_device_credentials: null };
    expect(toUserBody({ ...applyTemplate(initialValues(null), plain), username: 'z' }, null, inbounds, plain)).not.toHaveProperty('per_device_credentials');
  });

  test.each([
    [{ limitGiB: '-1' }, 'userForm.errGiB'],
    [{ autoDelete: '1.5' }, 'userForm.errWhole'],
    [{ ipLimit: '-1' }, 'userForm.errWhole'],
    [{ onHoldDays: '0' }, 'userForm.errOnHold'],
    [{ deviceLimit: '257' }, 'userForm.errDevices'],
    [{ deviceLimit: '-1' }, 'userForm.errWhole'],
    [{ protocols: [] }, 'userForm.errProtocols'],
    [{ protocols: ['trojan' as const], inbounds: { trojan: [] } }, 'userForm.errInbounds'],
  ])('refuses %o', (change, key) => {
    expect(() => toUserBody({ ...initialValues(null), username: 'a', ...change }, null, inbounds, null)).toThrow(FormError);
    expect(() => toUserBody({ ...initialValues(null), username: 'a', ...change }, null, inbounds, null)).toThrow(key);
  });
});

describe('an edited user', () => {
  test('an emptied rule and an unticked plan are removed (null)', () => {
    const u = user({ auto_delete_in_days: 7, next_plan: { data_limit: 0, expire: 0, add_remaining_traffic: false, fire_on_either: true } });
    const v = { ...initialValues(u), autoDelete: '', hasPlan: false };
    const body = toUserBody(v, u, inbounds, null);
    expect(body.auto_delete_in_days).toBeNull();
    expect(body.next_plan).toBeNull();
    expect(body.username).toBeUndefined();
    expect(body.proxies).toBeUndefined();
  });

  test('an emptied IP limit goes back to the default (null); an untouched one is not sent', () => {
    const u = user({ ip_limit: 3 });
    expect(initialValues(u).ipLimit).toBe('3');
    expect(toUserBody({ ...initialValues(u), ipLimit: '' }, u, inbounds, null).ip_limit).toBeNull();
    expect(toUserBody({ ...initialValues(u), ipLimit: '0' }, u, inbounds, null).ip_limit).toBe(0);
    const plain = user({});
    expect(toUserBody(initialValues(plain), plain, inbounds, null)).not.toHaveProperty('ip_limit');
  });

  test('credentials per device: On and Off are sent, Default sends null once the user had its own, else nothing', () => {
    const plain = user({ per_device_credentials: null });
    expect(initialValues(plain).perDevice).toBe('default');
    expect(toUserBody(initialValues(plain), plain, inbounds, null)).not.toHaveProperty('per_device_credentials');
    expect(toUserBody({ ...initialValues(plain), perDevice: 'on' }, plain, inbounds, null).per_device_credentials).toBe(true);
    expect(toUserBody({ ...initialValues(plain), perDevice: 'off' }, plain, inbounds, null).per_device_credentials).toBe(false);
    const off = user({ per_device_credentials: false });
    expect(initialValues(off).perDevice).toBe('off');
    expect(toUserBody(initialValues(off), off, inbounds, null).per_device_credentials).toBe(false);
    expect(toUserBody({ ...initialValues(off), perDevice: 'default' }, off, inbounds, null).per_device_credentials).toBeNull();
  });

  test('disabling and enabling set the status; otherwise it is left alone', () => {
    const active = user({});
    expect(toUserBody({ ...initialValues(active), disabled: true }, active, inbounds, null).status).toBe('disabled');
    expect(toUserBody(initialValues(active), active, inbounds, null).status).toBeUndefined();
    const off = user({ status: 'disabled' });
    expect(toUserBody({ ...initialValues(off), disabled: false }, off, inbounds, null).status).toBe('active');
  });

  test('the form starts from what the user has', () => {
    const u = user({ data_limit: 5 * gib, expire: Date.UTC(2030, 0, 31, 23, 59, 59) / 1000, note: 'n', auto_delete_in_days: 3 });
    expect(initialValues(u)).toMatchObject({ limitGiB: '5', expire: '2030-01-31', note: 'n', autoDelete: '3', protocols: ['trojan'] });
  });
});

describe('the expiry date', () => {
  test('a day the date input could not read is refused, not sent as "never"', () => {
    const v = { ...initialValues(null), username: 'dora', protocols: ['vless' as const], expire: '1404/12/30' };
    expect(() => toUserBody(v, null, inbounds, null)).toThrow(FormError);
    expect(() => toUserBody({ ...v, expire: '2030-02-30x' }, null, inbounds, null)).toThrow(FormError);
    expect(toUserBody({ ...v, expire: '' }, null, inbounds, null).expire).toBe(0);
  });
});
