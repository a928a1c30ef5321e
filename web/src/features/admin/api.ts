import { queryOptions, useQuery } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
import { keys } from '../../lib/queryKeys';

export type Admin = Schemas['Admin'];
export type AdminWithUse = Schemas['AdminWithUse'];
export type AdminModify = Schemas['AdminModifyBody'];

/** The signed-in admin (also prefetched by the router at sign-in). */
export const currentAdminQuery = queryOptions({
  queryKey: keys.admin,
  queryFn: ({ signal }) => unwrap(api.GET('/api/admin', { signal })),
  staleTime: 5 * 60_000,
});

/** fresh: refetched on mount (its caps' use moves with every user change). */
export function useCurrentAdmin(fresh = false) {
  return useQuery({ ...currentAdminQuery, staleTime: fresh ? 0 : currentAdminQuery.staleTime });
}

/** Every admin (sudo); enabled: false for a reseller, which may not list them. */
export function useAdmins(enabled = true) {
  return useQuery({
    queryKey: keys.admins,
    queryFn: ({ signal }) => unwrap(api.GET('/api/admins', { signal })),
    enabled,
  });
}

const path = (username: string) => ({ params: { path: { username } } });

export const adminRequests = {
  create: (body: Schemas['AdminCreateBody']) => unwrap(api.POST('/api/admin', { body })),
  modify: (username: string, body: AdminModify) => unwrap(api.PUT('/api/admin/{username}', { ...path(username), body })),
  remove: (username: string) => unwrap(api.DELETE('/api/admin/{username}', path(username))),
  disableUsers: (username: string) => unwrap(api.POST('/api/admin/{username}/users/disable', path(username))),
  activateUsers: (username: string) => unwrap(api.POST('/api/admin/{username}/users/activate', path(username))),
  resetUsage: (username: string) => unwrap(api.POST('/api/admin/usage/reset/{username}', path(username))),
  resetTotp: (username: string) => unwrap(api.POST('/api/admin/{username}/totp/reset', path(username))),
};
