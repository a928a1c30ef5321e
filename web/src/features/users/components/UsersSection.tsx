import { useCallback, useEffect, useState } from 'react';
import { MessageLine, useAction } from '../../../lib/actions';
import { formatBytes, formatCount, timeAgo } from '../../../lib/format';
import { useLoad } from '../../../lib/useLoad';
import type { User, UserStatus } from '../../../types/api';
import { listAdmins } from '../../admin/api';
import {
  activateNextPlan,
  createUser,
  deleteUser,
  listInbounds,
  listUsers,
  modifyUser,
  resetAllUsage,
  resetUsage,
  revokeSubscription,
  setOwner,
  type UserFields,
  type UserQuery,
} from '../api';
import type { UserTemplate } from '../../templates/api';
import { ExpiredCleanup } from './ExpiredCleanup';
import { UserForm } from './UserForm';
import { UserUsage } from './UserUsage';

const pageSize = 20;

const statuses: UserStatus[] = ['active', 'disabled', 'limited', 'expired', 'on_hold'];

const sorts: [string, string][] = [
  ['-created_at', 'Newest'],
  ['created_at', 'Oldest'],
  ['username', 'Username'],
  ['-used_traffic', 'Most used'],
  ['expire', 'Expiring first'],
];

interface UsersSectionProps {
  token: string;
  onUnauthorized: () => void;
  /** Called after any change, so totals elsewhere refresh. */
  onChanged: () => void;
  /** Bumped by changes made elsewhere (an admin's users disabled): reload. */
  version: number;
  /** Plans the new-user form offers. */
  templates: UserTemplate[];
  /** A sudo admin also sees owners, gives users to other admins and resets everyone's usage. */
  sudo: boolean;
}

/**
 * The users an admin may see (a regular admin its own, as the API decides):
 * search, status filter, sort and pages, served by GET /api/users; create,
 * edit, usage per node, reset usage, start the next plan, revoke the
 * subscription and delete; delete the users that ran out long ago.
 */
export function UsersSection({ token, onUnauthorized, onChanged, version, templates, sudo }: UsersSectionProps) {
  const [query, setQuery] = useState<UserQuery>({ offset: 0, limit: pageSize, search: '', status: '', sort: '-created_at' });
  const [searchText, setSearchText] = useState('');
  const [editing, setEditing] = useState<User | 'new' | null>(null);
  // The user whose usage card is open, as clicked; the card shows the
  // list's fresher copy once the list reloads.
  const [usageOf, setUsageOf] = useState<User | null>(null);
  const [cleaning, setCleaning] = useState(false);
  // The inbounds a user can be put in, for the form; loaded once a form opens.
  const formOpen = editing !== null;
  const [inbounds] = useLoad(
    useCallback((signal: AbortSignal) => (formOpen ? listInbounds(token, signal) : Promise.resolve({})), [token, formOpen]),
    onUnauthorized,
  );
  const [page, reload] = useLoad(
    useCallback((signal: AbortSignal) => listUsers(token, query, signal), [token, query]),
    onUnauthorized,
  );
  // The admins a sudo can give a user to, for the edit form.
  const [admins] = useLoad(
    useCallback((signal: AbortSignal) => (formOpen && sudo ? listAdmins(token, signal) : Promise.resolve([])), [token, formOpen, sudo]),
    onUnauthorized,
  );

  useEffect(() => {
    if (version > 0) {
      reload();
    }
  }, [version, reload]);

  const { message, setMessage, act } = useAction(
    onUnauthorized,
    useCallback(() => {
      reload();
      onChanged();
    }, [reload, onChanged]),
  );
  const changed = (text: string) => {
    setMessage({ kind: 'notice', text });
    reload();
    onChanged();
  };

  async function save(fields: UserFields, owner: string | null) {
    if (editing === 'new') {
      const u = await createUser(token, fields);
      setEditing(null);
      changed(`Created ${u.username}.`);
    } else if (editing !== null) {
      const u = await modifyUser(token, editing.username, fields);
      if (owner !== null && owner !== (editing.admin?.username ?? '')) {
        await setOwner(token, u.username, owner);
      }
      setEditing(null);
      changed(`Saved ${u.username}.`);
    }
  }

  async function copyLink(u: User) {
    try {
      await navigator.clipboard.writeText(u.subscription_url);
      setMessage({ kind: 'notice', text: `Copied ${u.username}'s subscription link.` });
    } catch {
      setMessage({ kind: 'notice', text: `${u.username}'s subscription link: ${u.subscription_url}` });
    }
  }

  const total = page.state === 'ready' ? page.value.total : 0;
  const last = Math.max(0, Math.ceil(total / pageSize) - 1);
  const current = Math.floor(query.offset / pageSize);

  return (
    <section className="card" aria-label="Users">
      <div className="section-head">
        <h2>Users</h2>
        <span className="row-actions">
          <button
            type="button"
            onClick={() => {
              setEditing('new');
            }}
          >
            New user
          </button>
          <button
            type="button"
            onClick={() => {
              setCleaning(true);
            }}
          >
            Clean up
          </button>
          {sudo && (
            <button
              type="button"
              className="danger"
              onClick={() => {
                if (window.confirm("Reset every user's usage to 0? Lifetime usage is kept; limited users become active.")) {
                  void act("Reset every user's usage.", () => resetAllUsage(token));
                }
              }}
            >
              Reset all usage
            </button>
          )}
        </span>
      </div>

      {cleaning && (
        <ExpiredCleanup
          token={token}
          onUnauthorized={onUnauthorized}
          onDeleted={(text) => {
            setCleaning(false);
            changed(text);
          }}
          onClose={() => {
            setCleaning(false);
          }}
        />
      )}

      {editing !== null && (
        <UserForm
          key={editing === 'new' ? 'new' : editing.username}
          user={editing === 'new' ? null : editing}
          templates={templates}
          inbounds={inbounds.state === 'ready' ? inbounds.value : {}}
          owners={sudo && admins.state === 'ready' ? admins.value.map((a) => a.username) : null}
          onSubmit={save}
          onCancel={() => {
            setEditing(null);
          }}
        />
      )}

      {usageOf !== null && (
        <UserUsage
          key={usageOf.username}
          token={token}
          user={(page.state === 'ready' ? page.value.users.find((u) => u.username === usageOf.username) : undefined) ?? usageOf}
          onUnauthorized={onUnauthorized}
          onClose={() => {
            setUsageOf(null);
          }}
        />
      )}

      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ ...query, offset: 0, search: searchText.trim() });
        }}
      >
        <input
          type="search"
          name="search"
          aria-label="Search users"
          placeholder="Username or note"
          value={searchText}
          onChange={(e) => {
            setSearchText(e.target.value);
          }}
        />
        <select
          aria-label="Status"
          value={query.status}
          onChange={(e) => {
            setQuery({ ...query, offset: 0, status: e.target.value as UserStatus | '' });
          }}
        >
          <option value="">Any status</option>
          {statuses.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <select
          aria-label="Sort"
          value={query.sort}
          onChange={(e) => {
            setQuery({ ...query, offset: 0, sort: e.target.value });
          }}
        >
          {sorts.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        <button type="submit">Search</button>
      </form>

      <MessageLine message={message} />

      {page.state === 'loading' && <p className="muted">Loading users…</p>}
      {page.state === 'error' && (
        <p className="alert" role="alert">
          Could not load users: {page.message}
        </p>
      )}
      {page.state === 'ready' && page.value.users.length === 0 && (
        <p className="empty">{query.search || query.status ? 'No user matches.' : 'No users yet.'}</p>
      )}
      {page.state === 'ready' && page.value.users.length > 0 && (
        <div className="table-wrap">
          <table className="nodes users">
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Status</th>
                <th scope="col">Used</th>
                <th scope="col">Expires</th>
                <th scope="col">Online</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {page.value.users.map((u) => (
                <tr key={u.username} data-username={u.username}>
                  <td data-label="Username">
                    <span className="node-name">{u.username}</span>
                    {u.note && <div className="muted small">{u.note}</div>}
                    {sudo && u.admin && <div className="muted small">owner: {u.admin.username}</div>}
                  </td>
                  <td data-label="Status">
                    <span className={`badge status-${u.status}`}>{u.status}</span>
                  </td>
                  <td data-label="Used">
                    {formatBytes(u.used_traffic)}
                    {u.data_limit ? ` / ${formatBytes(u.data_limit)}` : ' / ∞'}
                    {u.next_plan && <div className="muted small">next plan waiting</div>}
                  </td>
                  <td data-label="Expires">{u.expire ? new Date(u.expire * 1000).toISOString().slice(0, 10) : 'never'}</td>
                  <td data-label="Online">{timeAgo(u.online_at)}</td>
                  <td className="row-actions" data-label="Actions">
                    <button
                      type="button"
                      onClick={() => {
                        setEditing(u);
                      }}
                    >
                      Edit
                    </button>
                    <button type="button" onClick={() => void copyLink(u)}>
                      Link
                    </button>
                    <button
                      type="button"
                      onClick={() => {
                        setUsageOf(u);
                      }}
                    >
                      Usage
                    </button>
                    <a className="button-link" href={u.subscription_url} target="_blank" rel="noreferrer">
                      Page
                    </a>
                    <button
                      type="button"
                      onClick={() => void act(`Reset ${u.username}'s usage.`, () => resetUsage(token, u.username))}
                    >
                      Reset usage
                    </button>
                    {u.next_plan && (
                      <button
                        type="button"
                        onClick={() => {
                          if (window.confirm(`Start ${u.username}'s next plan now? Their usage is reset and the plan's limits replace the current ones.`)) {
                            void act(`Started ${u.username}'s next plan.`, () => activateNextPlan(token, u.username));
                          }
                        }}
                      >
                        Next plan now
                      </button>
                    )}
                    <button
                      type="button"
                      onClick={() => {
                        if (window.confirm(`Revoke ${u.username}'s subscription? Their link and credentials change.`)) {
                          void act(`Revoked ${u.username}'s subscription.`, () => revokeSubscription(token, u.username));
                        }
                      }}
                    >
                      Revoke
                    </button>
                    <button
                      type="button"
                      className="danger"
                      onClick={() => {
                        if (window.confirm(`Delete ${u.username}?`)) {
                          void act(`Deleted ${u.username}.`, () => deleteUser(token, u.username));
                        }
                      }}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page.state === 'ready' && total > 0 && (
        <nav className="pager" aria-label="Pages">
          <button
            type="button"
            disabled={current === 0}
            onClick={() => {
              setQuery({ ...query, offset: Math.max(0, query.offset - pageSize) });
            }}
          >
            Previous
          </button>
          <span className="muted">
            Page {formatCount(current + 1)} of {formatCount(last + 1)} · {formatCount(total)} users
          </span>
          <button
            type="button"
            disabled={current >= last}
            onClick={() => {
              setQuery({ ...query, offset: query.offset + pageSize });
            }}
          >
            Next
          </button>
        </nav>
      )}
    </section>
  );
}
