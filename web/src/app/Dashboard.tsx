import { useCallback, useEffect } from 'react';
import { getCurrentAdmin } from '../features/admin/api';
import { NodesTable } from '../features/nodes/components/NodesTable';
import { listNodes } from '../features/nodes/api';
import { countUsers } from '../features/users/api';
import { UsersSection } from '../features/users/components/UsersSection';
import { formatCount } from '../lib/format';
import { useLoad, type Loadable } from '../lib/useLoad';
import type { PanelNode } from '../types/api';

// Nodes change status on their own; the list is polled so the page stays
// honest without a reload. Ten seconds matches the panel's review interval.
const refreshEveryMs = 10_000;

interface DashboardProps {
  token: string;
  onSignOut: () => void;
  onUnauthorized: () => void;
}

export function Dashboard({ token, onSignOut, onUnauthorized }: DashboardProps) {
  const [admin] = useLoad(
    useCallback((signal: AbortSignal) => getCurrentAdmin(token, signal), [token]),
    onUnauthorized,
  );
  const [nodes, reloadNodes] = useLoad(
    useCallback((signal: AbortSignal) => listNodes(token, signal), [token]),
    onUnauthorized,
  );
  const [userCount, reloadUsers] = useLoad(
    useCallback((signal: AbortSignal) => countUsers(token, signal), [token]),
    onUnauthorized,
  );

  const refresh = useCallback(() => {
    reloadNodes();
    reloadUsers();
  }, [reloadNodes, reloadUsers]);

  useEffect(() => {
    const timer = window.setInterval(refresh, refreshEveryMs);
    return () => {
      window.clearInterval(timer);
    };
  }, [refresh]);

  const nodeList = nodes.state === 'ready' ? nodes.value : null;
  const connected = nodeList?.filter((n) => n.status === 'connected').length ?? 0;

  return (
    <div className="shell">
      <header className="topbar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Outpost
        </div>
        <div className="who">
          {admin.state === 'ready' && (
            <>
              <span className="who-name">{admin.value.username}</span>
              <span className={`badge ${admin.value.is_sudo ? 'role-sudo' : 'role-admin'}`}>
                {admin.value.is_sudo ? 'sudo' : 'admin'}
              </span>
            </>
          )}
          {admin.state === 'error' && <span className="muted">{admin.message}</span>}
          <button type="button" onClick={onSignOut}>
            Log out
          </button>
        </div>
      </header>

      <main className="content">
        <section className="stats" aria-label="Summary">
          <Stat label="Users" value={userCount} render={formatCount} />
          <Stat label="Nodes" value={nodes} render={(list) => formatCount(list.length)} />
          <Stat
            label="Connected"
            value={nodes}
            render={(list) => `${formatCount(connected)} / ${formatCount(list.length)}`}
          />
        </section>

        <UsersSection token={token} onUnauthorized={onUnauthorized} onChanged={reloadUsers} />

        <section className="card">
          <div className="section-head">
            <h2>Nodes</h2>
            <button type="button" onClick={refresh}>
              Refresh
            </button>
          </div>
          <NodesSection nodes={nodes} />
        </section>
      </main>
    </div>
  );
}

function NodesSection({ nodes }: { nodes: Loadable<PanelNode[]> }) {
  switch (nodes.state) {
    case 'loading':
      return <p className="muted">Loading nodes…</p>;
    case 'error':
      if (nodes.status === 403) {
        return <p className="muted">Only sudo admins can see nodes.</p>;
      }
      return (
        <p className="alert" role="alert">
          Could not load nodes: {nodes.message}
        </p>
      );
    case 'ready':
      return <NodesTable nodes={nodes.value} now={nodes.at} />;
  }
}

interface StatProps<T> {
  label: string;
  value: Loadable<T>;
  render: (value: T) => string;
}

function Stat<T>({ label, value, render }: StatProps<T>) {
  let shown = '…';
  let title: string | undefined;
  if (value.state === 'ready') {
    shown = render(value.value);
  } else if (value.state === 'error') {
    shown = '—';
    title = value.message;
  }
  return (
    <div className="card stat" title={title}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{shown}</div>
    </div>
  );
}
