import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { ApiError, api, unwrap, type Schemas } from '../../lib/api/client';
import { keys } from '../../lib/queryKeys';

export type Host = Schemas['Host'];
export type Hosts = Record<string, Host[]>;

/** The Xray config nodes run, as the panel stores it. */
export function useCoreConfig() {
  return useQuery({
    queryKey: keys.coreConfig,
    queryFn: ({ signal }) => unwrap(api.GET('/api/core/config', { signal })),
  });
}

/** A saved core config (the last 50 saves and restores), newest first. */
export type ConfigVersion = Schemas['ConfigVersionJSON'];

export function useConfigHistory(enabled: boolean) {
  return useQuery({
    queryKey: keys.coreConfigHistory,
    queryFn: ({ signal }) => unwrap(api.GET('/api/core/config/history', { signal })),
    enabled,
  });
}

/** One saved config's JSON (null id: nothing asked). */
export function useConfigVersion(id: number | null) {
  return useQuery({
    queryKey: keys.coreConfigVersion(id ?? 0),
    queryFn: ({ signal }) => unwrap(api.GET('/api/core/config/history/{id}', { params: { path: { id: id ?? 0 } }, signal })),
    enabled: id !== null,
    staleTime: Infinity, // a saved version never changes
  });
}

/** What the panel says when it refuses a config because of one inbound: its tag and place ("inbounds[2]"). */
export interface InboundFault {
  inbound?: string;
  path: string;
}

export function inboundFault(err: unknown): InboundFault | null {
  if (!(err instanceof ApiError) || typeof err.body !== 'object' || err.body === null) {
    return null;
  }
  const body = err.body as { inbound?: unknown; path?: unknown };
  if (typeof body.path !== 'string' || body.path === '') {
    return null;
  }
  return { path: body.path, inbound: typeof body.inbound === 'string' && body.inbound !== '' ? body.inbound : undefined };
}

export function useHosts() {
  return useQuery({
    queryKey: keys.hosts,
    queryFn: ({ signal }) => unwrap(api.GET('/api/hosts', { signal })) as Promise<Hosts>,
  });
}

/**
 * The share links a hosts draft gives a user (the named one, else a sample
 * user), rendered by the panel as subscriptions are; nothing is saved.
 */
export function useHostsPreview(hosts: Hosts, username: string) {
  return useQuery({
    queryKey: keys.hostsPreview(hosts, username),
    queryFn: ({ signal }) => unwrap(api.POST('/api/hosts/preview', { body: { hosts, username }, signal })),
    placeholderData: keepPreviousData,
    retry: false,
  });
}

export const coreRequests = {
  /** The panel checks the config with Xray's own builder and answers 400 with its message otherwise. */
  putConfig: (config: Record<string, unknown>) => unwrap(api.PUT('/api/core/config', { body: config })),
  /** Validation only: nothing is saved. 422 with the reason (and the inbound at fault) when PUT would refuse it. */
  checkConfig: (config: Record<string, unknown>) => unwrap(api.POST('/api/core/config/check', { body: config })),
  restoreVersion: (id: number) => unwrap(api.POST('/api/core/config/history/{id}/restore', { params: { path: { id } } })),
  putHosts: (hosts: Hosts) => unwrap(api.PUT('/api/hosts', { body: hosts })),
};
