import { apiFetch } from '../../lib/api';
import type { InboundSummary, NextPlan, Protocol, User, UserDailyUsageResponse, UserStatus, UsersPage, UserUsageResponse } from '../../types/api';

// limit=1 because only the total is wanted; the panel counts without sending
// every user.
export async function countUsers(token: string, signal?: AbortSignal): Promise<number> {
  const page = await apiFetch<UsersPage>('/api/users?limit=1', { token, signal });
  return page.total;
}

export interface UserQuery {
  offset: number;
  limit: number;
  search: string;
  status: UserStatus | '';
  sort: string;
}

export function listUsers(token: string, q: UserQuery, signal?: AbortSignal): Promise<UsersPage> {
  const params = new URLSearchParams({ offset: String(q.offset), limit: String(q.limit) });
  if (q.search !== '') {
    params.set('search', q.search);
  }
  if (q.status !== '') {
    params.set('status', q.status);
  }
  if (q.sort !== '') {
    params.set('sort', q.sort);
  }
  return apiFetch<UsersPage>(`/api/users?${params.toString()}`, { token, signal });
}

/** The fields the dashboard edits; the API fills every other one. */
export interface UserFields {
  username?: string;
  proxies?: Partial<Record<Protocol, Record<string, string>>>;
  data_limit: number;
  data_limit_reset_strategy: ResetStrategy;
  expire: number;
  status?: 'active' | 'disabled' | 'on_hold';
  /** Seconds, for an on_hold user: the expiry counted from its first connection. */
  on_hold_expire_duration?: number;
  note: string;
  /** Per protocol, the inbound tags the user is in; the rest are excluded. Omitted: all. */
  inbounds?: Partial<Record<Protocol, string[]>>;
  /** null removes the rule (modify); omitted keeps it. */
  auto_delete_in_days?: number | null;
  /** null removes the plan (modify); omitted keeps it. */
  next_plan?: NextPlan | null;
}

export const resetStrategies = ['no_reset', 'day', 'week', 'month', 'year'] as const;
export type ResetStrategy = (typeof resetStrategies)[number];

function userPath(username: string, action = ''): string {
  return `/api/user/${encodeURIComponent(username)}${action}`;
}

export function createUser(token: string, fields: UserFields): Promise<User> {
  return apiFetch<User>('/api/user', { method: 'POST', token, body: fields });
}

export function modifyUser(token: string, username: string, fields: UserFields): Promise<User> {
  return apiFetch<User>(userPath(username), { method: 'PUT', token, body: fields });
}

export function deleteUser(token: string, username: string): Promise<unknown> {
  return apiFetch<unknown>(userPath(username), { method: 'DELETE', token });
}

export function resetUsage(token: string, username: string): Promise<User> {
  return apiFetch<User>(userPath(username, '/reset'), { method: 'POST', token });
}

export function revokeSubscription(token: string, username: string): Promise<User> {
  return apiFetch<User>(userPath(username, '/revoke_sub'), { method: 'POST', token });
}

/** Starts the user's next plan now (Marzban's active-next). */
export function activateNextPlan(token: string, username: string): Promise<User> {
  return apiFetch<User>(userPath(username, '/active-next'), { method: 'POST', token });
}

/** Bytes through each node since `since` (the API takes UTC date-times). */
export function userUsage(token: string, username: string, since: Date, signal?: AbortSignal): Promise<UserUsageResponse> {
  const start = queryTime(since);
  return apiFetch<UserUsageResponse>(`${userPath(username, '/usage')}?start=${encodeURIComponent(start)}`, { token, signal });
}

/** The core config's inbounds by protocol: what a user can be put in. */
export function listInbounds(token: string, signal?: AbortSignal): Promise<Partial<Record<Protocol, InboundSummary[]>>> {
  return apiFetch<Partial<Record<Protocol, InboundSummary[]>>>('/api/inbounds', { token, signal });
}

/** The API's date-time query form: UTC, to the second. */
function queryTime(t: Date): string {
  return t.toISOString().slice(0, 19);
}

/** Users that expired, or became limited, before `before` (after `after`). */
function expiredRange(after: Date, before: Date): string {
  return `expired_after=${encodeURIComponent(queryTime(after))}&expired_before=${encodeURIComponent(queryTime(before))}`;
}

export function listExpiredUsers(token: string, after: Date, before: Date): Promise<string[]> {
  return apiFetch<string[]>(`/api/users/expired?${expiredRange(after, before)}`, { token });
}

/** Deletes what listExpiredUsers lists, in one transaction; answers the usernames deleted. */
export function deleteExpiredUsers(token: string, after: Date, before: Date): Promise<string[]> {
  return apiFetch<string[]>(`/api/users/expired?${expiredRange(after, before)}`, { method: 'DELETE', token });
}

/** Gives the user to another admin (sudo). */
export function setOwner(token: string, username: string, admin: string): Promise<User> {
  return apiFetch<User>(`${userPath(username, '/set-owner')}?admin_username=${encodeURIComponent(admin)}`, { method: 'PUT', token });
}

/** Resets every user's usage at once (sudo); lifetime usage is kept. */
export function resetAllUsage(token: string): Promise<unknown> {
  return apiFetch<unknown>('/api/users/reset', { method: 'POST', token });
}

/** Bytes per UTC day since `since`, days without traffic left out. */
export function userDailyUsage(token: string, username: string, since: Date, signal?: AbortSignal): Promise<UserDailyUsageResponse> {
  return apiFetch<UserDailyUsageResponse>(`${userPath(username, '/usage/daily')}?start=${encodeURIComponent(queryTime(since))}`, { token, signal });
}
