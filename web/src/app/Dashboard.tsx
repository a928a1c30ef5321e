import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { getCurrentAdmin } from '../features/admin/api';
import { AdminsCard } from '../features/admin/components/AdminsCard';
import { CoreConfigCard, HostsCard } from '../features/core/components/CoreConfigCard';
import { LogsCard } from '../features/core/components/LogsCard';
import { NotificationsCard } from '../features/system/NotificationsCard';
import {
  EditNodeForm,
  NewNodeForm,
  NodeRowActions,
  TokenNotice,
  type IssuedToken,
} from '../features/nodes/components/NodeActions';
import { NodesTable } from '../features/nodes/components/NodesTable';
import { getNodeSettings, listNodes, nodesUsage } from '../features/nodes/api';
import { getSystem } from '../features/system/api';
import { listTemplates } from '../features/templates/api';
import { TemplatesCard } from '../features/templates/components/TemplatesCard';
import { countUsers } from '../features/users/api';
import { UsersSection } from '../features/users/components/UsersSection';
import { formatBytes, formatCount } from '../lib/format';
import { useLoad, type Loadable } from '../lib/useLoad';
import type { NodeUsageItem, PanelNode } from '../types/api';

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

  const [system, reloadSystem] = useLoad(
    useCallback((signal: AbortSignal) => getSystem(token, signal), [token]),
    onUnauthorized,
  );
  const [templates, reloadTemplates] = useLoad(
    useCallback((signal: AbortSignal) => listTemplates(token, signal), [token]),
    onUnauthorized,
  );
  const countsChanged = useCallback(() => {
    reloadUsers();
    reloadSystem();
  }, [reloadUsers, reloadSystem]);
  const [usersVersion, setUsersVersion] = useState(0);
  const usersChanged = useCallback(() => {
    setUsersVersion((v) => v + 1);
    countsChanged();
  }, [countsChanged]);

  const refresh = useCallback(() => {
    reloadNodes();
    countsChanged();
  }, [reloadNodes, countsChanged]);

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
          <Stat label="Online" value={system} render={(v) => formatCount(v.online_users)} />
          <Stat
            label="Active · limited · expired"
            value={system}
            render={(v) =>
              `${formatCount(v.users_active)} · ${formatCount(v.users_limited)} · ${formatCount(v.users_expired)}`
            }
          />
          <Stat
            label="Traffic in · out"
            value={system}
            render={(v) => `${formatBytes(v.incoming_bandwidth)} · ${formatBytes(v.outgoing_bandwidth)}`}
          />
          <Stat label="Nodes" value={nodes} render={(list) => formatCount(list.length)} />
          <Stat
            label="Connected"
            value={nodes}
            render={(list) => `${formatCount(connected)} / ${formatCount(list.length)}`}
          />
        </section>

        <UsersSection
          token={token}
          onUnauthorized={onUnauthorized}
          onChanged={countsChanged}
          version={usersVersion}
          templates={templates.state === 'ready' ? templates.value : []}
          sudo={admin.state === 'ready' && admin.value.is_sudo}
        />

        <NodesCard token={token} nodes={nodes} onUnauthorized={onUnauthorized} reload={reloadNodes} />

        {admin.state === 'ready' && admin.value.is_sudo && (
          <AdminsCard token={token} me={admin.value.username} onUnauthorized={onUnauthorized} onChanged={usersChanged} />
        )}

        {admin.state === 'ready' && admin.value.is_sudo && (
          <TemplatesCard token={token} templates={templates} reload={reloadTemplates} onUnauthorized={onUnauthorized} />
        )}

        {admin.state === 'ready' && admin.value.is_sudo && (
          <HostsCard token={token} onUnauthorized={onUnauthorized} />
        )}

        {admin.state === 'ready' && admin.value.is_sudo && (
          <CoreConfigCard token={token} onUnauthorized={onUnauthorized} />
        )}

        {admin.state === 'ready' && admin.value.is_sudo && (
          <LogsCard token={token} nodes={nodeList ?? []} onUnauthorized={onUnauthorized} />
        )}

        {admin.state === 'ready' && admin.value.is_sudo && (
          <NotificationsCard token={token} onUnauthorized={onUnauthorized} />
        )}
      </main>
    </div>
  );
}

interface NodesCardProps {
  token: string;
  nodes: Loadable<PanelNode[]>;
  onUnauthorized: () => void;
  reload: () => void;
}

const thirtyDaysMs = 30 * 86400 * 1000;

/** Nodes: status and the last 30 days' traffic for everyone who may see
 * them (sudo admins); they add, edit and reconnect nodes, issue new tokens
 * and delete nodes here. */
function NodesCard({ token, nodes, onUnauthorized, reload }: NodesCardProps) {
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<PanelNode | null>(null);
  const [issued, setIssued] = useState<IssuedToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const mayManage = nodes.state === 'ready';
  const actionProps = { token, onUnauthorized, onChanged: reload };
  // Refreshed with every poll of the node list.
  const polledAt = nodes.state === 'ready' ? nodes.at : null;
  const [usage, reloadUsage] = useLoad(
    useCallback(
      (signal: AbortSignal) => (mayManage ? nodesUsage(token, new Date(Date.now() - thirtyDaysMs), signal) : Promise.resolve(null)),
      [token, mayManage],
    ),
    onUnauthorized,
  );
  useEffect(() => {
    if (polledAt !== null) {
      reloadUsage();
    }
  }, [polledAt, reloadUsage]);
  const [settings] = useLoad(
    useCallback((signal: AbortSignal) => (mayManage ? getNodeSettings(token, signal) : Promise.resolve(null)), [token, mayManage]),
    onUnauthorized,
  );
  const traffic =
    usage.state === 'ready' && usage.value !== null
      ? new Map<number, NodeUsageItem>(usage.value.usages.flatMap((u) => (u.node_id === null ? [] : [[u.node_id, u] as const])))
      : undefined;
  return (
    <section className="card" aria-label="Nodes">
      <div className="section-head">
        <h2>Nodes</h2>
        <span className="row-actions">
          {mayManage && (
            <button
              type="button"
              onClick={() => {
                setAdding(true);
                setIssued(null);
              }}
            >
              New node
            </button>
          )}
          <button type="button" onClick={reload}>
            Refresh
          </button>
        </span>
      </div>
      {issued !== null && (
        <TokenNotice
          issued={issued}
          settings={settings.state === 'ready' ? settings.value : null}
          onDone={() => {
            setIssued(null);
          }}
        />
      )}
      {adding && (
        <NewNodeForm
          {...actionProps}
          onIssued={(t) => {
            setAdding(false);
            setIssued(t);
          }}
          onCancel={() => {
            setAdding(false);
          }}
        />
      )}
      {editing !== null && (
        <EditNodeForm
          key={editing.id}
          {...actionProps}
          node={editing}
          onDone={() => {
            setEditing(null);
          }}
        />
      )}
      {error !== null && (
        <p className="alert" role="alert">
          {error}
        </p>
      )}
      <NodesSection
        nodes={nodes}
        traffic={traffic}
        actions={(node) => (
          <NodeRowActions
            {...actionProps}
            node={node}
            onIssued={(t) => {
              setError(null);
              setIssued(t);
            }}
            onError={setError}
            onEdit={() => {
              setAdding(false);
              setEditing(node);
            }}
          />
        )}
      />
    </section>
  );
}

function NodesSection({
  nodes,
  actions,
  traffic,
}: {
  nodes: Loadable<PanelNode[]>;
  actions: (node: PanelNode) => ReactNode;
  traffic?: Map<number, NodeUsageItem>;
}) {
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
      return <NodesTable nodes={nodes.value} now={nodes.at} actions={actions} traffic={traffic} />;
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
