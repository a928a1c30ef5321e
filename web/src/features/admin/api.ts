import { apiFetch } from '../../lib/api';
import type { Admin } from '../../types/api';

export function getCurrentAdmin(token: string, signal?: AbortSignal): Promise<Admin> {
  return apiFetch<Admin>('/api/admin', { token, signal });
}

export function listAdmins(token: string, signal?: AbortSignal): Promise<Admin[]> {
  return apiFetch<Admin[]>('/api/admins', { token, signal });
}

export function createAdmin(
  token: string,
  fields: { username: string; password: string; is_sudo: boolean },
): Promise<Admin> {
  return apiFetch<Admin>('/api/admin', { method: 'POST', token, body: fields });
}

export function deleteAdmin(token: string, username: string): Promise<unknown> {
  return apiFetch<unknown>(`/api/admin/${encodeURIComponent(username)}`, { method: 'DELETE', token });
}

/** Disables every active user of the admin, or activates every user it disabled. */
export function setAdminUsers(token: string, username: string, action: 'disable' | 'activate'): Promise<unknown> {
  return apiFetch<unknown>(`/api/admin/${encodeURIComponent(username)}/users/${action}`, { method: 'POST', token });
}

/** What the dashboard changes of an admin; an omitted field is unchanged. */
export interface AdminChanges {
  /** Signs the admin out everywhere. */
  password?: string;
  is_sudo: boolean;
  /** Gets the events of the admin's users (with the panel's bot); 0 clears it. */
  telegram_id?: number;
  /** Gets the events of the admin's users; "" clears it. */
  discord_webhook?: string;
}

export function modifyAdmin(token: string, username: string, fields: AdminChanges): Promise<Admin> {
  return apiFetch<Admin>(`/api/admin/${encodeURIComponent(username)}`, { method: 'PUT', token, body: fields });
}

/** Sets the admin's users_usage (its users' traffic since the last reset) back to 0. */
export function resetAdminUsage(token: string, username: string): Promise<unknown> {
  return apiFetch<unknown>(`/api/admin/usage/reset/${encodeURIComponent(username)}`, { method: 'POST', token });
}
