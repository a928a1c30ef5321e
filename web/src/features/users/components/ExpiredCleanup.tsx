import { useState } from 'react';
import { ApiError } from '../../../lib/api';
import { errorText, TextField, useSubmit } from '../../../lib/actions';
import { formatCount } from '../../../lib/format';
import { deleteExpiredUsers, listExpiredUsers } from '../api';

interface ExpiredCleanupProps {
  token: string;
  onUnauthorized: () => void;
  /** After a deletion, with what it said. */
  onDeleted: (text: string) => void;
  onClose: () => void;
}

const epoch = new Date(0);

function usersText(n: number): string {
  return n === 1 ? '1 user' : `${formatCount(n)} users`;
}
const shownNames = 20;

/**
 * Deletes the users that ran out (expired, or limited) at least N days ago,
 * as Marzban's DELETE /api/users/expired does: first the list, then the
 * deletion of exactly that range, in one transaction.
 */
export function ExpiredCleanup({ token, onUnauthorized, onDeleted, onClose }: ExpiredCleanupProps) {
  const [days, setDays] = useState('30');
  const [found, setFound] = useState<{ names: string[]; before: Date } | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  const find = useSubmit(async () => {
    setFound(null);
    setDeleteError(null);
    const n = days.trim() === '' ? 0 : Number(days);
    if (!Number.isInteger(n) || n < 0) {
      throw new Error('Days: a whole number, 0 for everyone who has run out.');
    }
    const before = new Date(Date.now() - n * 86400 * 1000);
    try {
      setFound({ names: await listExpiredUsers(token, epoch, before), before });
    } catch (err) {
      if (err instanceof ApiError && err.unauthorized) {
        onUnauthorized();
        return;
      }
      throw err;
    }
  });

  async function remove(before: Date, count: number) {
    if (!window.confirm(`Delete ${usersText(count)} that ran out? This cannot be undone.`)) {
      return;
    }
    setDeleteError(null);
    try {
      const deleted = await deleteExpiredUsers(token, epoch, before);
      onDeleted(`Deleted ${usersText(deleted.length)} that had run out.`);
    } catch (err) {
      if (err instanceof ApiError && err.unauthorized) {
        onUnauthorized();
        return;
      }
      setDeleteError(errorText(err));
    }
  }

  return (
    <form className="card user-form" aria-label="Clean up users" onSubmit={find.onSubmit}>
      <h3>Users that ran out</h3>
      <TextField label="Ran out at least this many days ago" name="days" value={days} onChange={setDays} inputMode="numeric" />
      {find.error !== null && (
        <p className="alert" role="alert">
          {find.error}
        </p>
      )}
      {found !== null && found.names.length === 0 && <p className="empty">No user ran out that long ago.</p>}
      {found !== null && found.names.length > 0 && (
        <p role="status" aria-label="Users found">
          {usersText(found.names.length)}: {found.names.slice(0, shownNames).join(', ')}
          {found.names.length > shownNames ? ', …' : ''}
        </p>
      )}
      {deleteError !== null && (
        <p className="alert" role="alert">
          {deleteError}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={find.busy}>
          Find
        </button>
        {found !== null && found.names.length > 0 && (
          <button
            type="button"
            className="danger"
            onClick={() => void remove(found.before, found.names.length)}
          >
            Delete {usersText(found.names.length)}
          </button>
        )}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
