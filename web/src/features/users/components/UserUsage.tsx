import { useCallback, useState } from 'react';
import { formatBytes } from '../../../lib/format';
import { useLoad } from '../../../lib/useLoad';
import { userUsage } from '../api';

const periods: [number, string][] = [
  [1, 'Last 24 hours'],
  [7, 'Last 7 days'],
  [30, 'Last 30 days'],
  [90, 'Last 90 days'],
];

interface UserUsageProps {
  token: string;
  username: string;
  onUnauthorized: () => void;
  onClose: () => void;
}

/**
 * One user's traffic per node over a period (GET /api/user/{username}/usage),
 * from the panel's hourly usage records: which servers a user actually uses.
 */
export function UserUsage({ token, username, onUnauthorized, onClose }: UserUsageProps) {
  const [days, setDays] = useState(30);
  const [usage] = useLoad(
    useCallback(
      (signal: AbortSignal) => userUsage(token, username, new Date(Date.now() - days * 86400 * 1000), signal),
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
