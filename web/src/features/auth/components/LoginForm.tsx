import { useState, type SubmitEvent } from 'react';
import { ApiError } from '../../../lib/api';
import { login } from '../api';

interface LoginFormProps {
  notice: string | null;
  onSignedIn: (token: string) => void;
}

export function LoginForm({ notice, onSignedIn }: LoginFormProps) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      onSignedIn(await login(username.trim(), password));
    } catch (err) {
      setError(describeLoginError(err));
      setPending(false);
    }
  }

  return (
    <main className="login">
      <form
        className="card login-card"
        onSubmit={(event) => {
          void submit(event);
        }}
        aria-busy={pending}
      >
        <h1 className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Outpost
        </h1>
        <p className="muted">Sign in to manage users and nodes.</p>
        {notice !== null && error === null && <p className="notice">{notice}</p>}
        {error !== null && (
          <p className="alert" role="alert">
            {error}
          </p>
        )}
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            autoFocus
            value={username}
            onChange={(e) => {
              setUsername(e.target.value);
            }}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => {
              setPassword(e.target.value);
            }}
          />
        </label>
        <button type="submit" className="primary" disabled={pending}>
          {pending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function describeLoginError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) {
      return 'Incorrect username or password.';
    }
    return err.message;
  }
  return 'Sign-in failed. Try again.';
}
