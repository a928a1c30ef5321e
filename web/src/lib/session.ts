// The admin's JWT lives in localStorage so a reload keeps the session. The
// panel, not the browser, decides when it expires: any 401 clears it.

const tokenKey = 'outpost.token';

export function loadToken(): string | null {
  try {
    return window.localStorage.getItem(tokenKey);
  } catch {
    // Storage can be disabled (private mode, policy); then the session only
    // lasts as long as the page.
    return null;
  }
}

export function saveToken(token: string): void {
  try {
    window.localStorage.setItem(tokenKey, token);
  } catch {
    /* see loadToken */
  }
}

export function clearToken(): void {
  try {
    window.localStorage.removeItem(tokenKey);
  } catch {
    /* see loadToken */
  }
}
