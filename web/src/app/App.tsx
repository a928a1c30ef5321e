import { useCallback, useEffect, useState } from 'react';
import { LoginForm } from '../features/auth/components/LoginForm';
import { clearToken, loadToken, saveToken } from '../lib/session';
import { Dashboard } from './Dashboard';

export function App() {
  const [token, setToken] = useState<string | null>(loadToken);
  const [notice, setNotice] = useState<string | null>(null);

  const signIn = useCallback((newToken: string) => {
    saveToken(newToken);
    setNotice(null);
    setToken(newToken);
  }, []);

  const signOut = useCallback(() => {
    clearToken();
    setNotice(null);
    setToken(null);
  }, []);

  const sessionExpired = useCallback(() => {
    clearToken();
    setNotice('Your session has expired. Sign in again.');
    setToken(null);
  }, []);

  // Signing in or out in another tab applies here too.
  useEffect(() => {
    function onStorage() {
      setToken(loadToken());
    }
    window.addEventListener('storage', onStorage);
    return () => {
      window.removeEventListener('storage', onStorage);
    };
  }, []);

  if (token === null) {
    return <LoginForm notice={notice} onSignedIn={signIn} />;
  }
  // A new token is a new session: key remounts so nothing of the old one shows.
  return <Dashboard key={token} token={token} onSignOut={signOut} onUnauthorized={sessionExpired} />;
}
