import { expect, test } from 'vitest';
import { bulkUsers, type BulkBody } from './api';
import { inboundsFromValues } from './components/BulkBar';

// The request is recorded instead of sent: what is checked is that every
// action is one request naming every user (the browser suite runs it
// against a real panel).
test('one request for every user, whatever the action', async () => {
  const sent: BulkBody[] = [];
  const names = Array.from({ length: 50 }, (_, i) => `u${String(i)}`);
  const result = await bulkUsers({ action: 'extend_expiry', days: 30 }, names, (body) => {
    sent.push(body);
    return Promise.resolve({ changed: 49, revision: 7, skipped: [{ username: 'u1', reason: 'not found' }] });
  });
  expect(sent).toEqual([{ action: 'extend_expiry', days: 30, usernames: names }]);
  expect(result.changed).toBe(49);
});

test('the inbounds picked become protocol -> tags', () => {
  expect(inboundsFromValues(['vless\u0000A', 'vless\u0000B', 'trojan\u0000T'])).toEqual({ vless: ['A', 'B'], trojan: ['T'] });
});
