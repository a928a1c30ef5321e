// One door to the panel's REST API: a typed openapi-fetch client over the
// generated schema, so a path, a parameter or a field the panel does not
// have fails to compile. Authentication, error decoding and the 401 rule
// live here and nowhere else.

import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';
import { clearToken, loadToken } from '../session';

export type Schemas = components['schemas'];

export class ApiError extends Error {
  readonly status: number;
  /** The error body as the panel sent it (fields beyond detail, e.g. a core config's inbound). */
  readonly body: unknown;

  constructor(status: number, message: string, body?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/** Called when the panel answers 401: the session is over. */
let onUnauthorized: () => void = () => undefined;

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = loadToken();
    if (token !== null && !request.headers.has('Authorization')) {
      request.headers.set('Authorization', `Bearer ${token}`);
    }
    return request;
  },
  onResponse({ response, request }) {
    // A refused sign-in is the form's business, not an ended session.
    if (response.status === 401 && !request.url.endsWith('/api/admin/token')) {
      clearToken();
      onUnauthorized();
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

/** The panel's {"detail": ...} (a string, or Marzban's list of {msg}) as text. */
export function errorDetail(payload: unknown, fallback: string): string {
  if (typeof payload !== 'object' || payload === null || !('detail' in payload)) {
    return fallback;
  }
  const detail = payload.detail;
  if (typeof detail === 'string' && detail !== '') {
    return detail;
  }
  if (Array.isArray(detail)) {
    const messages = detail
      .map((item: unknown) => (typeof item === 'object' && item !== null && 'msg' in item ? String(item.msg) : String(item)))
      .filter((m) => m !== '');
    if (messages.length > 0) {
      return messages.join('; ');
    }
  }
  return fallback;
}

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's body, or an ApiError with the panel's own words. */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') {
      throw err;
    }
    throw new ApiError(0, 'Cannot reach the panel. Check your connection and try again.');
  }
  const { data, error, response } = result;
  if (!response.ok) {
    throw new ApiError(response.status, errorDetail(error, `${String(response.status)} ${response.statusText}`.trim()), error);
  }
  return data as T;
}

/** The API's date-time query form: UTC, to the second. */
export function queryTime(t: Date): string {
  return t.toISOString().slice(0, 19);
}
