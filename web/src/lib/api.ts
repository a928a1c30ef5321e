// One door to the panel's REST API: every request goes through apiFetch, so
// authentication, error decoding and the 401 rule live in one place.

export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }

  get unauthorized(): boolean {
    return this.status === 401;
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  token?: string | null;
  body?: URLSearchParams | object;
  signal?: AbortSignal;
}

export async function apiFetch<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers = new Headers({ Accept: 'application/json' });
  if (options.token) {
    headers.set('Authorization', `Bearer ${options.token}`);
  }
  let body: BodyInit | undefined;
  if (options.body instanceof URLSearchParams) {
    // Set explicitly: fetch would add ";charset=UTF-8", which strict form
    // parsers compare against and reject.
    headers.set('Content-Type', 'application/x-www-form-urlencoded');
    body = options.body.toString();
  } else if (options.body !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(options.body);
  }

  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      body,
      signal: options.signal,
      credentials: 'same-origin',
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') {
      throw err;
    }
    throw new ApiError(0, 'Cannot reach the panel. Check your connection and try again.');
  }

  if (!response.ok) {
    throw new ApiError(response.status, await errorMessage(response));
  }
  if (response.status === 204) {
    return undefined as T;
  }
  return (await response.json()) as T;
}

// The panel answers errors as {"detail": "..."}; validation errors may carry
// a list of {msg} instead, as Marzban's do.
async function errorMessage(response: Response): Promise<string> {
  const fallback = `${String(response.status)} ${response.statusText}`.trim();
  let payload: unknown;
  try {
    payload = await response.json();
  } catch {
    return fallback;
  }
  if (typeof payload !== 'object' || payload === null || !('detail' in payload)) {
    return fallback;
  }
  const detail = payload.detail;
  if (typeof detail === 'string' && detail !== '') {
    return detail;
  }
  if (Array.isArray(detail)) {
    const messages = detail
      .map((item: unknown) =>
        typeof item === 'object' && item !== null && 'msg' in item ? String(item.msg) : String(item),
      )
      .filter((m) => m !== '');
    if (messages.length > 0) {
      return messages.join('; ');
    }
  }
  return fallback;
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}
