import { useCallback, useState } from 'react';
import { FormFooter, MessageLine, TextField, useAction, useSubmit } from '../../../lib/actions';
import { formatBytes } from '../../../lib/format';
import { useLoad } from '../../../lib/useLoad';
import type { Admin } from '../../../types/api';
import { createAdmin, deleteAdmin, listAdmins, modifyAdmin, resetAdminUsage, setAdminUsers, type AdminChanges } from '../api';

interface AdminsCardProps {
  token: string;
  /** The signed-in admin, who is not offered to delete itself. */
  me: string;
  onUnauthorized: () => void;
  onChanged: () => void;
}

/**
 * Admins (sudo): resellers and other sudo admins. A regular admin sees and
 * changes only its own users everywhere. Disabling an admin's users takes
 * them all off the nodes at once; activating brings back the ones that
 * were disabled that way.
 */
export function AdminsCard({ token, me, onUnauthorized, onChanged }: AdminsCardProps) {
  const [admins, reload] = useLoad(
    useCallback((signal: AbortSignal) => listAdmins(token, signal), [token]),
    onUnauthorized,
  );
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<Admin | null>(null);
  const { message, setMessage, act } = useAction(
    onUnauthorized,
    useCallback(() => {
      reload();
      onChanged();
    }, [reload, onChanged]),
  );

  return (
    <section className="card" aria-label="Admins">
      <div className="section-head">
        <h2>Admins</h2>
        <span className="row-actions">
          <button
            type="button"
            onClick={() => {
              setAdding(true);
            }}
          >
            New admin
          </button>
          <button type="button" onClick={reload}>
            Refresh
          </button>
        </span>
      </div>
      {adding && (
        <NewAdminForm
          onCancel={() => {
            setAdding(false);
          }}
          onSubmit={async (fields) => {
            await createAdmin(token, fields);
            setAdding(false);
            setMessage({ kind: 'notice', text: `Created admin ${fields.username}.` });
            reload();
          }}
        />
      )}
      {editing !== null && (
        <EditAdminForm
          key={editing.username}
          admin={editing}
          onCancel={() => {
            setEditing(null);
          }}
          onSubmit={async (fields) => {
            await modifyAdmin(token, editing.username, fields);
            setEditing(null);
            setMessage({
              kind: 'notice',
              text: fields.password ? `Saved ${editing.username}; their old password and sessions stop working.` : `Saved ${editing.username}.`,
            });
            reload();
          }}
        />
      )}
      <MessageLine message={message} />
      {admins.state === 'loading' && <p className="muted">Loading admins…</p>}
      {admins.state === 'error' && (
        <p className="alert" role="alert">
          Could not load admins: {admins.message}
        </p>
      )}
      {admins.state === 'ready' && admins.value.length === 0 && (
        <p className="empty">No admins in the database (the environment's sudo admin is not listed).</p>
      )}
      {admins.state === 'ready' && admins.value.length > 0 && (
        <div className="table-wrap">
          <table className="nodes">
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col">Users' traffic</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {admins.value.map((a) => (
                <tr key={a.username} data-admin={a.username}>
                  <td className="node-name" data-label="Username">
                    {a.username}
                  </td>
                  <td data-label="Role">
                    <span className={`badge ${a.is_sudo ? 'role-sudo' : 'role-admin'}`}>{a.is_sudo ? 'sudo' : 'admin'}</span>
                  </td>
                  <td data-label="Users' traffic">{formatBytes(a.users_usage)}</td>
                  <td className="row-actions" data-label="Actions">
                    {(!a.is_sudo || a.username === me) && (
                      <button
                        type="button"
                        onClick={() => {
                          setAdding(false);
                          setEditing(a);
                        }}
                      >
                        Edit
                      </button>
                    )}
                    <button
                      type="button"
                      onClick={() => {
                        if (window.confirm(`Reset ${a.username}'s users' traffic count to 0? The users' own usage is not touched.`)) {
                          void act(`Reset ${a.username}'s usage count.`, () => resetAdminUsage(token, a.username));
                        }
                      }}
                    >
                      Reset count
                    </button>
                    {!a.is_sudo && (
                      <>
                        <button
                          type="button"
                          onClick={() => {
                            if (window.confirm(`Disable every active user of ${a.username}?`)) {
                              void act(`Disabled ${a.username}'s users.`, () => setAdminUsers(token, a.username, 'disable'));
                            }
                          }}
                        >
                          Disable users
                        </button>
                        <button
                          type="button"
                          onClick={() =>
                            void act(`Activated ${a.username}'s users.`, () => setAdminUsers(token, a.username, 'activate'))
                          }
                        >
                          Activate users
                        </button>
                      </>
                    )}
                    {a.username !== me && !a.is_sudo && (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => {
                          if (window.confirm(`Delete admin ${a.username}? Their users stay, without an owner.`)) {
                            void act(`Deleted admin ${a.username}.`, () => deleteAdmin(token, a.username));
                          }
                        }}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function NewAdminForm({
  onSubmit,
  onCancel,
}: {
  onSubmit: (fields: { username: string; password: string; is_sudo: boolean }) => Promise<void>;
  onCancel: () => void;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [sudo, setSudo] = useState(false);
  const submit = useSubmit(() => onSubmit({ username: username.trim(), password, is_sudo: sudo }));
  const { error, busy } = submit;

  return (
    <form className="card user-form" aria-label="New admin" onSubmit={submit.onSubmit}>
      <h3>New admin</h3>
      <TextField label="Username" name="username" value={username} onChange={setUsername} required autoComplete="off" />
      <TextField label="Password" name="password" value={password} onChange={setPassword} type="password" required autoComplete="new-password" />
      <SudoCheckbox checked={sudo} onChange={setSudo} />
      <FormFooter error={error} busy={busy} submitLabel="Create" onCancel={onCancel} />
    </form>
  );
}

/** A new password (empty: unchanged) and the sudo flag of an admin. */
function EditAdminForm({
  admin,
  onSubmit,
  onCancel,
}: {
  admin: Admin;
  onSubmit: (fields: AdminChanges) => Promise<void>;
  onCancel: () => void;
}) {
  const [password, setPassword] = useState('');
  const [sudo, setSudo] = useState(admin.is_sudo);
  const [telegram, setTelegram] = useState(admin.telegram_id ? String(admin.telegram_id) : '');
  const [discord, setDiscord] = useState(admin.discord_webhook ?? '');
  const submit = useSubmit(() => {
    const fields: AdminChanges = { is_sudo: sudo };
    if (password !== '') {
      fields.password = password;
    }
    // Emptied fields are sent as the API's "clear" values (0 and "").
    const id = telegram.trim() === '' ? 0 : Number(telegram);
    if (!Number.isSafeInteger(id) || id < 0) {
      return Promise.reject(new Error('Telegram chat id: digits only, or empty.'));
    }
    if (id !== (admin.telegram_id ?? 0)) {
      fields.telegram_id = id;
    }
    if (discord.trim() !== (admin.discord_webhook ?? '')) {
      fields.discord_webhook = discord.trim();
    }
    return onSubmit(fields);
  });
  const { error, busy } = submit;

  return (
    <form className="card user-form" aria-label={`Edit admin ${admin.username}`} onSubmit={submit.onSubmit}>
      <h3>Edit admin {admin.username}</h3>
      <TextField
        label="New password (empty: unchanged; signs them out everywhere)"
        name="password"
        value={password}
        onChange={setPassword}
        type="password"
        autoComplete="new-password"
      />
      <SudoCheckbox checked={sudo} onChange={setSudo} />
      <TextField
        label="Telegram chat id for their users' events (empty: none)"
        name="telegram_id"
        value={telegram}
        onChange={setTelegram}
        inputMode="numeric"
      />
      <TextField
        label="Discord webhook for their users' events (empty: none)"
        name="discord_webhook"
        value={discord}
        onChange={setDiscord}
        placeholder="https://discord.com/api/webhooks/…"
      />
      <FormFooter error={error} busy={busy} submitLabel="Save" onCancel={onCancel} />
    </form>
  );
}

function SudoCheckbox({ checked, onChange }: { checked: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="check">
      <input
        type="checkbox"
        checked={checked}
        onChange={(e) => {
          onChange(e.target.checked);
        }}
      />
      Sudo (sees and manages everything)
    </label>
  );
}
