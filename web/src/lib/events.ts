// The dashboard's one events WebSocket per tab (GET /api/events?token=...).
// The panel pushes what changed; applyEvent folds each message into the
// TanStack Query cache. While the socket is down (or the panel does not
// serve it yet) pages fall back to a slow refetch; nothing polls once it
// is up.

import type { QueryClient } from '@tanstack/react-query';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useSyncExternalStore } from 'react';
import type { Schemas } from './api/client';
import { keys } from './queryKeys';

export type PanelEvent =
  | { type: 'node'; id: number; status?: Schemas['NodeResponse']['status']; applied_revision?: number; message?: string }
  | { type: 'users'; revision?: number; usernames?: string[] }
  | { type: 'usage' }
  | { type: 'notifications' };

/** Parses one message; null for anything this client does not know. */
export function parseEvent(data: unknown): PanelEvent | null {
  if (typeof data !== 'string') {
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || !('type' in value)) {
    return null;
  }
  switch (value.type) {
    case 'node':
      return 'id' in value && typeof value.id === 'number' ? (value as PanelEvent) : null;
    case 'users':
    case 'usage':
    case 'notifications':
      return value as PanelEvent;
    default:
      return null;
  }
}

type Node = Schemas['NodeResponse'];

/** Applies one event to the cache: patches what it carries, invalidates what it names. */
export function applyEvent(client: QueryClient, event: PanelEvent): void {
  switch (event.type) {
    case 'node': {
      const known = client.getQueryData<Node[]>(keys.nodes)?.some((n) => n.id === event.id) ?? false;
      client.setQueryData<Node[]>(keys.nodes, (nodes) =>
        nodes?.map((n) => {
          if (n.id !== event.id) {
            return n;
          }
          return {
            ...n,
            status: event.status ?? n.status,
            applied_revision: event.applied_revision ?? n.applied_revision,
            message: event.message ?? n.message,
          };
        }),
      );
      if (!known) {
        // A node this tab has not seen: added elsewhere.
        void client.invalidateQueries({ queryKey: keys.nodes });
      }
      return;
    }
    case 'users':
      void client.invalidateQueries({ queryKey: keys.users });
      void client.invalidateQueries({ queryKey: keys.system });
      for (const name of event.usernames ?? []) {
        void client.invalidateQueries({ queryKey: keys.user(name) });
      }
      return;
    case 'usage':
      void client.invalidateQueries({ queryKey: keys.usage });
      void client.invalidateQueries({ queryKey: keys.system });
      void client.invalidateQueries({ queryKey: keys.users });
      return;
    case 'notifications':
      void client.invalidateQueries({ queryKey: keys.notifications });
      return;
  }
}

/** Capped exponential backoff with jitter: 1 s, 2 s, 4 s ... 30 s. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** attempt);
  return base / 2 + random() * (base / 2);
}

let live = false;
const listeners = new Set<() => void>();

function setLive(value: boolean): void {
  if (live !== value) {
    live = value;
    for (const l of listeners) {
      l();
    }
  }
}

function subscribeLive(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Whether the events socket is up. */
export function useLive(): boolean {
  return useSyncExternalStore(subscribeLive, () => live);
}

/** A query's refetchInterval: none while the socket is up, slow while it is down. */
export function useLiveFallback(ms = 30_000): number | false {
  return useLive() ? false : ms;
}

/** Keeps the events socket open while mounted; returns whether it is up. */
export function useEventsSocket(token: string): boolean {
  const client = useQueryClient();
  useEffect(() => {
    let ws: WebSocket | null = null;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let everOpened = false;

    function connect() {
      const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
      ws = new WebSocket(`${scheme}://${window.location.host}/api/events?token=${encodeURIComponent(token)}`);
      ws.onopen = () => {
        attempt = 0;
        setLive(true);
        if (everOpened) {
          // Whatever changed while the socket was down was not pushed.
          void client.invalidateQueries();
        }
        everOpened = true;
      };
      ws.onmessage = (e: MessageEvent) => {
        const event = parseEvent(e.data);
        if (event !== null) {
          applyEvent(client, event);
        }
      };
      // Failures are silent: the pages' fallback refetch covers them.
      ws.onerror = () => undefined;
      ws.onclose = () => {
        setLive(false);
        if (!stopped) {
          timer = setTimeout(connect, backoff(attempt++));
        }
      };
    }
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ws?.close();
      setLive(false);
    };
  }, [client, token]);
  return useLive();
}
