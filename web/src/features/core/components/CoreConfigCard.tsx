import { useCallback, useState } from 'react';
import { ApiError } from '../../../lib/api';
import { useLoad } from '../../../lib/useLoad';
import { getCoreConfig, putCoreConfig } from '../api';

interface CoreConfigCardProps {
  token: string;
  onUnauthorized: () => void;
}

/**
 * The Xray config every node runs (sudo). Saving sends it to the panel,
 * which checks it with Xray's own builder; a config that does not build is
 * refused with the builder's message and nothing changes. Nodes get a saved
 * config with their next delta, without dropping connections on inbounds
 * that did not change.
 */
export function CoreConfigCard({ token, onUnauthorized }: CoreConfigCardProps) {
  const [open, setOpen] = useState(false);
  return (
    <section className="card" aria-label="Core config">
      <div className="section-head">
        <h2>Core config</h2>
        <button
          type="button"
          onClick={() => {
            setOpen(!open);
          }}
        >
          {open ? 'Close' : 'Edit'}
        </button>
      </div>
      {open && <CoreConfigEditor token={token} onUnauthorized={onUnauthorized} />}
    </section>
  );
}

function CoreConfigEditor({ token, onUnauthorized }: CoreConfigCardProps) {
  const [loaded] = useLoad(
    useCallback((signal: AbortSignal) => getCoreConfig(token, signal), [token]),
    onUnauthorized,
  );
  const [text, setText] = useState<string | null>(null);
  const [message, setMessage] = useState<{ kind: 'notice' | 'alert'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  if (loaded.state === 'loading') {
    return <p className="muted">Loading the core config…</p>;
  }
  if (loaded.state === 'error') {
    return (
      <p className="alert" role="alert">
        {loaded.status === 403 ? 'Only sudo admins can see the core config.' : `Could not load it: ${loaded.message}`}
      </p>
    );
  }
  const shown = text ?? JSON.stringify(loaded.value, null, 2);

  async function save() {
    setMessage(null);
    let config: unknown;
    try {
      config = JSON.parse(shown);
    } catch (err) {
      setMessage({ kind: 'alert', text: `Not JSON: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      setMessage({ kind: 'alert', text: 'The config is a JSON object.' });
      return;
    }
    setBusy(true);
    try {
      await putCoreConfig(token, config);
      setMessage({ kind: 'notice', text: 'Saved. Nodes apply it with their next update.' });
    } catch (err) {
      if (err instanceof ApiError && err.unauthorized) {
        onUnauthorized();
        return;
      }
      setMessage({ kind: 'alert', text: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="core-editor">
      <textarea
        aria-label="Xray config (JSON)"
        spellCheck={false}
        rows={24}
        value={shown}
        onChange={(e) => {
          setText(e.target.value);
        }}
      />
      {message !== null && (
        <p className={message.kind} role={message.kind === 'alert' ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      <div className="actions">
        <button type="button" className="primary" disabled={busy} onClick={() => void save()}>
          Save
        </button>
      </div>
    </div>
  );
}
