import { useCallback } from 'react';
import { formatCount } from '../../lib/format';
import { useLoad } from '../../lib/useLoad';
import { getNotifications } from './notifications';

const kindLabels: Record<string, string> = { webhook: 'Webhook', telegram: 'Telegram', discord: 'Discord' };

/**
 * Where user events go (webhooks, Telegram chats, Discord webhooks) and how
 * delivery stands for each, so a wrong bot token or a dead webhook shows
 * here rather than only in the panel's log (sudo).
 */
export function NotificationsCard({ token, onUnauthorized }: { token: string; onUnauthorized: () => void }) {
  const [status, reload] = useLoad(
    useCallback((signal: AbortSignal) => getNotifications(token, signal), [token]),
    onUnauthorized,
  );
  return (
    <section className="card" aria-label="Notifications">
      <div className="section-head">
        <h2>Notifications</h2>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </div>
      {status.state === 'loading' && <p className="muted">Loading…</p>}
      {status.state === 'error' && (
        <p className="alert" role="alert">
          Could not load the notification status: {status.message}
        </p>
      )}
      {status.state === 'ready' && status.value.targets.length === 0 && (
        <p className="empty">
          User events go nowhere yet: set WEBHOOK_ADDRESS, TELEGRAM_API_TOKEN with TELEGRAM_ADMIN_ID, or
          DISCORD_WEBHOOK_URL, or give an admin its own Telegram chat or Discord webhook.
        </p>
      )}
      {status.state === 'ready' && status.value.targets.length > 0 && (
        <div className="table-wrap">
          <table className="nodes">
            <thead>
              <tr>
                <th scope="col">Target</th>
                <th scope="col">Waiting</th>
                <th scope="col">Retrying</th>
                <th scope="col">Given up</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {status.value.targets.map((t) => (
                <tr key={`${t.kind} ${t.target}`} data-target={t.target}>
                  <td data-label="Target">
                    <span className="node-name">{t.target}</span>
                    <div className="muted small">{kindLabels[t.kind] ?? t.kind}</div>
                  </td>
                  <td data-label="Waiting">{formatCount(t.pending)}</td>
                  <td data-label="Retrying">{formatCount(t.retrying)}</td>
                  <td data-label="Given up">{formatCount(t.failed)}</td>
                  <td data-label="Last error" className="message">
                    {t.last_error || <span className="muted">—</span>}
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
