import { apiFetch } from '../../lib/api';
import type { NodesUsageResponse, PanelNode } from '../../types/api';

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

/** What the dashboard edits of a node. */
export interface NodeFields {
  name: string;
  address: string;
  usage_coefficient: number;
}

export function modifyNode(token: string, id: number, fields: NodeFields): Promise<PanelNode> {
  return apiFetch<PanelNode>(`/api/node/${String(id)}`, { method: 'PUT', token, body: fields });
}

/** Ends the node's session; the node dials again at once and its Xray keeps running. */
export function reconnectNode(token: string, id: number): Promise<unknown> {
  return apiFetch<unknown>(`/api/node/${String(id)}/reconnect`, { method: 'POST', token });
}

/** Up- and downlink bytes per node since `since` (the API takes UTC date-times). */
export function nodesUsage(token: string, since: Date, signal?: AbortSignal): Promise<NodesUsageResponse> {
  const start = since.toISOString().slice(0, 19);
  return apiFetch<NodesUsageResponse>(`/api/nodes/usage?start=${encodeURIComponent(start)}`, { token, signal });
}

/** How nodes reach this panel (GET /api/node/settings). */
export interface NodeSettings {
  min_node_version: string;
  /** The panel's own HTTPS certificate, PEM; "" when it serves plain HTTP. */
  certificate: string;
  /** Hex SHA-256 of that certificate: what bin/node --panel-cert-sha256 takes. */
  certificate_sha256: string;
  /** False for a self-signed certificate, which nodes must pin. */
  certificate_publicly_trusted: boolean;
  protocol_version: number;
  ws_path: string;
}

export function getNodeSettings(token: string, signal?: AbortSignal): Promise<NodeSettings> {
  return apiFetch<NodeSettings>('/api/node/settings', { token, signal });
}
