// The dashboard's one events WebSocket per tab (GET /api/events?token=...,
// backend/api/events.go). The panel pushes what changed; applyEvent folds
// each message into the TanStack Query cache. Nothing polls while the
// socket is up: after every hello (the first message of each connection)
// the client refetches what it fetched before that connection, which
// covers whatever happened while the socket was down. Only while it is
// down do pages fall back to a slow refetch (useLiveFallback).

import type { QueryClient } from '@tanstack/react-query';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useSyncExternalStore } from 'react';
import type { Schemas } from './api/client';
import { keys } from './queryKeys';

type Node = Schemas['NodeResponse'];
type Wire = Schemas['EventMessage'];

/** The messages of GET /api/events, as the panel sends them. */
export type PanelEvent =
  /** First on every connection: the revision it starts at. */
  | { type: 'hello'; revision: number }
  /** Users created, changed or deleted; all: too many to name, everything is stale. */
  | { type: 'users'; revision: number; usernames: string[]; all: boolean }
  /** A node's status, message or applied revision changed, or it was deleted (sudo only). */
  | {
      type: 'node';
      id: number;
      name: string;
      status: Node['status'];
      message: string | null;
      applied_revision: number;
      last_seen: string | null;
      revision: number;
      deleted: boolean;
    }
  /** Usage batches were recorded; sudo admins get the users online now. */
  | { type: 'usage'; online?: number }
  /** Notification delivery status changed (sudo only). */
  | { type: 'notifications' }
  /** The fleet alerts that fired changed (sudo only). */
  | { type: 'alerts' };

const nodeStatuses: readonly string[] = ['connected', 'connecting', 'error', 'disabled'] satisfies Node['status'][];

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** Parses one message; null for anything that is not a well-formed event. */
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
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return null;
  }
  const m = value as Partial<Record<keyof Wire, unknown>>;
  switch (m.type) {
    case 'hello':
      return isInt(m.revision) ? { type: 'hello', revision: m.revision } : null;
    case 'users': {
      const names = m.usernames;
      if (!isInt(m.revision) || !Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
        return null;
      }
      return { type: 'users', revision: m.revision, usernames: names, all: m.all === true };
    }
    case 'node': {
      const { id, name, status, message, applied_revision, last_seen, revision } = m;
      if (
        !isInt(id) ||
        typeof name !== 'string' ||
        typeof status !== 'string' ||
        !nodeStatuses.includes(status) ||
        !isStringOrNull(message) ||
        !isInt(applied_revision) ||
        !isStringOrNull(last_seen) ||
        !isInt(revision)
      ) {
        return null;
      }
      return {
        type: 'node',
        id,
        name,
        status: status as Node['status'],
        message,
        applied_revision,
        last_seen,
        revision,
        deleted: m.deleted === true,
      };
    }
    case 'usage':
      return isInt(m.online) ? { type: 'usage', online: m.online } : { type: 'usage' };
    case 'notifications':
      return { type: 'notifications' };
    case 'alerts':
      return { type: 'alerts' };
    default:
      return null;
  }
}

/** Applies one event to the cache: patches what it carries, invalidates what it names. */
export function applyEvent(client: QueryClient, event: PanelEvent): void {
  switch (event.type) {
    case 'hello':
      // The socket itself refetches on hello (see useEventsSocket).
      return;
    case 'node': {
      if (event.deleted) {
        client.setQueryData<Node[]>(keys.nodes, (nodes) => nodes?.filter((n) => n.id !== event.id));
        void client.invalidateQueries({ queryKey: keys.overview });
        return;
      }
      const nodes = client.getQueryData<Node[]>(keys.nodes);
      if (nodes !== undefined && !nodes.some((n) => n.id === event.id)) {
        // A node this tab has not seen: added elsewhere.
        void client.invalidateQueries({ queryKey: keys.nodes });
      } else {
        const { name, status, message, applied_revision, last_seen } = event;
        client.setQueryData<Node[]>(keys.nodes, (list) =>
          list?.map((n) =>
            n.id === event.id
              ? { ...n, name, status, message, applied_revision, last_seen, panel_revision: Math.max(n.panel_revision, event.revision) }
              : n,
          ),
        );
        // An open node view reads the node with its health.
        void client.invalidateQueries({ queryKey: keys.node(event.id), exact: true });
      }
      void client.invalidateQueries({ queryKey: keys.overview });
      return;
    }
    case 'users':
      // The panel's revision moved: nodes read as behind until they apply it.
      client.setQueryData<Node[]>(keys.nodes, (list) => list?.map((n) => ({ ...n, panel_revision: Math.max(n.panel_revision, event.revision) })));
      void client.invalidateQueries({ queryKey: keys.users });
      void client.invalidateQueries({ queryKey: keys.system });
      void client.invalidateQueries({ queryKey: keys.overview });
      if (event.all) {
        void client.invalidateQueries({ queryKey: keys.anyUser });
      }
      for (const name of event.usernames) {
        void client.invalidateQueries({ queryKey: keys.user(name) });
      }
      return;
    case 'usage':
      void client.invalidateQueries({ queryKey: keys.usage });
      void client.invalidateQueries({ queryKey: keys.system });
      void client.invalidateQueries({ queryKey: keys.users });
      void client.invalidateQueries({ queryKey: keys.overview });
      return;
    case 'notifications':
      void client.invalidateQueries({ queryKey: keys.notifications });
      return;
    case 'alerts':
      void client.invalidateQueries({ queryKey: keys.alerts });
      return;
  }
}

/** Capped exponential backoff with jitter: 1 s, 2 s, 4 s ... 30 s. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** attempt);
  return base / 2 + random() * (base / 2);
}

/** The close code of a socket refused for its token: retrying will not help. */
export const closeUnauthorized = 4401;

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

/** Whether the events socket is up (it has said hello). */
export function useLive(): boolean {
  return useSyncExternalStore(subscribeLive, () => live);
}

/** A query's refetchInterval: none while the socket is up (events say what
 * changed), a slow refetch only while it is down or refused. */
export function useLiveFallback(ms = 30_000): number | false {
  return useLive() ? false : ms;
}

/** Refetches every query whose data is older than `since` (ms epoch): what
 * may have changed before a connection's hello was not pushed to it. */
export function refetchOlderThan(client: QueryClient, since: number): Promise<void> {
  return client.invalidateQueries({ predicate: (q) => q.state.dataUpdatedAt > 0 && q.state.dataUpdatedAt < since });
}

interface Connection {
  client: QueryClient;
  token: string;
  ws: WebSocket | null;
  attempt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  stopped: boolean;
}

// The tab's one connection. It is module state, not a component's, so the
// router can open it as soon as a signed-in page is navigated to (see
// app/router.tsx), before that page's loader starts its queries: what they
// fetch is then newer than the connection, and its hello refetches none of
// it (opened from the Shell's effect, after the page's first queries had
// answered, the hello fetched the users table a second time).
let current: Connection | null = null;

function connect(c: Connection): void {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const opened = Date.now();
  const ws = new WebSocket(`${scheme}://${window.location.host}/api/events?token=${encodeURIComponent(c.token)}`);
  c.ws = ws;
  ws.onmessage = (e: MessageEvent) => {
    const event = parseEvent(e.data);
    if (event === null) {
      return;
    }
    if (event.type === 'hello') {
      c.attempt = 0;
      setLive(true);
      // Everything committed after the hello is pushed; what was
      // fetched before this connection may have missed changes.
      void refetchOlderThan(c.client, opened);
      return;
    }
    applyEvent(c.client, event);
  };
  ws.onerror = () => undefined;
  ws.onclose = (e: CloseEvent) => {
    if (current === c) {
      setLive(false);
    }
    // A refused token stays refused; the next API call signs out.
    if (!c.stopped && e.code !== closeUnauthorized) {
      c.timer = setTimeout(() => {
        connect(c);
      }, backoff(c.attempt++));
    }
  };
}

/** Opens the tab's events socket for this token, unless it is open already;
 * another token's socket is closed first. */
export function openEvents(client: QueryClient, token: string): void {
  if (current !== null && current.token === token && current.client === client) {
    return;
  }
  closeEvents();
  const c: Connection = { client, token, ws: null, attempt: 0, timer: undefined, stopped: false };
  current = c;
  connect(c);
}

/** Closes the events socket (of this token only, when one is given). */
export function closeEvents(token?: string): void {
  const c = current;
  if (c === null || (token !== undefined && c.token !== token)) {
    return;
  }
  current = null;
  c.stopped = true;
  clearTimeout(c.timer);
  c.ws?.close();
  setLive(false);
}

/** Keeps the events socket open while mounted; returns whether it is up. */
export function useEventsSocket(token: string): boolean {
  const client = useQueryClient();
  useEffect(() => {
    openEvents(client, token);
    return () => {
      closeEvents(token);
    };
  }, [client, token]);
  return useLive();
}
