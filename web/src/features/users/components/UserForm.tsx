import { useState } from 'react';
import { FormFooter, TextField, useSubmit } from '../../../lib/actions';
import { gib } from '../../../lib/format';
import { protocols, type Protocol, type User } from '../../../types/api';
import type { UserTemplate } from '../../templates/api';
import { resetStrategies, type ResetStrategy, type UserFields } from '../api';

interface UserFormProps {
  /** The user to edit; null creates one. */
  user: User | null;
  /** Plans a new user may start from. */
  templates: UserTemplate[];
  onSubmit: (fields: UserFields) => Promise<void>;
  onCancel: () => void;
}

function dateInput(expire: number | null): string {
  if (!expire) {
    return '';
  }
  return new Date(expire * 1000).toISOString().slice(0, 10);
}

/**
 * Create or edit a user: the fields an operator changes every day (data
 * limit, expiry, enabled, note, protocols at creation). Everything else is
 * in the API. Errors are the panel's own words, shown where the form is.
 */
export function UserForm({ user, templates, onSubmit, onCancel }: UserFormProps) {
  const [username, setUsername] = useState(user?.username ?? '');
  const [chosen, setChosen] = useState<Set<Protocol>>(
    new Set(user ? (Object.keys(user.proxies) as Protocol[]) : ['vless']),
  );
  const [limitGiB, setLimitGiB] = useState(user?.data_limit ? String(user.data_limit / gib) : '');
  const [expire, setExpire] = useState(dateInput(user?.expire ?? null));
  const [reset, setReset] = useState<ResetStrategy>(
    resetStrategies.find((r) => r === user?.data_limit_reset_strategy) ?? 'no_reset',
  );
  const [onHoldDays, setOnHoldDays] = useState('');
  const [template, setTemplate] = useState<UserTemplate | null>(null);

  // A template fills the limit and the expiry (from today) and wraps the
  // username in its prefix and suffix; every field stays editable.
  function applyTemplate(id: string) {
    const t = templates.find((x) => String(x.id) === id) ?? null;
    setTemplate(t);
    if (t === null) {
      return;
    }
    setLimitGiB(t.data_limit ? String(t.data_limit / gib) : '');
    setExpire(t.expire_duration ? dateInput(Math.floor(Date.now() / 1000) + t.expire_duration) : '');
  }
  const [disabled, setDisabled] = useState(user?.status === 'disabled');
  const [note, setNote] = useState(user?.note ?? '');

  function toggle(p: Protocol) {
    const next = new Set(chosen);
    if (next.has(p)) {
      next.delete(p);
    } else {
      next.add(p);
    }
    setChosen(next);
  }

  // Checks what the browser can check, then hands the fields over; the
  // panel's reason for refusing them shows in the form (useSubmit).
  const submit = useSubmit(async () => {
    const limit = limitGiB.trim() === '' ? 0 : Number(limitGiB);
    if (!Number.isFinite(limit) || limit < 0) {
      throw new Error('Data limit: a number of GiB, or empty for unlimited.');
    }
    const fields: UserFields = {
      data_limit: Math.round(limit * gib),
      data_limit_reset_strategy: reset,
      expire: expire === '' ? 0 : Math.floor(new Date(`${expire}T23:59:59Z`).getTime() / 1000),
      note,
    };
    if (user === null) {
      if (chosen.size === 0) {
        throw new Error('Choose at least one protocol.');
      }
      fields.username = `${template?.username_prefix ?? ''}${username.trim()}${template?.username_suffix ?? ''}`;
      fields.proxies = Object.fromEntries([...chosen].map((p) => [p, {}]));
      if (onHoldDays.trim() !== '') {
        const days = Number(onHoldDays);
        if (!Number.isInteger(days) || days <= 0) {
          throw new Error('Days from the first connection: a whole number above 0, or empty.');
        }
        fields.status = 'on_hold';
        fields.on_hold_expire_duration = days * 86400;
        fields.expire = 0;
      }
    } else if (disabled || user.status === 'disabled') {
      fields.status = disabled ? 'disabled' : 'active';
    }
    await onSubmit(fields);
  });
  const { error, busy } = submit;

  return (
    <form className="card user-form" onSubmit={submit.onSubmit} aria-label={user ? `Edit ${user.username}` : 'New user'}>
      <h3>{user ? `Edit ${user.username}` : 'New user'}</h3>
      {user === null && templates.length > 0 && (
        <label>
          Template
          <select
            name="template"
            value={template ? String(template.id) : ''}
            onChange={(e) => {
              applyTemplate(e.target.value);
            }}
          >
            <option value="">None</option>
            {templates.map((t) => (
              <option key={t.id} value={String(t.id)}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {user === null && (
        <label>
          Username{template && (template.username_prefix || template.username_suffix) ? ` (becomes ${template.username_prefix ?? ''}…${template.username_suffix ?? ''})` : ''}
          <input
            name="username"
            value={username}
            onChange={(e) => {
              setUsername(e.target.value);
            }}
            required
            autoComplete="off"
            placeholder="3-32 of a-z, 0-9, _"
          />
        </label>
      )}
      {user === null && (
        <fieldset>
          <legend>Protocols</legend>
          {protocols.map((p) => (
            <label key={p} className="check">
              <input
                type="checkbox"
                checked={chosen.has(p)}
                onChange={() => {
                  toggle(p);
                }}
              />
              {p}
            </label>
          ))}
        </fieldset>
      )}
      <TextField label="Data limit (GiB, empty: unlimited)" name="data_limit" value={limitGiB} onChange={setLimitGiB} inputMode="decimal" />
      <label>
        Usage resets
        <select
          name="data_limit_reset_strategy"
          value={reset}
          onChange={(e) => {
            setReset(e.target.value as ResetStrategy);
          }}
        >
          {resetStrategies.map((r) => (
            <option key={r} value={r}>
              {r === 'no_reset' ? 'never' : `every ${r}`}
            </option>
          ))}
        </select>
      </label>
      {user === null && (
        <TextField label="Or: days from the first connection (on hold; empty: use the date below)" name="on_hold_days" value={onHoldDays} onChange={setOnHoldDays} inputMode="numeric" />
      )}
      <TextField label="Expires (UTC, empty: never)" name="expire" value={expire} onChange={setExpire} type="date" />
      {user !== null && (
        <label className="check">
          <input
            name="disabled"
            type="checkbox"
            checked={disabled}
            onChange={(e) => {
              setDisabled(e.target.checked);
            }}
          />
          Disabled
        </label>
      )}
      <TextField label="Note" name="note" value={note} onChange={setNote} maxLength={500} />
      <FormFooter error={error} busy={busy} submitLabel={user ? 'Save' : 'Create'} onCancel={onCancel} />
    </form>
  );
}
