// The admin's JWT lives in localStorage so a reload keeps the session. The
// panel, not the browser, decides when it expires: any 401 clears it.

import { useSyncExternalStore } from 'react';

const tokenKey = 'outpost.token';
const listeners = new Set<() => void>();

export function loadToken(): string | null {
  try {
    return window.localStorage.getItem(tokenKey);
  } catch {
    // Storage can be disabled (private mode, policy); then the session only
    // lasts as long as the page.
    return memoryToken;
  }
}

let memoryToken: string | null = null;

function changed(): void {
  for (const l of listeners) {
    l();
  }
}

export function saveToken(token: string): void {
  memoryToken = token;
  try {
    window.localStorage.setItem(tokenKey, token);
  } catch {
    /* see loadToken */
  }
  changed();
}

export function clearToken(): void {
  memoryToken = null;
  try {
    window.localStorage.removeItem(tokenKey);
  } catch {
    /* see loadToken */
  }
  changed();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  // Signing in or out in another tab applies here too.
  window.addEventListener('storage', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('storage', listener);
  };
}

/** The current token; re-renders when it changes in this tab or another. */
export function useToken(): string | null {
  return useSyncExternalStore(subscribe, loadToken);
}
