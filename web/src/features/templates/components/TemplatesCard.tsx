import { useState, type SyntheticEvent } from 'react';
import { ApiError } from '../../../lib/api';
import { formatBytes, gib } from '../../../lib/format';
import type { Loadable } from '../../../lib/useLoad';
import { createTemplate, deleteTemplate, type UserTemplate } from '../api';

interface TemplatesCardProps {
  token: string;
  templates: Loadable<UserTemplate[]>;
  reload: () => void;
  onUnauthorized: () => void;
}

/** User templates (sudo): plans a new user starts from (the user form offers them). */
export function TemplatesCard({ token, templates, reload, onUnauthorized }: TemplatesCardProps) {
  const [adding, setAdding] = useState(false);
  const [message, setMessage] = useState<{ kind: 'notice' | 'alert'; text: string } | null>(null);

  async function remove(t: UserTemplate) {
    setMessage(null);
    try {
      await deleteTemplate(token, t.id);
      setMessage({ kind: 'notice', text: `Deleted template ${t.name}.` });
      reload();
    } catch (err) {
      if (err instanceof ApiError && err.unauthorized) {
        onUnauthorized();
        return;
      }
      setMessage({ kind: 'alert', text: err instanceof Error ? err.message : String(err) });
    }
  }

  return (
    <section className="card" aria-label="Templates">
      <div className="section-head">
        <h2>Templates</h2>
        <button
          type="button"
          onClick={() => {
            setAdding(true);
          }}
        >
          New template
        </button>
      </div>
      {adding && (
        <NewTemplateForm
          onCancel={() => {
            setAdding(false);
          }}
          onSubmit={async (t) => {
            await createTemplate(token, t);
            setAdding(false);
            setMessage({ kind: 'notice', text: `Created template ${t.name}.` });
            reload();
          }}
        />
      )}
      {message !== null && (
        <p className={message.kind} role={message.kind === 'alert' ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      {templates.state === 'error' && (
        <p className="alert" role="alert">
          Could not load templates: {templates.message}
        </p>
      )}
      {templates.state === 'ready' && templates.value.length === 0 && (
        <p className="empty">No templates yet. A template is a plan new users start from.</p>
      )}
      {templates.state === 'ready' && templates.value.length > 0 && (
        <div className="table-wrap">
          <table className="nodes">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Data limit</th>
                <th scope="col">Duration</th>
                <th scope="col">Username</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {templates.value.map((t) => (
                <tr key={t.id} data-template={t.name}>
                  <td className="node-name">{t.name}</td>
                  <td>{t.data_limit ? formatBytes(t.data_limit) : 'unlimited'}</td>
                  <td>{t.expire_duration ? `${String(Math.round(t.expire_duration / 86400))} days` : 'never expires'}</td>
                  <td>
                    {t.username_prefix ?? ''}…{t.username_suffix ?? ''}
                  </td>
                  <td className="row-actions">
                    <button type="button" className="danger" onClick={() => void remove(t)}>
                      Delete
                    </button>
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

function NewTemplateForm({
  onSubmit,
  onCancel,
}: {
  onSubmit: (t: {
    name: string;
    data_limit: number;
    expire_duration: number;
    username_prefix: string;
    username_suffix: string;
  }) => Promise<void>;
  onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [limit, setLimit] = useState('');
  const [days, setDays] = useState('');
  const [prefix, setPrefix] = useState('');
  const [suffix, setSuffix] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    setError(null);
    const l = limit.trim() === '' ? 0 : Number(limit);
    const d = days.trim() === '' ? 0 : Number(days);
    if (!Number.isFinite(l) || l < 0 || !Number.isInteger(d) || d < 0) {
      setError('Data limit: GiB, or empty; duration: whole days, or empty.');
      return;
    }
    setBusy(true);
    try {
      await onSubmit({
        name: name.trim(),
        data_limit: Math.round(l * gib),
        expire_duration: d * 86400,
        username_prefix: prefix,
        username_suffix: suffix,
      });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  const field = (label: string, value: string, set: (v: string) => void, name: string) => (
    <label>
      {label}
      <input
        name={name}
        value={value}
        onChange={(e) => {
          set(e.target.value);
        }}
      />
    </label>
  );

  return (
    <form className="card user-form" aria-label="New template" onSubmit={(e) => void submit(e)}>
      <h3>New template</h3>
      {field('Name', name, setName, 'name')}
      {field('Data limit (GiB, empty: unlimited)', limit, setLimit, 'data_limit')}
      {field('Days until expiry (empty: never)', days, setDays, 'days')}
      {field('Username prefix', prefix, setPrefix, 'username_prefix')}
      {field('Username suffix', suffix, setSuffix, 'username_suffix')}
      {error !== null && (
        <p className="alert" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          Create
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
