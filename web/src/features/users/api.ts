// Users: fetchers over the typed client, query options and the mutations
// the pages use. The table's filters come from the URL (see useUsersParams).

import { keepPreviousData, queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, queryTime, unwrap, type Schemas } from '../../lib/api/client';
import { useLiveFallback } from '../../lib/events';
import { keys } from '../../lib/queryKeys';

export type User = Schemas['UserResponse'];
export type UserBody = Schemas['UserBody'];
export type UserStatus = User['status'];
export type NextPlan = Schemas['NextPlan'];
export type InboundSummary = Schemas['InboundSummary'];

export const protocols = ['vless', 'vmess', 'trojan', 'shadowsocks'] as const;
export type Protocol = (typeof protocols)[number];
export const statuses = ['active', 'disabled', 'limited', 'expired', 'on_hold'] as const;
export const resetStrategies = ['no_reset', 'day', 'week', 'month', 'year'] as const;
export type ResetStrategy = (typeof resetStrategies)[number];
export const sortFields = ['username', 'used_traffic', 'data_limit', 'expire', 'created_at'] as const;
export const pageSizes = [10, 20, 50, 100] as const;

export interface UsersParams {
  page: number;
  size: number;
  search: string;
  status: string;
  owner: string;
  /** A sortFields entry, "-" in front for descending; "" for the panel's order. */
  sort: string;
  /** Only users expiring after now and within this many days; 0: any. */
  expiring: number;
  /** Only on_hold users. */
  onHold: boolean;
  /** Only users with a data limit and less than this % of it left; 0: any. */
  dataLeft: number;
}

export const expiringChoices = [1, 3, 7, 14, 30] as const;
export const dataLeftChoices = [5, 10, 20, 50] as const;

/** The table's filters from the URL's query string (unknown values: the defaults). */
export function usersParamsFrom(search: URLSearchParams): UsersParams {
  const size = Number(search.get('size'));
  return {
    page: Math.max(1, Math.floor(Number(search.get('page'))) || 1),
    size: (pageSizes as readonly number[]).includes(size) ? size : 20,
    search: search.get('search') ?? '',
    status: statuses.find((s) => s === search.get('status')) ?? '',
    owner: search.get('owner') ?? '',
    sort: search.get('sort') ?? '',
    expiring: expiringChoices.find((d) => String(d) === search.get('expiring')) ?? 0,
    onHold: search.get('on_hold') === '1',
    dataLeft: dataLeftChoices.find((d) => String(d) === search.get('data_left')) ?? 0,
  };
}

/** The query string for these filters: defaults left out. */
export function usersSearchOf(params: UsersParams): URLSearchParams {
  const out = new URLSearchParams();
  const urlNames: Partial<Record<string, string>> = { onHold: 'on_hold', dataLeft: 'data_left' };
  for (const [k, v] of Object.entries(params)) {
    const dflt = k === 'page' ? 1 : k === 'size' ? 20 : k === 'expiring' || k === 'dataLeft' ? 0 : k === 'onHold' ? false : '';
    if (v !== dflt) {
      out.set(urlNames[k] ?? k, v === true ? '1' : String(v));
    }
  }
  return out;
}

export function usersQuery(p: UsersParams) {
  return queryOptions({
    queryKey: keys.usersPage(p),
    queryFn: ({ signal }) =>
      unwrap(
        api.GET('/api/users', {
          params: {
            query: {
              offset: (p.page - 1) * p.size,
              limit: p.size,
              search: p.search || undefined,
              // on_hold=true is status on_hold: the two together would contradict.
              status: (!p.onHold && p.status) || undefined,
              on_hold: p.onHold || undefined,
              expiring_within_days: p.expiring || undefined,
              data_left_below_percent: p.dataLeft || undefined,
              // Newest first unless the admin chose an order.
              sort: p.sort || '-created_at',
              admin: p.owner ? [p.owner] : undefined,
            },
          },
          signal,
        }),
      ),
    // The old page stays on screen while the next one loads.
    placeholderData: keepPreviousData,
  });
}

export function useUsers(p: UsersParams) {
  return useQuery({ ...usersQuery(p), refetchInterval: useLiveFallback() });
}

export function useUser(username: string) {
  return useQuery({
    queryKey: keys.user(username),
    queryFn: ({ signal }) => unwrap(api.GET('/api/user/{username}', { params: { path: { username } }, signal })),
    refetchInterval: useLiveFallback(),
  });
}

/** The core config's inbounds by protocol: what a user can be put in. */
export function useInbounds() {
  return useQuery({
    queryKey: keys.inbounds,
    queryFn: ({ signal }) => unwrap(api.GET('/api/inbounds', { signal })),
    staleTime: 5 * 60_000,
  });
}

export function useUserUsage(username: string, days: number) {
  return useQuery({
    queryKey: keys.userUsage(username, days),
    queryFn: ({ signal }) =>
      unwrap(
        api.GET('/api/user/{username}/usage', {
          params: { path: { username }, query: { start: queryTime(new Date(Date.now() - days * 86400_000)) } },
          signal,
        }),
      ),
    refetchInterval: useLiveFallback(),
  });
}

/** Bytes per UTC day of the last 30, days without traffic left out. */
export function useUserDaily(username: string) {
  return useQuery({
    queryKey: keys.userDaily(username),
    queryFn: ({ signal }) =>
      unwrap(
        api.GET('/api/user/{username}/usage/daily', {
          params: { path: { username }, query: { start: queryTime(new Date(Date.now() - 30 * 86400_000)) } },
          signal,
        }),
      ),
    refetchInterval: useLiveFallback(),
  });
}

/** Resets shown per page of a user's reset history. */
export const resetsPageSize = 10;

/** One page (0-based) of the user's usage resets, newest first. */
export function useUserResets(username: string, page: number) {
  return useQuery({
    queryKey: keys.userResets(username, page),
    queryFn: ({ signal }) =>
      unwrap(
        api.GET('/api/user/{username}/resets', {
          params: { path: { username }, query: { offset: page * resetsPageSize, limit: resetsPageSize } },
          signal,
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

const path = (username: string) => ({ params: { path: { username } } });

/** The addresses the user was seen from in the last 24 hours, newest first. */
export function useUserIPs(username: string) {
  return useQuery({
    queryKey: keys.userIPs(username),
    queryFn: ({ signal }) => unwrap(api.GET('/api/user/{username}/ips', { ...path(username), signal })),
    refetchInterval: useLiveFallback(),
  });
}

export type IPLimitSettings = Schemas['IPLimitSettings'];

/** The IP limit's settings (sudo). */
export function useIPLimitSettings() {
  return useQuery({
    queryKey: keys.ipLimitSettings,
    queryFn: ({ signal }) => unwrap(api.GET('/api/users/ip_limit', { signal })),
  });
}

export const ipLimitRequests = {
  save: (body: Partial<IPLimitSettings>) => unwrap(api.PUT('/api/users/ip_limit', { body })),
};

export const userRequests = {
  create: (body: UserBody) => unwrap(api.POST('/api/user', { body })),
  modify: (username: string, body: UserBody) => unwrap(api.PUT('/api/user/{username}', { ...path(username), body })),
  remove: (username: string) => unwrap(api.DELETE('/api/user/{username}', path(username))),
  reset: (username: string) => unwrap(api.POST('/api/user/{username}/reset', path(username))),
  revoke: (username: string) => unwrap(api.POST('/api/user/{username}/revoke_sub', path(username))),
  nextPlan: (username: string) => unwrap(api.POST('/api/user/{username}/active-next', path(username))),
  setOwner: (username: string, admin: string) =>
    unwrap(api.PUT('/api/user/{username}/set-owner', { params: { path: { username }, query: { admin_username: admin } } })),
  resetAll: () => unwrap(api.POST('/api/users/reset', {})),
  expired: (after: Date, before: Date) =>
    unwrap(api.GET('/api/users/expired', { params: { query: { expired_after: queryTime(after), expired_before: queryTime(before) } } })),
  deleteExpired: (after: Date, before: Date) =>
    unwrap(api.DELETE('/api/users/expired', { params: { query: { expired_after: queryTime(after), expired_before: queryTime(before) } } })),
};

export type BulkBody = Schemas['BulkBody'];
export type BulkAction = BulkBody['action'];
/** One bulk action with its argument, for any number of users. */
export type BulkRequest = Omit<BulkBody, 'usernames'>;
export type BulkResult = Schemas['BulkResponse'];

const postBulk = (body: BulkBody) => unwrap(api.POST('/api/users/bulk', { body }));

/** One action on many users: one request, one revision (POST /api/users/bulk). */
export function bulkUsers(request: BulkRequest, usernames: string[], send = postBulk): Promise<BulkResult> {
  return send({ ...request, usernames });
}

/** A mutation that refreshes the users table, the summary and the users it names. */
export function useUserMutation<A, R>(fn: (arg: A) => Promise<R>, touched: (arg: A, result: R) => string[] = () => []) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: (result, arg) => {
      void client.invalidateQueries({ queryKey: keys.users });
      void client.invalidateQueries({ queryKey: keys.system });
      void client.invalidateQueries({ queryKey: keys.admins });
      for (const name of touched(arg, result)) {
        void client.invalidateQueries({ queryKey: keys.user(name) });
      }
    },
  });
}
