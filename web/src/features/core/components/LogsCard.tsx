import { useEffect, useRef, useState } from 'react';
import type { PanelNode } from '../../../types/api';

/** Lines kept on screen; older ones scroll away. */
const keepLines = 500;

interface LogsCardProps {
  token: string;
  /** The nodes to filter by; empty while loading. */
  nodes: PanelNode[];
  onUnauthorized: () => void;
}

/** Marzban's close codes of the log socket (backend/api/logs.go). */
const closeReasons: Partial<Record<number, string>> = {
  4400: 'the panel refused the request',
  4403: 'only sudo admins can watch the logs',
  4404: 'no such node',
};

/**
 * Live Xray log lines of every node, or of one (WS /api/core/logs, lines
 * batched each second). Nodes send lines only while somebody watches, so
 * nothing streams until Watch is pressed. A node that logs faster than the
 * stream carries drops lines and says how many.
 */
export function LogsCard({ token, nodes, onUnauthorized }: LogsCardProps) {
  const [watching, setWatching] = useState(false);
  const [nodeID, setNodeID] = useState('');
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState<string | null>(null);
  const box = useRef<HTMLPreElement>(null);

  useEffect(() => {
    if (!watching) {
      return;
    }
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const params = new URLSearchParams({ token, interval: '1' });
    if (nodeID !== '') {
      params.set('node_id', nodeID);
    }
    const ws = new WebSocket(`${scheme}://${window.location.host}/api/core/logs?${params.toString()}`);
    let stopped = false;
    ws.onopen = () => {
      setStatus('Watching: new lines appear within a second.');
    };
    ws.onmessage = (e: MessageEvent<string>) => {
      const batch = e.data.split('\n');
      setLines((old) => [...old, ...batch].slice(-keepLines));
    };
    ws.onclose = (e) => {
      if (stopped) {
        return;
      }
      if (e.code === 4401) {
        onUnauthorized();
        return;
      }
      setWatching(false);
      setStatus(`Stopped: ${closeReasons[e.code] ?? 'the connection to the panel closed'}.`);
    };
    return () => {
      stopped = true;
      ws.close();
    };
  }, [watching, nodeID, token, onUnauthorized]);

  useEffect(() => {
    const el = box.current;
    if (el) {
      el.scrollTop = el.scrollHeight;
    }
  }, [lines]);

  return (
    <section className="card" aria-label="Core logs">
      <div className="section-head">
        <h2>Core logs</h2>
        <span className="row-actions">
          <select
            aria-label="Node"
            value={nodeID}
            onChange={(e) => {
              setNodeID(e.target.value);
            }}
          >
            <option value="">All nodes</option>
            {nodes.map((n) => (
              <option key={n.id} value={String(n.id)}>
                {n.name}
              </option>
            ))}
          </select>
          <button
            type="button"
            onClick={() => {
              setStatus(watching ? 'Stopped.' : null);
              setWatching(!watching);
            }}
          >
            {watching ? 'Stop' : 'Watch'}
          </button>
          <button
            type="button"
            onClick={() => {
              setLines([]);
            }}
          >
            Clear
          </button>
        </span>
      </div>
      {status !== null && (
        <p className="muted small" role="status">
          {status}
        </p>
      )}
      <pre className="log-lines" ref={box} role="log" aria-label="Xray log lines">
        {lines.length === 0 ? (watching ? 'No lines yet.' : 'Press Watch to stream the nodes\u2019 Xray logs.') : lines.join('\n')}
      </pre>
    </section>
  );
}
