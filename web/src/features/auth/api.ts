import { api, unwrap } from '../../lib/api/client';

// OAuth2 password flow, as Marzban clients expect: a form, not JSON.
export async function login(username: string, password: string): Promise<string> {
  const answer = await unwrap(
    api.POST('/api/admin/token', {
      body: { username, password },
      bodySerializer: (b) => new URLSearchParams(b as Record<string, string>).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }),
  );
  return answer.access_token;
}
