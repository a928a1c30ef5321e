import { apiFetch } from '../../lib/api';

/** The Xray config nodes run, as the panel stores it. */
export function getCoreConfig(token: string, signal?: AbortSignal): Promise<unknown> {
  return apiFetch<unknown>('/api/core/config', { token, signal });
}

/** Replaces the core config; the panel checks it with Xray's own builder
 * first and answers 400 with the builder's message otherwise. */
export function putCoreConfig(token: string, config: object): Promise<unknown> {
  return apiFetch<unknown>('/api/core/config', { method: 'PUT', token, body: config });
}

/** Hosts by inbound tag (Marzban's GET /api/hosts). */
export function getHosts(token: string, signal?: AbortSignal): Promise<unknown> {
  return apiFetch<unknown>('/api/hosts', { token, signal });
}

export function putHosts(token: string, hosts: object): Promise<unknown> {
  return apiFetch<unknown>('/api/hosts', { method: 'PUT', token, body: hosts });
}
