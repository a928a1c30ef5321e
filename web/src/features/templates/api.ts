import { apiFetch } from '../../lib/api';

/** A user template (Marzban's /api/user_template). */
export interface UserTemplate {
  id: number;
  name: string;
  /** Bytes; 0: unlimited. */
  data_limit: number | null;
  /** Seconds from creation; 0: never expires. */
  expire_duration: number | null;
  username_prefix: string | null;
  username_suffix: string | null;
  inbounds: Record<string, string[]>;
}

export function listTemplates(token: string, signal?: AbortSignal): Promise<UserTemplate[]> {
  return apiFetch<UserTemplate[]>('/api/user_template', { token, signal });
}

/** What the dashboard sets of a template. */
export interface TemplateFields {
  name: string;
  data_limit: number;
  expire_duration: number;
  username_prefix: string;
  username_suffix: string;
  /** Per protocol, the inbound tags a user from the template is in; {}: no restriction. */
  inbounds: Record<string, string[]>;
}

export function createTemplate(token: string, t: TemplateFields): Promise<UserTemplate> {
  return apiFetch<UserTemplate>('/api/user_template', { method: 'POST', token, body: t });
}

export function modifyTemplate(token: string, id: number, t: TemplateFields): Promise<UserTemplate> {
  return apiFetch<UserTemplate>(`/api/user_template/${String(id)}`, { method: 'PUT', token, body: t });
}

export function deleteTemplate(token: string, id: number): Promise<unknown> {
  return apiFetch<unknown>(`/api/user_template/${String(id)}`, { method: 'DELETE', token });
}
