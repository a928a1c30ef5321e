import { apiFetch } from '../../lib/api';
import type { TokenResponse } from '../../types/api';

// OAuth2 password flow, as Marzban clients expect: a form, not JSON.
export async function login(username: string, password: string): Promise<string> {
  const form = new URLSearchParams({ username, password });
  const answer = await apiFetch<TokenResponse>('/api/admin/token', { method: 'POST', body: form });
  return answer.access_token;
}
