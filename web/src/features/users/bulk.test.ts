import { expect, test } from 'vitest';
import { ApiError } from '../../lib/api/client';
import { bulkUsers, userRequests } from './api';

// The requests are recorded instead of sent: what is checked is which
// request each action makes per user and how failures are counted, not
// the panel (the browser suite runs the bar against a real one).
function recorder(failFor: string[] = []) {
  const calls: string[] = [];
  const send = Object.fromEntries(
    Object.keys(userRequests).map((name) => [
      name,
      (username: string, body?: unknown) => {
        calls.push(`${name} ${username}${body ? ` ${JSON.stringify(body)}` : ''}`);
        return failFor.includes(username) ? Promise.reject(new ApiError(404, `no user ${username}`)) : Promise.resolve({});
      },
    ]),
  ) as unknown as typeof userRequests;
  return { calls, send };
}

test.each([
  ['disable', 'modify a {"status":"disabled"}'],
  ['enable', 'modify a {"status":"active"}'],
  ['reset', 'reset a'],
  ['revoke', 'revoke a'],
  ['delete', 'remove a'],
] as const)('%s makes one request per user', async (action, call) => {
  const { calls, send } = recorder();
  const result = await bulkUsers(action, ['a'], send);
  expect(calls).toEqual([call]);
  expect(result).toEqual({ changed: ['a'], failed: [] });
});

test('every user is tried; failures are reported with the panel words', async () => {
  const { calls, send } = recorder(['b']);
  const names = Array.from({ length: 50 }, (_, i) => (i === 1 ? 'b' : `u${String(i)}`));
  const result = await bulkUsers('disable', names, send);
  expect(calls).toHaveLength(50);
  expect(result.changed).toHaveLength(49);
  expect(result.failed).toEqual([{ username: 'b', error: 'no user b' }]);
});
