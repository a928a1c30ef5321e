import { QueryClient } from '@tanstack/react-query';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { Schemas } from './api/client';
import { applyEvent, backoff, closeEvents, openEvents, parseEvent, refetchOlderThan, type PanelEvent } from './events';
import { keys } from './queryKeys';

type Node = Schemas['NodeResponse'];

function node(id: number, over: Partial<Node> = {}): Node {
  return {
    id,
    name: `n${String(id)}`,
    address: '127.0.0.1',
    api_port: 0,
    port: 0,
    applied_revision: 10,
    panel_revision: 10,
    health: null,
    created_at: '2026-01-01T00:00:00Z',
    last_seen: null,
    message: null,
    status: 'connected',
    usage_coefficient: 1,
    xray_version: '25',
    agent_version: null,
    ...over,
  };
}

/** A cache with data under the given keys, none of it stale yet. */
function cache(entries: [readonly unknown[], unknown][]): QueryClient {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity } } });
  for (const [key, data] of entries) {
    client.setQueryData(key, data);
  }
  return client;
}

const invalidated = (client: QueryClient, key: readonly unknown[]) => client.getQueryState(key)?.isInvalidated ?? false;

const nodeEvent = (id: number, over: Partial<Extract<PanelEvent, { type: 'node' }>> = {}): PanelEvent => ({
  type: 'node',
  id,
  name: `n${String(id)}`,
  status: 'connected',
  message: null,
  applied_revision: 10,
  last_seen: null,
  revision: 10,
  deleted: false,
  ...over,
});

describe('parseEvent', () => {
  // The messages exactly as backend/events writes them.
  test('reads every message the panel sends', () => {
    expect(parseEvent('{"type":"hello","revision":42}')).toEqual({ type: 'hello', revision: 42 });
    expect(parseEvent('{"type":"users","revision":5,"usernames":["a"]}')).toEqual({ type: 'users', revision: 5, usernames: ['a'], all: false });
    expect(parseEvent('{"type":"users","revision":6,"usernames":[],"all":true}')).toEqual({ type: 'users', revision: 6, usernames: [], all: true });
    expect(
      parseEvent(
        '{"type":"node","id":3,"name":"de","status":"error","message":"gone","applied_revision":7,"last_seen":"2026-01-01T00:00:00Z","revision":9}',
      ),
    ).toEqual(nodeEvent(3, { name: 'de', status: 'error', message: 'gone', applied_revision: 7, last_seen: '2026-01-01T00:00:00Z', revision: 9 }));
    expect(
      parseEvent('{"type":"node","id":3,"name":"de","status":"error","message":null,"applied_revision":0,"last_seen":null,"revision":9,"deleted":true}'),
    ).toMatchObject({ id: 3, deleted: true, message: null, applied_revision: 0 });
    expect(parseEvent('{"type":"usage"}')).toEqual({ type: 'usage' });
    expect(parseEvent('{"type":"usage","online":4}')).toEqual({ type: 'usage', online: 4 });
    expect(parseEvent('{"type":"notifications"}')).toEqual({ type: 'notifications' });
  });
  test('ignores what it does not know or what is malformed', () => {
    expect(parseEvent('not json')).toBeNull();
    expect(parseEvent('{"type":"weather"}')).toBeNull();
    expect(parseEvent('{"type":"hello"}')).toBeNull();
    expect(parseEvent('{"type":"node","id":3,"status":"error"}')).toBeNull();
    expect(
      parseEvent('{"type":"node","id":3,"name":"x","status":"melted","message":null,"applied_revision":1,"last_seen":null,"revision":1}'),
    ).toBeNull();
    expect(parseEvent('{"type":"users","revision":5}')).toBeNull();
    expect(parseEvent('{"type":"users","revision":5,"usernames":[1]}')).toBeNull();
    expect(parseEvent('[1]')).toBeNull();
    expect(parseEvent('null')).toBeNull();
    expect(parseEvent(new ArrayBuffer(2))).toBeNull();
  });
});

describe('applyEvent', () => {
  test('a node event patches that node in place and leaves the others', () => {
    const client = cache([[keys.nodes, [node(1), node(2)]]]);
    applyEvent(client, nodeEvent(2, { status: 'error', applied_revision: 12, message: 'gone', last_seen: '2026-02-02T00:00:00Z' }));
    const nodes = client.getQueryData<Node[]>(keys.nodes);
    expect(nodes?.[0]).toEqual(node(1));
    expect(nodes?.[1]).toEqual(node(2, { status: 'error', applied_revision: 12, message: 'gone', last_seen: '2026-02-02T00:00:00Z' }));
    expect(invalidated(client, keys.nodes)).toBe(false);
  });

  test('a node event clears a message the node no longer has', () => {
    const client = cache([[keys.nodes, [node(1, { message: 'hi', status: 'error' })]]]);
    applyEvent(client, nodeEvent(1, { applied_revision: 11 }));
    expect(client.getQueryData<Node[]>(keys.nodes)?.[0]).toMatchObject({ status: 'connected', applied_revision: 11, message: null });
  });

  test("a node or users event carries the panel's revision into every node, never back", () => {
    const client = cache([
      [keys.nodes, [node(1), node(2, { panel_revision: 30 })]],
      [keys.node(1), node(1)],
      [keys.node(2), node(2)],
    ]);
    applyEvent(client, nodeEvent(1, { revision: 20 }));
    expect(client.getQueryData<Node[]>(keys.nodes)?.map((n) => n.panel_revision)).toEqual([20, 30]);
    expect(invalidated(client, keys.node(1))).toBe(true);
    expect(invalidated(client, keys.node(2))).toBe(false);
    applyEvent(client, { type: 'users', revision: 25, usernames: ['a'], all: false });
    expect(client.getQueryData<Node[]>(keys.nodes)?.map((n) => n.panel_revision)).toEqual([25, 30]);
  });

  test('an unknown node refetches the list', () => {
    const client = cache([[keys.nodes, [node(1)]]]);
    applyEvent(client, nodeEvent(9));
    expect(invalidated(client, keys.nodes)).toBe(true);
  });

  test('a deleted node leaves the list without a refetch', () => {
    const client = cache([[keys.nodes, [node(1), node(2)]]]);
    applyEvent(client, nodeEvent(1, { deleted: true }));
    expect(client.getQueryData<Node[]>(keys.nodes)?.map((n) => n.id)).toEqual([2]);
    expect(invalidated(client, keys.nodes)).toBe(false);
  });

  test('a users event refreshes the tables, the summary and the named users only', () => {
    const page = keys.usersPage({ page: 1 });
    const client = cache([
      [page, { users: [], total: 0 }],
      [keys.system, {}],
      [keys.user('alice'), {}],
      [keys.user('bob'), {}],
      [keys.nodes, []],
    ]);
    applyEvent(client, { type: 'users', revision: 7, usernames: ['alice'], all: false });
    expect(invalidated(client, page)).toBe(true);
    expect(invalidated(client, keys.system)).toBe(true);
    expect(invalidated(client, keys.user('alice'))).toBe(true);
    expect(invalidated(client, keys.user('bob'))).toBe(false);
    expect(invalidated(client, keys.nodes)).toBe(false);
  });

  test('a users event with all refreshes every user', () => {
    const client = cache([
      [keys.user('alice'), {}],
      [keys.user('bob'), {}],
      [keys.nodes, []],
    ]);
    applyEvent(client, { type: 'users', revision: 7, usernames: [], all: true });
    expect(invalidated(client, keys.user('alice'))).toBe(true);
    expect(invalidated(client, keys.user('bob'))).toBe(true);
    expect(invalidated(client, keys.nodes)).toBe(false);
  });

  test('a usage event refreshes usage and counters, not nodes', () => {
    const client = cache([
      [keys.userDaily('a'), {}],
      [keys.nodesUsage(30), {}],
      [keys.system, {}],
      [keys.nodes, []],
      [keys.notifications, {}],
    ]);
    applyEvent(client, { type: 'usage', online: 3 });
    expect(invalidated(client, keys.userDaily('a'))).toBe(true);
    expect(invalidated(client, keys.nodesUsage(30))).toBe(true);
    expect(invalidated(client, keys.system)).toBe(true);
    expect(invalidated(client, keys.nodes)).toBe(false);
    expect(invalidated(client, keys.notifications)).toBe(false);
  });

  test('a notifications event refreshes only the notifications', () => {
    const client = cache([
      [keys.notifications, {}],
      [keys.system, {}],
    ]);
    applyEvent(client, { type: 'notifications' });
    expect(invalidated(client, keys.notifications)).toBe(true);
    expect(invalidated(client, keys.system)).toBe(false);
  });

  test('a hello changes nothing by itself', () => {
    const client = cache([[keys.nodes, [node(1)]]]);
    applyEvent(client, { type: 'hello', revision: 3 });
    expect(invalidated(client, keys.nodes)).toBe(false);
  });
});

test('after a hello, what was fetched before the connection is refetched, what came after is not', async () => {
  const client = cache([[keys.nodes, [node(1)]]]);
  const since = Date.now() + 1;
  await new Promise((r) => setTimeout(r, 5));
  client.setQueryData(keys.system, {}, { updatedAt: since + 10 });
  await refetchOlderThan(client, since);
  expect(invalidated(client, keys.nodes)).toBe(true);
  expect(invalidated(client, keys.system)).toBe(false);
});

describe('openEvents', () => {
  class FakeSocket {
    static made: FakeSocket[] = [];
    onmessage: ((e: { data: string }) => void) | null = null;
    onclose: ((e: { code: number }) => void) | null = null;
    onerror: (() => void) | null = null;
    closed = false;
    constructor(readonly url: string) {
      FakeSocket.made.push(this);
    }
    close() {
      this.closed = true;
    }
    hello(revision: number) {
      this.onmessage?.({ data: JSON.stringify({ type: 'hello', revision }) });
    }
  }
  afterEach(() => {
    closeEvents();
    FakeSocket.made = [];
    vi.unstubAllGlobals();
  });

  test("opened before the page's queries answer, its hello refetches none of them; a reconnection's refetches what it missed", async () => {
    vi.stubGlobal('WebSocket', FakeSocket);
    const client = cache([]);
    openEvents(client, 'tok');
    // The router opens the socket, then the page's loader fetches.
    await new Promise((r) => setTimeout(r, 5));
    client.setQueryData(keys.usersPage({ page: 1 }), { users: [], total: 0 });
    const [first] = FakeSocket.made;
    expect(first?.url).toContain('/api/events?token=tok');
    first?.hello(7);
    expect(invalidated(client, keys.usersPage({ page: 1 }))).toBe(false);
    // Opening again with the same token (the Shell's effect) keeps the socket.
    openEvents(client, 'tok');
    expect(FakeSocket.made).toHaveLength(1);
    // A dropped connection reconnects; data from before it is refetched.
    vi.useFakeTimers();
    first?.onclose?.({ code: 1006 });
    vi.advanceTimersByTime(1000);
    vi.useRealTimers();
    const second = FakeSocket.made[1];
    expect(second).toBeDefined();
    await new Promise((r) => setTimeout(r, 5));
    second?.hello(8);
    expect(invalidated(client, keys.usersPage({ page: 1 }))).toBe(true);
  });

  test("another token's socket replaces this one; closing for an old token leaves the new one open", () => {
    vi.stubGlobal('WebSocket', FakeSocket);
    const client = cache([]);
    openEvents(client, 'a');
    openEvents(client, 'b');
    expect(FakeSocket.made.map((w) => w.closed)).toEqual([true, false]);
    closeEvents('a');
    expect(FakeSocket.made[1]?.closed).toBe(false);
    closeEvents('b');
    expect(FakeSocket.made[1]?.closed).toBe(true);
  });
});

test('backoff doubles up to 30 s and keeps half as jitter', () => {
  expect(backoff(0, () => 0)).toBe(500);
  expect(backoff(0, () => 1)).toBe(1000);
  expect(backoff(3, () => 1)).toBe(8000);
  expect(backoff(20, () => 1)).toBe(30_000);
  expect(backoff(20, () => 0)).toBe(15_000);
});
