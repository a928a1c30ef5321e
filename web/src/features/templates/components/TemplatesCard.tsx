import { useCallback, useState } from 'react';
import { FormFooter, MessageLine, TextField, useAction, useSubmit } from '../../../lib/actions';
import { formatBytes, gib } from '../../../lib/format';
import { useLoad, type Loadable } from '../../../lib/useLoad';
import { protocols, type InboundSummary, type Protocol } from '../../../types/api';
import { listInbounds } from '../../users/api';
import { createTemplate, deleteTemplate, modifyTemplate, type TemplateFields, type UserTemplate } from '../api';

interface TemplatesCardProps {
  token: string;
  templates: Loadable<UserTemplate[]>;
  reload: () => void;
  onUnauthorized: () => void;
}

/** "vless: VLESS TCP · trojan: all" style summary of a template's inbounds. */
function inboundsText(inbounds: Record<string, string[]>): string {
  const entries = Object.entries(inbounds);
  if (entries.length === 0) {
    return 'any';
  }
  return entries.map(([p, tags]) => `${p}: ${tags.join(', ')}`).join(' · ');
}

/** User templates (sudo): plans a new user starts from (the user form offers them). */
export function TemplatesCard({ token, templates, reload, onUnauthorized }: TemplatesCardProps) {
  const [editing, setEditing] = useState<UserTemplate | 'new' | null>(null);
  const { message, setMessage, act } = useAction(onUnauthorized, reload);
  const formOpen = editing !== null;
  const [inbounds] = useLoad(
    useCallback((signal: AbortSignal) => (formOpen ? listInbounds(token, signal) : Promise.resolve({})), [token, formOpen]),
    onUnauthorized,
  );

  return (
    <section className="card" aria-label="Templates">
      <div className="section-head">
        <h2>Templates</h2>
        <button
          type="button"
          onClick={() => {
            setEditing('new');
          }}
        >
          New template
        </button>
      </div>
      {editing !== null && (
        <TemplateForm
          key={editing === 'new' ? 'new' : editing.id}
          template={editing === 'new' ? null : editing}
          inbounds={inbounds.state === 'ready' ? inbounds.value : {}}
          onCancel={() => {
            setEditing(null);
          }}
          onSubmit={async (t) => {
            if (editing === 'new') {
              await createTemplate(token, t);
              setMessage({ kind: 'notice', text: `Created template ${t.name}.` });
            } else {
              await modifyTemplate(token, editing.id, t);
              setMessage({ kind: 'notice', text: `Saved template ${t.name}.` });
            }
            setEditing(null);
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
                <th scope="col">Inbounds</th>
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
                  <td data-label="Inbounds">{inboundsText(t.inbounds)}</td>
                  <td className="row-actions" data-label="Actions">
                    <button
                      type="button"
                      onClick={() => {
                        setEditing(t);
                      }}
                    >
                      Edit
                    </button>
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

/** Create (template null) or edit a template. */
function TemplateForm({
  template,
  inbounds,
  onSubmit,
  onCancel,
}: {
  template: UserTemplate | null;
  inbounds: Partial<Record<Protocol, InboundSummary[]>>;
  onSubmit: (t: TemplateFields) => Promise<void>;
  onCancel: () => void;
}) {
  const [name, setName] = useState(template?.name ?? '');
  const [limit, setLimit] = useState(template?.data_limit ? String(template.data_limit / gib) : '');
  const [days, setDays] = useState(template?.expire_duration ? String(Math.round(template.expire_duration / 86400)) : '');
  const [prefix, setPrefix] = useState(template?.username_prefix ?? '');
  const [suffix, setSuffix] = useState(template?.username_suffix ?? '');
  // "protocol/tag" of every ticked inbound; none ticked: no restriction.
  const [ticked, setTicked] = useState<Set<string>>(
    new Set(Object.entries(template?.inbounds ?? {}).flatMap(([p, tags]) => tags.map((t) => `${p}/${t}`))),
  );
  const submit = useSubmit(() => {
    const l = limit.trim() === '' ? 0 : Number(limit);
    const d = days.trim() === '' ? 0 : Number(days);
    if (!Number.isFinite(l) || l < 0 || !Number.isInteger(d) || d < 0) {
      return Promise.reject(new Error('Data limit: GiB, or empty; duration: whole days, or empty.'));
    }
    const chosen: Record<string, string[]> = {};
    for (const key of ticked) {
      const slash = key.indexOf('/');
      const p = key.slice(0, slash);
      chosen[p] = [...(chosen[p] ?? []), key.slice(slash + 1)];
    }
    return onSubmit({
      name: name.trim(),
      data_limit: Math.round(l * gib),
      expire_duration: d * 86400,
      username_prefix: prefix,
      username_suffix: suffix,
      inbounds: chosen,
    });
  });
  const { error, busy } = submit;
  const label = template ? `Edit template ${template.name}` : 'New template';
  const offered = protocols.flatMap((p) => (inbounds[p] ?? []).map((i) => ({ p, tag: i.tag, port: i.port })));

  return (
    <form className="card user-form" aria-label={label} onSubmit={submit.onSubmit}>
      <h3>{label}</h3>
      <TextField label="Name" name="name" value={name} onChange={setName} required />
      <TextField label="Data limit (GiB, empty: unlimited)" name="data_limit" value={limit} onChange={setLimit} />
      <TextField label="Days until expiry (empty: never)" name="days" value={days} onChange={setDays} />
      <TextField label="Username prefix" name="username_prefix" value={prefix} onChange={setPrefix} />
      <TextField label="Username suffix" name="username_suffix" value={suffix} onChange={setSuffix} />
      {offered.length > 0 && (
        <fieldset>
          <legend>Inbounds (none ticked: the user form's choice)</legend>
          {offered.map(({ p, tag, port }) => {
            const key = `${p}/${tag}`;
            return (
              <label key={key} className="check">
                <input
                  type="checkbox"
                  checked={ticked.has(key)}
                  onChange={() => {
                    const next = new Set(ticked);
                    if (!next.delete(key)) {
                      next.add(key);
                    }
                    setTicked(next);
                  }}
                />
                {tag} ({p}, port {port})
              </label>
            );
          })}
        </fieldset>
      )}
      <FormFooter error={error} busy={busy} submitLabel={template ? 'Save' : 'Create'} onCancel={onCancel} />
    </form>
  );
}
