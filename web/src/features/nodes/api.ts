import { apiFetch } from '../../lib/api';
import type { PanelNode } from '../../types/api';

export function listNodes(token: string, signal?: AbortSignal): Promise<PanelNode[]> {
  return apiFetch<PanelNode[]>('/api/nodes', { token, signal });
}

/** A new node and its token, which the panel shows only this once. */
export type CreatedNode = PanelNode & { token: string };

export function createNode(token: string, name: string, usageCoefficient: number): Promise<CreatedNode> {
  return apiFetch<CreatedNode>('/api/node', {
    method: 'POST',
    token,
    body: { name, usage_coefficient: usageCoefficient },
  });
}

/** Issues a new token; the old one, and any session using it, stops working. */
export function rotateNodeToken(token: string, id: number): Promise<{ token: string }> {
  return apiFetch<{ token: string }>(`/api/node/${String(id)}/token`, { method: 'POST', token });
}

export function deleteNode(token: string, id: number): Promise<unknown> {
  return apiFetch<unknown>(`/api/node/${String(id)}`, { method: 'DELETE', token });
}
