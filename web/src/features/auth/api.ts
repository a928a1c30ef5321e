import { api, ApiError, errorDetail } from '../../lib/api/client';

/** The password was right and the panel asks for the second factor. */
export class SecondFactorNeeded extends ApiError {
  /** "required": no code was sent; "invalid": the code was wrong or used. */
  readonly reason: string;

  constructor(message: string, reason: string) {
    super(401, message);
    this.name = 'SecondFactorNeeded';
    this.reason = reason;
  }
}

// OAuth2 password flow, as Marzban clients expect: a form, not JSON. An
// admin with two-factor sign-in on adds otp (a TOTP or recovery code).
export async function login(username: string, password: string, otp = ''): Promise<string> {
  const body: Record<string, string> = { username, password };
  if (otp !== '') {
    body.otp = otp;
  }
  let result;
  try {
    result = await api.POST('/api/admin/token', {
      body: body as { username: string; password: string; otp?: string },
      bodySerializer: (b) => new URLSearchParams(b as Record<string, string>).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
  } catch {
    throw new ApiError(0, 'Cannot reach the panel. Check your connection and try again.');
  }
  const { data, error, response } = result;
  if (!response.ok || !data) {
    const message = errorDetail(error, `${String(response.status)} ${response.statusText}`.trim());
    const reason = response.headers.get('X-Outpost-Otp');
    if (response.status === 401 && reason) {
      throw new SecondFactorNeeded(message, reason);
    }
    throw new ApiError(response.status, message);
  }
  return data.access_token;
}
