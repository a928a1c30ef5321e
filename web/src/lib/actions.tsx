import { useCallback, useState, type InputHTMLAttributes, type SyntheticEvent } from 'react';
import { ApiError } from './api';

/** A line under a section: what an action did, or why it failed. */
export interface Message {
  kind: 'notice' | 'alert';
  text: string;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Shows a message as a status line, or as an alert when it is one. */
export function MessageLine({ message }: { message: Message | null }) {
  if (message === null) {
    return null;
  }
  return (
    <p className={message.kind} role={message.kind === 'alert' ? 'alert' : 'status'}>
      {message.text}
    </p>
  );
}

/**
 * Runs API actions for a section: on success it says done and calls
 * after (reload what changed); on failure it shows the panel's reason,
 * except an expired session, which goes to onUnauthorized.
 */
export function useAction(onUnauthorized: () => void, after?: () => void) {
  const [message, setMessage] = useState<Message | null>(null);
  const act = useCallback(
    async (done: string, run: () => Promise<unknown>) => {
      setMessage(null);
      try {
        await run();
        setMessage({ kind: 'notice', text: done });
        after?.();
      } catch (err) {
        if (err instanceof ApiError && err.unauthorized) {
          onUnauthorized();
          return;
        }
        setMessage({ kind: 'alert', text: errorText(err) });
      }
    },
    [onUnauthorized, after],
  );
  return { message, setMessage, act };
}

/**
 * A form's submit: prevents the page load, runs submit while busy, and
 * keeps the error it throws (the panel's reason) to show in the form.
 */
export function useSubmit(submit: () => Promise<void>) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = (event: SyntheticEvent) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    submit().then(
      () => {
        setBusy(false);
      },
      (err: unknown) => {
        setError(errorText(err));
        setBusy(false);
      },
    );
  };
  return { error, setError, busy, onSubmit };
}

/** The end of a create or edit form: its error, then submit and cancel. */
export function FormFooter({
  error,
  busy,
  submitLabel,
  onCancel,
}: {
  error: string | null;
  busy: boolean;
  submitLabel: string;
  onCancel: () => void;
}) {
  return (
    <>
      {error !== null && (
        <p className="alert" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {submitLabel}
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </>
  );
}

/** A labelled one-line text input. */
export function TextField({
  label,
  name,
  value,
  onChange,
  ...rest
}: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'value' | 'onChange' | 'name'>) {
  return (
    <label>
      {label}
      <input
        name={name}
        value={value}
        onChange={(e) => {
          onChange(e.target.value);
        }}
        {...rest}
      />
    </label>
  );
}
