import { useQuery } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
import { keys } from '../../lib/queryKeys';

export type ApiKey = Schemas['APIKey'];
export type Session = Schemas['AdminSession'];

/** The signed-in admin's second factor, keys and sessions. */
export function useTotpStatus() {
  return useQuery({ queryKey: keys.totp, queryFn: ({ signal }) => unwrap(api.GET('/api/admin/totp', { signal })) });
}

export function useApiKeys() {
  return useQuery({ queryKey: keys.apiKeys, queryFn: ({ signal }) => unwrap(api.GET('/api/admin/keys', { signal })) });
}

export function useSessions() {
  return useQuery({ queryKey: keys.sessions, queryFn: ({ signal }) => unwrap(api.GET('/api/admin/sessions', { signal })) });
}

const id = (n: number) => ({ params: { path: { id: n } } });

export const accountRequests = {
  enroll: () => unwrap(api.POST('/api/admin/totp/enroll')),
  confirm: (code: string) => unwrap(api.POST('/api/admin/totp/confirm', { body: { code } })),
  disable: (code: string) => unwrap(api.POST('/api/admin/totp/disable', { body: { code } })),
  createKey: (body: Schemas['KeyCreateBody']) => unwrap(api.POST('/api/admin/keys', { body })),
  revokeKey: (n: number) => unwrap(api.DELETE('/api/admin/keys/{id}', id(n))),
  endSession: (n: number) => unwrap(api.DELETE('/api/admin/sessions/{id}', id(n))),
  changePassword: (body: Schemas['PasswordChangeBody']) => unwrap(api.POST('/api/admin/password', { body })),
};

export const scopes = ['read', 'users', 'nodes', 'admins', 'all'] as const;
