import { useState } from 'react';
import { FormFooter, MessageLine, TextField, useAction, useSubmit } from '../../../lib/actions';
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
  const { message, setMessage, act } = useAction(onUnauthorized, reload);

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
      <MessageLine message={message} />
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
                  <td className="node-name" data-label="Name">
                    {t.name}
                  </td>
                  <td data-label="Data limit">{t.data_limit ? formatBytes(t.data_limit) : 'unlimited'}</td>
                  <td data-label="Duration">{t.expire_duration ? `${String(Math.round(t.expire_duration / 86400))} days` : 'never expires'}</td>
                  <td data-label="Username">
                    {t.username_prefix ?? ''}…{t.username_suffix ?? ''}
                  </td>
                  <td className="row-actions" data-label="Actions">
                    <button
                      type="button"
                      className="danger"
                      onClick={() => void act(`Deleted template ${t.name}.`, () => deleteTemplate(token, t.id))}
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
  const submit = useSubmit(() => {
    const l = limit.trim() === '' ? 0 : Number(limit);
    const d = days.trim() === '' ? 0 : Number(days);
    if (!Number.isFinite(l) || l < 0 || !Number.isInteger(d) || d < 0) {
      return Promise.reject(new Error('Data limit: GiB, or empty; duration: whole days, or empty.'));
    }
    return onSubmit({
      name: name.trim(),
      data_limit: Math.round(l * gib),
      expire_duration: d * 86400,
      username_prefix: prefix,
      username_suffix: suffix,
    });
  });
  const { error, busy } = submit;

  return (
    <form className="card user-form" aria-label="New template" onSubmit={submit.onSubmit}>
      <h3>New template</h3>
      <TextField label="Name" name="name" value={name} onChange={setName} required />
      <TextField label="Data limit (GiB, empty: unlimited)" name="data_limit" value={limit} onChange={setLimit} />
      <TextField label="Days until expiry (empty: never)" name="days" value={days} onChange={setDays} />
      <TextField label="Username prefix" name="username_prefix" value={prefix} onChange={setPrefix} />
      <TextField label="Username suffix" name="username_suffix" value={suffix} onChange={setSuffix} />
      <FormFooter error={error} busy={busy} submitLabel="Create" onCancel={onCancel} />
    </form>
  );
}
