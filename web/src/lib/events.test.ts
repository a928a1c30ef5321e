import { QueryClient } from '@tanstack/react-query';
import { describe, expect, test } from 'vitest';
import type { Schemas } from './api/client';
import { applyEvent, backoff, parseEvent } from './events';
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

describe('parseEvent', () => {
  test('reads the known types', () => {
    expect(parseEvent('{"type":"node","id":3,"status":"error"}')).toEqual({ type: 'node', id: 3, status: 'error' });
    expect(parseEvent('{"type":"users","revision":5,"usernames":["a"]}')).toEqual({ type: 'users', revision: 5, usernames: ['a'] });
    expect(parseEvent('{"type":"usage"}')).toEqual({ type: 'usage' });
  });
  test('ignores what it does not know', () => {
    expect(parseEvent('not json')).toBeNull();
    expect(parseEvent('{"type":"weather"}')).toBeNull();
    expect(parseEvent('{"type":"node"}')).toBeNull();
    expect(parseEvent('[1]')).toBeNull();
    expect(parseEvent(new ArrayBuffer(2))).toBeNull();
  });
});

describe('applyEvent', () => {
  test('a node event patches that node in place and leaves the others', () => {
    const client = cache([[keys.nodes, [node(1), node(2)]]]);
    applyEvent(client, { type: 'node', id: 2, status: 'error', applied_revision: 12, message: 'gone' });
    const nodes = client.getQueryData<Node[]>(keys.nodes);
    expect(nodes?.[0]).toEqual(node(1));
    expect(nodes?.[1]).toMatchObject({ status: 'error', applied_revision: 12, message: 'gone', name: 'n2' });
    expect(invalidated(client, keys.nodes)).toBe(false);
  });

  test('a node event keeps the fields it does not carry', () => {
    const client = cache([[keys.nodes, [node(1, { message: 'hi' })]]]);
    applyEvent(client, { type: 'node', id: 1, applied_revision: 11 });
    expect(client.getQueryData<Node[]>(keys.nodes)?.[0]).toMatchObject({ status: 'connected', applied_revision: 11, message: 'hi' });
  });

  test('an unknown node refetches the list', () => {
    const client = cache([[keys.nodes, [node(1)]]]);
    applyEvent(client, { type: 'node', id: 9, status: 'connected' });
    expect(invalidated(client, keys.nodes)).toBe(true);
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
    applyEvent(client, { type: 'users', revision: 7, usernames: ['alice'] });
    expect(invalidated(client, page)).toBe(true);
    expect(invalidated(client, keys.system)).toBe(true);
    expect(invalidated(client, keys.user('alice'))).toBe(true);
    expect(invalidated(client, keys.user('bob'))).toBe(false);
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
    applyEvent(client, { type: 'usage' });
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
});

test('backoff doubles up to 30 s and keeps half as jitter', () => {
  expect(backoff(0, () => 0)).toBe(500);
  expect(backoff(0, () => 1)).toBe(1000);
  expect(backoff(3, () => 1)).toBe(8000);
  expect(backoff(20, () => 1)).toBe(30_000);
  expect(backoff(20, () => 0)).toBe(15_000);
});
