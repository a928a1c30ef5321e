import { useCallback, useState } from 'react';
import { formatBytes, formatTime, timeAgo } from '../../../lib/format';
import { useLoad } from '../../../lib/useLoad';
import type { User } from '../../../types/api';
import { userDailyUsage, userUsage } from '../api';

const periods: [number, string][] = [
  [1, 'Last 24 hours'],
  [7, 'Last 7 days'],
  [30, 'Last 30 days'],
  [90, 'Last 90 days'],
];

interface UserUsageProps {
  token: string;
  user: User;
  onUnauthorized: () => void;
  onClose: () => void;
}

/**
 * One user's traffic per node over a period (GET /api/user/{username}/usage),
 * from the panel's hourly usage records: which servers a user actually uses.
 * Above it, what support asks first: lifetime traffic, when the client last
 * fetched the subscription and which client it was, when it was last online.
 */
export function UserUsage({ token, user, onUnauthorized, onClose }: UserUsageProps) {
  const username = user.username;
  const [days, setDays] = useState(30);
  const [usage] = useLoad(
    useCallback(
      (signal: AbortSignal) => userUsage(token, username, new Date(Date.now() - days * 86400 * 1000), signal),
      [token, username, days],
    ),
    onUnauthorized,
  );
  const [daily] = useLoad(
    useCallback(
      (signal: AbortSignal) => userDailyUsage(token, username, new Date(Date.now() - days * 86400 * 1000), signal),
      [token, username, days],
    ),
    onUnauthorized,
  );
  const rows = usage.state === 'ready' ? [...usage.value.usages].sort((a, b) => b.used_traffic - a.used_traffic) : [];
  const total = rows.reduce((sum, r) => sum + r.used_traffic, 0);

  return (
    <div className="card user-usage" role="region" aria-label={`Usage of ${username}`}>
      <div className="section-head">
        <h3>{username}&apos;s usage per node</h3>
        <select
          aria-label="Period"
          value={days}
          onChange={(e) => {
            setDays(Number(e.target.value));
          }}
        >
          {periods.map(([d, label]) => (
            <option key={d} value={d}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <dl className="facts">
        <dt>Created</dt>
        <dd>{formatTime(user.created_at)}</dd>
        <dt>Used in all</dt>
        <dd>{formatBytes(user.lifetime_used_traffic)}</dd>
        <dt>Subscription fetched</dt>
        <dd title={formatTime(user.sub_updated_at)}>
          {timeAgo(user.sub_updated_at)}
          {user.sub_last_user_agent && <span className="muted"> by {user.sub_last_user_agent}</span>}
        </dd>
        <dt>Online</dt>
        <dd title={formatTime(user.online_at)}>{timeAgo(user.online_at)}</dd>
      </dl>
      {daily.state === 'ready' && <DailyBars days={days} used={daily.value.days} />}
      {usage.state === 'loading' && <p className="muted">Loading usage…</p>}
      {usage.state === 'error' && (
        <p className="alert" role="alert">
          Could not load the usage: {usage.message}
        </p>
      )}
      {usage.state === 'ready' && rows.length === 0 && <p className="empty">No traffic in this period.</p>}
      {rows.length > 0 && (
        <table className="nodes">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Used</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.node_id ?? r.node_name} data-node={r.node_name}>
                <td data-label="Node">{r.node_name}</td>
                <td data-label="Used">{formatBytes(r.used_traffic)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">Total</th>
              <td data-label="Total">{formatBytes(total)}</td>
            </tr>
          </tfoot>
        </table>
      )}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </div>
  );
}

/** The UTC dates of the last n days, oldest first, today last. */
function lastDays(n: number): string[] {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  return Array.from({ length: n }, (_, i) => new Date(today - (n - 1 - i) * 86400 * 1000).toISOString().slice(0, 10));
}

/** Traffic per day as bars, each as tall as its share of the busiest day. */
function DailyBars({ days, used }: { days: number; used: { date: string; used_traffic: number }[] }) {
  const byDate = new Map(used.map((d) => [d.date, d.used_traffic]));
  const dates = lastDays(days);
  const peak = Math.max(1, ...dates.map((d) => byDate.get(d) ?? 0));
  return (
    <div className="daily-bars" role="img" aria-label={`Traffic per day over the last ${String(days)} days`}>
      {dates.map((d) => {
        const n = byDate.get(d) ?? 0;
        return (
          <span
            key={d}
            className="daily-bar"
            data-day={d}
            data-bytes={n}
            title={`${d}: ${formatBytes(n)}`}
            style={{ height: `${String(Math.max(n > 0 ? 4 : 1, Math.round((n / peak) * 100)))}%` }}
          />
        );
      })}
    </div>
  );
}
