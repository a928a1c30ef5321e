import { apiFetch } from '../../lib/api';
import type { PanelNode } from '../../types/api';

export function listNodes(token: string, signal?: AbortSignal): Promise<PanelNode[]> {
  return apiFetch<PanelNode[]>('/api/nodes', { token, signal });
}
