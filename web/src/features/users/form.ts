// The user form's values and their translation into the API's UserBody.
// Kept free of React so Vitest checks the rules directly.

import { gib } from '../../lib/format';
import { perDeviceChoice, perDeviceValue, type PerDeviceChoice } from '../devices/perDevice';
import type { UserTemplate } from '../templates/api';
import { protocols, resetStrategies, type InboundSummary, type Protocol, type ResetStrategy, type User, type UserBody } from './api';

export interface UserFormValues {
  username: string;
  template: string;
  protocols: Protocol[];
  /** Per protocol, the inbound tags the user is in; a protocol missing here is in all. */
  inbounds: Partial<Record<Protocol, string[]>>;
  limitGiB: string;
  reset: ResetStrategy;
  /** YYYY-MM-DD (UTC), "" for never. */
  expire: string;
  onHoldDays: string;
  disabled: boolean;
  note: string;
  owner: string;
  autoDelete: string;
  /** Devices that may fetch the subscription; "" the global default, "0" unlimited. */
  deviceLimit: string;
  /** Addresses at once, "" for the global default, 0 for unlimited. */
  ipLimit: string;
  /** Credentials per device: "default" follows the global switch. */
  perDevice: PerDeviceChoice;
  hasPlan: boolean;
  planGiB: string;
  planDays: string;
  planCarry: boolean;
  planEither: boolean;
}

export type Inbounds = Partial<Record<string, InboundSummary[]>>;

/** A form error: a translation key and its values. */
export class FormError extends Error {
  readonly key: string;
  readonly values: Record<string, string | number>;

  constructor(key: string, values: Record<string, string | number> = {}) {
    super(key);
    this.key = key;
    this.values = values;
  }
}

export function dateInput(expire: number | null | undefined): string {
  return expire ? new Date(expire * 1000).toISOString().slice(0, 10) : '';
}

/** The date `days` from now, as the form's date field takes it. */
export function daysFromNow(days: number, now = Date.now()): string {
  return dateInput(Math.floor(now / 1000) + days * 86400);
}

export function initialValues(user: User | null): UserFormValues {
  const plan = user?.next_plan ?? null;
  return {
    username: user?.username ?? '',
    template: '',
    protocols: user ? (Object.keys(user.proxies) as Protocol[]) : ['vless'],
    inbounds: user?.inbounds ?? {},
    limitGiB: user?.data_limit ? String(user.data_limit / gib) : '',
    reset: resetStrategies.find((r) => r === user?.data_limit_reset_strategy) ?? 'no_reset',
    expire: dateInput(user?.expire),
    onHoldDays: '',
    disabled: user?.status === 'disabled',
    note: user?.note ?? '',
    owner: user?.admin?.username ?? '',
    autoDelete: user?.auto_delete_in_days != null ? String(user.auto_delete_in_days) : '',
    deviceLimit: user?.hwid_device_limit != null ? String(user.hwid_device_limit) : '',
    ipLimit: user?.ip_limit != null ? String(user.ip_limit) : '',
    perDevice: perDeviceChoice(user?.per_device_credentials),
    hasPlan: plan !== null,
    planGiB: plan?.data_limit ? String(plan.data_limit / gib) : '',
    planDays: plan?.expire ? String(Math.round(plan.expire / 86400)) : '',
    planCarry: plan?.add_remaining_traffic ?? false,
    planEither: plan?.fire_on_either ?? true,
  };
}

/** A template fills the limit, the expiry (from today), the protocols and inbounds it names. */
export function applyTemplate(values: UserFormValues, t: UserTemplate, now = Date.now()): UserFormValues {
  const named = protocols.filter((p) => (t.inbounds[p]?.length ?? 0) > 0);
  return {
    ...values,
    template: String(t.id),
    limitGiB: t.data_limit ? String(t.data_limit / gib) : '',
    expire: t.expire_duration ? daysFromNow(t.expire_duration / 86400, now) : '',
    deviceLimit: t.hwid_device_limit != null ? String(t.hwid_device_limit) : '',
    ipLimit: t.ip_limit != null ? String(t.ip_limit) : '',
    perDevice: perDeviceChoice(t.per_device_credentials),
    ...(named.length > 0 ? { protocols: named, inbounds: Object.fromEntries(named.map((p) => [p, t.inbounds[p] ?? []])) } : {}),
  };
}

/** The most a device limit may be (the API's "devices" range). */
export const maxDevices = 256;

/** "" for an empty field, else a whole number of at least min. */
function wholeNumber(text: string, field: string, min: number): number | null {
  if (text.trim() === '') {
    return null;
  }
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    throw new FormError('userForm.errWhole', { field, min });
  }
  return n;
}

/** GiB typed by the admin, as bytes; empty is 0 (unlimited). */
function gibField(text: string, field: string): number {
  const n = text.trim() === '' ? 0 : Number(text);
  if (!Number.isFinite(n) || n < 0) {
    throw new FormError('userForm.errGiB', { field });
  }
  return Math.round(n * gib);
}

/** The inbounds the admin can choose from: the user's protocols that more than one inbound serves. */
export function choosableProtocols(values: UserFormValues, inbounds: Inbounds): Protocol[] {
  return protocols.filter((p) => values.protocols.includes(p) && (inbounds[p]?.length ?? 0) > 1);
}

export function tagsOf(values: UserFormValues, inbounds: Inbounds, p: Protocol): string[] {
  return values.inbounds[p] ?? (inbounds[p] ?? []).map((i) => i.tag);
}

/**
 * The request body for the form's values. Only what an admin unticks is
 * sent as inbounds; an emptied rule or an unticked plan is sent as null
 * (removed) on an edit and left out on a create.
 */
export function toUserBody(
  values: UserFormValues,
  user: User | null,
  inbounds: Inbounds,
  template: UserTemplate | null,
): UserBody {
  const expire = values.expire === '' ? 0 : Math.floor(new Date(`${values.expire}T23:59:59Z`).getTime() / 1000);
  if ((values.expire !== '' && !/^\d{4}-\d{2}-\d{2}$/.test(values.expire)) || Number.isNaN(expire)) {
    // What the date input could not read as a day.
    throw new FormError('dateInput.invalid');
  }
  const body: UserBody = {
    data_limit: gibField(values.limitGiB, 'limit'),
    data_limit_reset_strategy: values.reset,
    expire,
    note: values.note,
  };
  const days = wholeNumber(values.autoDelete, 'autoDelete', 0);
  if (days !== null || user?.auto_delete_in_days != null) {
    body.auto_delete_in_days = days;
  }
  const devices = wholeNumber(values.deviceLimit, 'deviceLimit', 0);
  if (devices !== null && devices > maxDevices) {
    throw new FormError('userForm.errDevices', { max: maxDevices });
  }
  if (devices !== null || user?.hwid_device_limit != null) {
    body.hwid_device_limit = devices;
  }
  const ipLimit = wholeNumber(values.ipLimit, 'ipLimit', 0);
  if (ipLimit !== null || user?.ip_limit != null) {
    body.ip_limit = ipLimit;
  }
  const perDevice = perDeviceValue(values.perDevice);
  if (perDevice !== null || user?.per_device_credentials != null) {
    body.per_device_credentials = perDevice;
  }
  if (values.hasPlan) {
    body.next_plan = {
      data_limit: gibField(values.planGiB, 'planLimit'),
      expire: (wholeNumber(values.planDays, 'planDays', 1) ?? 0) * 86400,
      add_remaining_traffic: values.planCarry,
      fire_on_either: values.planEither,
    };
  } else if (user?.next_plan) {
    body.next_plan = null;
  }
  const chosen: Record<string, string[]> = {};
  for (const p of choosableProtocols(values, inbounds)) {
    const tags = tagsOf(values, inbounds, p);
    if (tags.length === 0) {
      throw new FormError('userForm.errInbounds', { protocol: p });
    }
    chosen[p] = tags;
  }
  if (Object.keys(chosen).length > 0) {
    body.inbounds = chosen;
  }
  if (user === null) {
    if (values.protocols.length === 0) {
      throw new FormError('userForm.errProtocols');
    }
    body.username = `${template?.username_prefix ?? ''}${values.username.trim()}${template?.username_suffix ?? ''}`;
    body.proxies = Object.fromEntries(values.protocols.map((p) => [p, {}]));
    if (values.onHoldDays.trim() !== '') {
      const hold = Number(values.onHoldDays);
      if (!Number.isInteger(hold) || hold <= 0) {
        throw new FormError('userForm.errOnHold');
      }
      body.status = 'on_hold';
      body.on_hold_expire_duration = hold * 86400;
      body.expire = 0;
    }
  } else if (values.disabled || user.status === 'disabled') {
    body.status = values.disabled ? 'disabled' : 'active';
  }
  return body;
}
