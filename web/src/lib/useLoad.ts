import { useCallback, useEffect, useState } from 'react';
import { ApiError, isAbort } from './api';

export type Loadable<T> =
  | { state: 'loading' }
  | { state: 'ready'; value: T; at: Date }
  | { state: 'error'; status: number; message: string };

/**
 * Runs load now and again whenever reload is called, aborting a request that
 * is superseded or whose component goes away. A previous value stays on screen
 * while the next one loads, so periodic refreshes do not flicker.
 *
 * load must be stable (useCallback): a new function starts a new request.
 * A 401 goes to onUnauthorized instead of becoming an error state, because an
 * expired session is handled once, by the app, not by every panel.
 */
export function useLoad<T>(
  load: (signal: AbortSignal) => Promise<T>,
  onUnauthorized: () => void,
): [Loadable<T>, () => void] {
  const [result, setResult] = useState<Loadable<T>>({ state: 'loading' });
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    load(controller.signal).then(
      (value) => {
        setResult({ state: 'ready', value, at: new Date() });
      },
      (err: unknown) => {
        if (isAbort(err)) {
          return;
        }
        if (err instanceof ApiError && err.unauthorized) {
          onUnauthorized();
          return;
        }
        const status = err instanceof ApiError ? err.status : 0;
        const message = err instanceof Error ? err.message : String(err);
        setResult({ state: 'error', status, message });
      },
    );
    return () => {
      controller.abort();
    };
  }, [load, onUnauthorized, generation]);

  const reload = useCallback(() => {
    setGeneration((g) => g + 1);
  }, []);
  return [result, reload];
}
