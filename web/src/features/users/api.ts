import { apiFetch } from '../../lib/api';
import type { UsersPage } from '../../types/api';

// limit=1 because only the total is wanted; the panel counts without sending
// every user.
export async function countUsers(token: string, signal?: AbortSignal): Promise<number> {
  const page = await apiFetch<UsersPage>('/api/users?limit=1', { token, signal });
  return page.total;
}
