import { apiFetch } from '../../lib/api';
import type { Admin } from '../../types/api';

export function getCurrentAdmin(token: string, signal?: AbortSignal): Promise<Admin> {
  return apiFetch<Admin>('/api/admin', { token, signal });
}
