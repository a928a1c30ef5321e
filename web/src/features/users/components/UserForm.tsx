import { useState } from 'react';
import { FormFooter, TextField, useSubmit } from '../../../lib/actions';
import { gib } from '../../../lib/format';
import { protocols, type InboundSummary, type Protocol, type User } from '../../../types/api';
import type { UserTemplate } from '../../templates/api';
import { resetStrategies, type ResetStrategy, type UserFields } from '../api';

interface UserFormProps {
  /** The user to edit; null creates one. */
  user: User | null;
  /** Plans a new user may start from. */
  templates: UserTemplate[];
  /** The core config's inbounds by protocol; empty while loading. */
  inbounds: Partial<Record<Protocol, InboundSummary[]>>;
  /** The admins a sudo may give an edited user to; null offers no choice. */
  owners: string[] | null;
  /** owner is the admin chosen for an edited user, or null for no change offered. */
  onSubmit: (fields: UserFields, owner: string | null) => Promise<void>;
  onCancel: () => void;
}

function dateInput(expire: number | null): string {
  if (!expire) {
    return '';
  }
  return new Date(expire * 1000).toISOString().slice(0, 10);
}

/** "" for an empty field, else a whole number of at least min, or an error naming the field. */
function wholeNumber(text: string, field: string, min: number): number | null {
  if (text.trim() === '') {
    return null;
  }
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${field}: a whole number of at least ${String(min)}, or empty.`);
  }
  return n;
}

/** GiB typed by the admin, as bytes; empty is 0 (unlimited). */
function gibField(text: string, field: string): number {
  const n = text.trim() === '' ? 0 : Number(text);
  if (!Number.isFinite(n) || n < 0) {
    throw new Error(`${field}: a number of GiB, or empty for unlimited.`);
  }
  return Math.round(n * gib);
}

/**
 * Create or edit a user: data limit and its reset, expiry (or on hold),
 * enabled, note, protocols at creation and the inbounds of each, the next
 * plan and the auto-delete rule. Errors are the panel's own words, shown
 * where the form is.
 */
export function UserForm({ user, templates, inbounds, owners, onSubmit, onCancel }: UserFormProps) {
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

  const [disabled, setDisabled] = useState(user?.status === 'disabled');
  const [note, setNote] = useState(user?.note ?? '');
  const [owner, setOwnerName] = useState(user?.admin?.username ?? '');
  const [autoDelete, setAutoDelete] = useState(user?.auto_delete_in_days != null ? String(user.auto_delete_in_days) : '');
  const plan = user?.next_plan ?? null;
  const [hasPlan, setHasPlan] = useState(plan !== null);
  const [planGiB, setPlanGiB] = useState(plan?.data_limit ? String(plan.data_limit / gib) : '');
  const [planDays, setPlanDays] = useState(plan?.expire ? String(Math.round(plan.expire / 86400)) : '');
  const [planCarry, setPlanCarry] = useState(plan?.add_remaining_traffic ?? false);
  const [planEither, setPlanEither] = useState(plan?.fire_on_either ?? true);
  // Per protocol, the inbound tags the user is in; a protocol missing here
  // is in all of its inbounds (the API's default), so only what an admin
  // unticks is ever sent.
  const [inboundTags, setInboundTags] = useState<Partial<Record<Protocol, string[]>>>(user?.inbounds ?? {});

  // A template fills the limit and the expiry (from today), picks the
  // protocols and inbounds it names and wraps the username in its prefix
  // and suffix; every field stays editable.
  function applyTemplate(id: string) {
    const t = templates.find((x) => String(x.id) === id) ?? null;
    setTemplate(t);
    if (t === null) {
      return;
    }
    setLimitGiB(t.data_limit ? String(t.data_limit / gib) : '');
    setExpire(t.expire_duration ? dateInput(Math.floor(Date.now() / 1000) + t.expire_duration) : '');
    const named = protocols.filter((p) => (t.inbounds[p]?.length ?? 0) > 0);
    if (named.length > 0) {
      setChosen(new Set(named));
      setInboundTags(Object.fromEntries(named.map((p) => [p, t.inbounds[p] ?? []])));
    }
  }

  function tagsOf(p: Protocol): string[] {
    return inboundTags[p] ?? (inbounds[p] ?? []).map((i) => i.tag);
  }

  function toggleTag(p: Protocol, tag: string) {
    const current = tagsOf(p);
    const next = current.includes(tag) ? current.filter((t) => t !== tag) : [...current, tag];
    setInboundTags({ ...inboundTags, [p]: next });
  }

  // The protocols whose inbounds the admin can choose from: the user's own
  // (or, for a new user, the ticked ones) that more than one inbound serves.
  const userProtocols = user ? (Object.keys(user.proxies) as Protocol[]) : [...chosen];
  const choosable = protocols.filter((p) => userProtocols.includes(p) && (inbounds[p]?.length ?? 0) > 1);

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
    const fields: UserFields = {
      data_limit: gibField(limitGiB, 'Data limit'),
      data_limit_reset_strategy: reset,
      expire: expire === '' ? 0 : Math.floor(new Date(`${expire}T23:59:59Z`).getTime() / 1000),
      note,
    };
    // An emptied field or an unticked plan is sent as null, which removes
    // the rule or the plan; a new user simply leaves them out.
    const days = wholeNumber(autoDelete, 'Delete after running out', 0);
    if (days !== null || user?.auto_delete_in_days != null) {
      fields.auto_delete_in_days = days;
    }
    if (hasPlan) {
      fields.next_plan = {
        data_limit: gibField(planGiB, "Next plan's limit"),
        expire: (wholeNumber(planDays, "Next plan's days", 1) ?? 0) * 86400,
        add_remaining_traffic: planCarry,
        fire_on_either: planEither,
      };
    } else if (user?.next_plan) {
      fields.next_plan = null;
    }
    const chosenInbounds: Partial<Record<Protocol, string[]>> = {};
    for (const p of choosable) {
      const tags = tagsOf(p);
      if (tags.length === 0) {
        throw new Error(`Inbounds: keep at least one ${p} inbound.`);
      }
      chosenInbounds[p] = tags;
    }
    if (Object.keys(chosenInbounds).length > 0) {
      fields.inbounds = chosenInbounds;
    }
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
    await onSubmit(fields, user !== null && owners !== null && owner !== '' ? owner : null);
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
      {user !== null && owners !== null && (
        <label>
          Owner
          <select
            name="owner"
            value={owner}
            onChange={(e) => {
              setOwnerName(e.target.value);
            }}
          >
            {owner === '' && <option value="">none (the environment&apos;s sudo)</option>}
            {owners.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
      )}
      {choosable.length > 0 && (
        <fieldset>
          <legend>Inbounds</legend>
          {choosable.map((p) =>
            (inbounds[p] ?? []).map((i) => (
              <label key={`${p}/${i.tag}`} className="check">
                <input
                  type="checkbox"
                  checked={tagsOf(p).includes(i.tag)}
                  onChange={() => {
                    toggleTag(p, i.tag);
                  }}
                />
                {i.tag} ({p}, port {i.port})
              </label>
            )),
          )}
        </fieldset>
      )}
      <TextField
        label="Delete after running out (days, empty: never)"
        name="auto_delete_in_days"
        value={autoDelete}
        onChange={setAutoDelete}
        inputMode="numeric"
      />
      <fieldset>
        <legend>Next plan</legend>
        <label className="check">
          <input
            name="has_next_plan"
            type="checkbox"
            checked={hasPlan}
            onChange={(e) => {
              setHasPlan(e.target.checked);
            }}
          />
          Give a next plan when this one runs out
        </label>
        {hasPlan && (
          <>
            <TextField label="Next plan's limit in GiB (empty: unlimited)" name="next_plan_limit" value={planGiB} onChange={setPlanGiB} inputMode="decimal" />
            <TextField label="Next plan's days (empty: no expiry)" name="next_plan_days" value={planDays} onChange={setPlanDays} inputMode="numeric" />
            <label className="check">
              <input
                name="add_remaining_traffic"
                type="checkbox"
                checked={planCarry}
                onChange={(e) => {
                  setPlanCarry(e.target.checked);
                }}
              />
              Carry over the traffic left
            </label>
            <label className="check">
              <input
                name="fire_on_either"
                type="checkbox"
                checked={planEither}
                onChange={(e) => {
                  setPlanEither(e.target.checked);
                }}
              />
              Start when either the limit or the expiry is reached (unticked: only when both are)
            </label>
          </>
        )}
      </fieldset>
      <FormFooter error={error} busy={busy} submitLabel={user ? 'Save' : 'Create'} onCancel={onCancel} />
    </form>
  );
}
