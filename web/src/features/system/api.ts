import { apiFetch } from '../../lib/api';

/** GET /api/system: counts are the admin's own users for a regular admin. */
export interface SystemStats {
  version: string;
  total_user: number;
  online_users: number;
  users_active: number;
  users_on_hold: number;
  users_disabled: number;
  users_expired: number;
  users_limited: number;
  incoming_bandwidth: number;
  outgoing_bandwidth: number;
}

export function getSystem(token: string, signal?: AbortSignal): Promise<SystemStats> {
  return apiFetch<SystemStats>('/api/system', { token, signal });
}
