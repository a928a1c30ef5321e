import type { ReactNode } from 'react';
import { formatBytes, formatTime, timeAgo } from '../../../lib/format';
import type { NodeUsageItem, PanelNode } from '../../../types/api';

// Partial: a newer panel may report a status this build does not know yet.
const statusLabels: Partial<Record<string, string>> = {
  connected: 'Connected',
  connecting: 'Connecting',
  error: 'Error',
  disabled: 'Disabled',
};

interface NodesTableProps {
  nodes: PanelNode[];
  now: Date;
  /** Buttons for a row, if the viewer may act on nodes. */
  actions?: (node: PanelNode) => ReactNode;
  /** Traffic of the last 30 days by node id, once loaded. */
  traffic?: Map<number, NodeUsageItem>;
}

function trafficText(t: NodeUsageItem | undefined): string {
  return t ? `↑ ${formatBytes(t.uplink)} · ↓ ${formatBytes(t.downlink)}` : '—';
}

export function NodesTable({ nodes, now, actions, traffic }: NodesTableProps) {
  if (nodes.length === 0) {
    return (
      <div className="empty">
        <p>No nodes yet.</p>
        <p className="muted">
          Create one with <strong>New node</strong> (or <code>POST /api/node</code>), then start{' '}
          <code>bin/node</code> on the server with the token it shows.
        </p>
      </div>
    );
  }
  return (
    <div className="table-wrap">
      <table className="nodes">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Revision
            </th>
            <th scope="col">Xray</th>
            <th scope="col">Last seen</th>
            {traffic && <th scope="col">Traffic (30 days)</th>}
            <th scope="col">Message</th>
            {actions && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {nodes.map((node) => (
            <tr key={node.id} data-node={node.name}>
              <td data-label="Name">
                <span>
                  <span className="node-name">{node.name}</span>
                  <span className="muted small"> #{node.id}</span>
                </span>
              </td>
              <td data-label="Status">
                <span className={`badge status-${node.status}`}>
                  {statusLabels[node.status] ?? node.status}
                </span>
              </td>
              <td data-label="Revision" className="num">
                {node.applied_revision}
              </td>
              <td data-label="Xray">{node.xray_version || '—'}</td>
              <td data-label="Last seen">
                <time dateTime={node.last_seen ?? undefined} title={formatTime(node.last_seen)}>
                  {timeAgo(node.last_seen, now)}
                </time>
              </td>
              {traffic && <td data-label="Traffic (30 days)">{trafficText(traffic.get(node.id))}</td>}
              <td data-label="Message" className="message">
                {node.message || <span className="muted">—</span>}
              </td>
              {actions && <td data-label="Actions">{actions(node)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
