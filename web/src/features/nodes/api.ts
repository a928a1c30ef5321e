import { useQueries, useQuery } from '@tanstack/react-query';
import { api, queryTime, unwrap, type Schemas } from '../../lib/api/client';
import { useLiveFallback } from '../../lib/events';
import { keys } from '../../lib/queryKeys';

export type PanelNode = Schemas['NodeResponse'];
export type NodeBody = Schemas['NodeBody'];
export type NodeSettings = Schemas['NodeSettingsResponse'];

export function useNodes(enabled = true) {
  return useQuery({
    queryKey: keys.nodes,
    queryFn: ({ signal }) => unwrap(api.GET('/api/nodes', { signal })),
    refetchInterval: useLiveFallback(10_000),
    enabled,
  });
}

export function useNodeSettings() {
  return useQuery({
    queryKey: keys.nodeSettings,
    queryFn: ({ signal }) => unwrap(api.GET('/api/node/settings', { signal })),
    staleTime: 5 * 60_000,
  });
}

/** Up- and downlink bytes per node over the last `days`. */
export function useNodesUsage(days: number, enabled = true) {
  return useQuery({
    queryKey: keys.nodesUsage(days),
    queryFn: ({ signal }) =>
      unwrap(api.GET('/api/nodes/usage', { params: { query: { start: queryTime(new Date(Date.now() - days * 86400_000)) } }, signal })),
    refetchInterval: useLiveFallback(),
    enabled,
  });
}

/** One node, health included. Its health has no event of its own, so an
 * open node view refetches it every few seconds. */
export function useNode(id: number, enabled = true) {
  return useQuery({
    queryKey: keys.node(id),
    queryFn: ({ signal }) => unwrap(api.GET('/api/node/{id}', { params: { path: { id } }, signal })),
    refetchInterval: 5_000,
    enabled,
  });
}

const dayMs = 86400_000;

/** Every node's traffic on each of the last `days` UTC days, today last.
 * Finished days never change, so only today's follows usage events. */
export function useNodesDaily(days: number, now: Date) {
  const today = Math.floor(now.getTime() / dayMs) * dayMs;
  return useQueries({
    queries: Array.from({ length: days }, (_, i) => {
      const start = new Date(today - (days - 1 - i) * dayMs);
      const end = new Date(start.getTime() + dayMs);
      const day = queryTime(start).slice(0, 10);
      const isToday = i === days - 1;
      return {
        queryKey: isToday ? [...keys.usage, 'nodes-today', day] : keys.nodesDay(day),
        queryFn: ({ signal }: { signal: AbortSignal }) =>
          unwrap(api.GET('/api/nodes/usage', { params: { query: { start: queryTime(start), end: queryTime(end) } }, signal })).then((r) => ({
            day,
            usages: r.usages,
          })),
        staleTime: isToday ? 0 : Number.POSITIVE_INFINITY,
      };
    }),
  });
}

const path = (id: number) => ({ params: { path: { id } } });

export const nodeRequests = {
  create: (body: NodeBody) => unwrap(api.POST('/api/node', { body })),
  modify: (id: number, body: NodeBody) => unwrap(api.PUT('/api/node/{id}', { ...path(id), body })),
  remove: (id: number) => unwrap(api.DELETE('/api/node/{id}', path(id))),
  rotateToken: (id: number) => unwrap(api.POST('/api/node/{id}/token', path(id))),
  reconnect: (id: number) => unwrap(api.POST('/api/node/{id}/reconnect', path(id))),
  restart: (id: number) => unwrap(api.POST('/api/node/{id}/restart', path(id))),
};

/** The certificate pin a node needs: set only when the panel serves a
 * self-signed certificate itself (a publicly trusted one must not be
 * pinned, or its renewal would cut every node off). */
export function certificatePin(settings: NodeSettings | undefined): string {
  if (settings === undefined || settings.certificate_sha256 === '' || settings.certificate_publicly_trusted) {
    return '';
  }
  return settings.certificate_sha256;
}

/** The command that starts a node against this panel. */
export function nodeCommand(token: string, settings: NodeSettings | undefined, origin = window.location.origin): string {
  const pin = certificatePin(settings);
  return `bin/node --panel ${origin} --token ${token}${pin ? ` --panel-cert-sha256 ${pin}` : ''}`;
}
