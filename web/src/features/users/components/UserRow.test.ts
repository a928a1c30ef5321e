import { describe, expect, test } from 'vitest';
import type { User } from '../api';
import { sameRow } from './UserRow';

const user = (name: string, used = 0) => ({ username: name, used_traffic: used, admin: { username: 'root' } }) as unknown as User;
const noop = () => undefined;

describe('sameRow', () => {
  const base = { user: user('a'), selected: false, onToggle: noop, onEdit: noop, onAction: noop };
  test('an equal copy of the user (another query key) keeps the row', () => {
    expect(sameRow(base, { ...base, user: user('a') })).toBe(true);
  });
  test('a changed user, checkbox or callback renders it again', () => {
    expect(sameRow(base, { ...base, user: user('a', 5) })).toBe(false);
    expect(sameRow(base, { ...base, selected: true })).toBe(false);
    expect(sameRow(base, { ...base, onEdit: () => undefined })).toBe(false);
  });
});
