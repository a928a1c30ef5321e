import { useCallback, useState } from 'react';
import { MessageLine, useAction } from '../../../lib/actions';
import { useLoad } from '../../../lib/useLoad';

interface JsonEditorCardProps {
  title: string;
  /** The textarea's accessible name. */
  label: string;
  /** What the card edits, in a sentence or two, shown above the editor. */
  help: string;
  savedText: string;
  token: string;
  load: (token: string, signal: AbortSignal) => Promise<unknown>;
  save: (token: string, value: object) => Promise<unknown>;
  onUnauthorized: () => void;
}

/**
 * A panel setting edited as JSON (sudo): the core config, the hosts. The
 * panel validates what is saved and answers 4xx with its reason, which is
 * shown; nothing changes then.
 */
export function JsonEditorCard(props: JsonEditorCardProps) {
  const [open, setOpen] = useState(false);
  return (
    <section className="card" aria-label={props.title}>
      <div className="section-head">
        <h2>{props.title}</h2>
        <button
          type="button"
          onClick={() => {
            setOpen(!open);
          }}
        >
          {open ? 'Close' : 'Edit'}
        </button>
      </div>
      {open && <JsonEditor {...props} />}
    </section>
  );
}

function JsonEditor({ label, help, savedText, token, load, save, onUnauthorized }: JsonEditorCardProps) {
  const [loaded] = useLoad(
    useCallback((signal: AbortSignal) => load(token, signal), [token, load]),
    onUnauthorized,
  );
  const [text, setText] = useState<string | null>(null);
  const { message, setMessage, act } = useAction(onUnauthorized);
  const [busy, setBusy] = useState(false);

  if (loaded.state === 'loading') {
    return <p className="muted">Loading…</p>;
  }
  if (loaded.state === 'error') {
    return (
      <p className="alert" role="alert">
        Could not load it: {loaded.message}
      </p>
    );
  }
  const shown = text ?? JSON.stringify(loaded.value, null, 2);

  async function submit() {
    setMessage(null);
    let value: unknown;
    try {
      value = JSON.parse(shown);
    } catch (err) {
      setMessage({ kind: 'alert', text: `Not JSON: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      setMessage({ kind: 'alert', text: 'Expected a JSON object.' });
      return;
    }
    setBusy(true);
    await act(savedText, () => save(token, value));
    setBusy(false);
  }

  return (
    <div className="core-editor">
      <p className="muted small">{help}</p>
      <textarea
        aria-label={label}
        spellCheck={false}
        rows={24}
        value={shown}
        onChange={(e) => {
          setText(e.target.value);
        }}
      />
      <MessageLine message={message} />
      <div className="actions">
        <button type="button" className="primary" disabled={busy} onClick={() => void submit()}>
          Save
        </button>
      </div>
    </div>
  );
}
