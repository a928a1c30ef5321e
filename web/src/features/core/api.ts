import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
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
  putHosts: (hosts: Hosts) => unwrap(api.PUT('/api/hosts', { body: hosts })),
};
