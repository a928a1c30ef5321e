import { apiFetch } from '../../lib/api';

/** One target of the user events (GET /api/notifications), named without its secret. */
export interface NotificationTarget {
  kind: 'webhook' | 'telegram' | 'discord';
  target: string;
  pending: number;
  retrying: number;
  failed: number;
  last_error: string;
}

export interface NotificationsResponse {
  targets: NotificationTarget[];
}

export function getNotifications(token: string, signal?: AbortSignal): Promise<NotificationsResponse> {
  return apiFetch<NotificationsResponse>('/api/notifications', { token, signal });
}
