import { BarChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { Alert, Anchor, Badge, Button, Card, Code, Group, Stack, Table, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Outlet } from 'react-router';
import { confirmThen } from '../../components/confirm';
import { Copy } from '../../components/CopyQr';
import { EditorModal, FormActions } from '../../components/FormParts';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { certificatePin, nodeRequests, useNodes, useNodeSettings, useNodesUsage, type PanelNode } from '../../features/nodes/api';
import { nodeSnippets } from '../../features/nodes/snippets';
import { useAlerts } from '../../features/system/api';
import { liveStatus } from '../../features/nodes/status';
import { formatBytes, formatCount, formatTime } from '../../lib/format';
import { keys } from '../../lib/queryKeys';
import { useNow } from '../../lib/useNow';

const statusColors: Record<string, string> = { connected: 'teal', connecting: 'yellow', error: 'red', disabled: 'gray' };

/** The panel's built-in node (--local-node) gets a fresh token at every start. */
function isBuiltIn(node: PanelNode): boolean {
  return node.name === 'local' && node.address === '127.0.0.1';
}

interface Issued {
  node: string;
  token: string;
}

function TokenNotice({ issued, onDone }: { issued: Issued; onDone: () => void }) {
  const { t } = useTranslation();
  const settings = useNodeSettings();
  // The command depends on the panel's certificate (a self-signed one is
  // pinned): never show it without knowing.
  if (settings.isPending) {
    return <PageLoading />;
  }
  const snippets = nodeSnippets(issued.token, settings.data);
  const tabs = [
    { value: 'command', label: t('nodes.snippet.command'), copy: t('nodes.copyCommand'), text: snippets.command },
    { value: 'systemd', label: t('nodes.snippet.systemd'), copy: t('nodes.copySystemd'), text: snippets.systemd },
    { value: 'compose', label: t('nodes.snippet.compose'), copy: t('nodes.copyCompose'), text: snippets.compose },
  ];
  return (
    <Alert color="indigo" role="status" aria-label={t('nodes.tokenTitle')} title={t('nodes.tokenTitle')}>
      <Stack gap="xs">
        <Text size="sm">{t('nodes.tokenOnce', { name: issued.node })}</Text>
        <Tabs defaultValue="command" keepMounted={false}>
          <Tabs.List>
            {tabs.map((tab) => (
              <Tabs.Tab key={tab.value} value={tab.value}>
                {tab.label}
              </Tabs.Tab>
            ))}
          </Tabs.List>
          {tabs.map((tab) => (
            <Tabs.Panel key={tab.value} value={tab.value} pt="xs">
              <Stack gap={4} align="flex-start">
                <Copy value={tab.text} label={tab.copy} />
                <Code block data-snippet={tab.value} style={{ alignSelf: 'stretch', whiteSpace: 'pre-wrap', wordBreak: 'break-all', maxHeight: '20rem', overflow: 'auto' }} tabIndex={0}>
                  {tab.text}
                </Code>
              </Stack>
            </Tabs.Panel>
          ))}
        </Tabs>
        <Text size="xs" c="dimmed">
          {t('nodes.snippetHint')}
        </Text>
        {certificatePin(settings.data) && (
          <Text size="xs" c="dimmed">
            {t('nodes.selfSigned')}
          </Text>
        )}
        <Group>
          <Button size="xs" onClick={onDone}>
            {t('common.done')}
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}

function NodeForm({ node, onDone, onCancel }: { node: PanelNode | null; onDone: (issued: Issued | null) => void; onCancel: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [name, setName] = useState(node?.name ?? '');
  const [address, setAddress] = useState(node?.address ?? '');
  const [coefficient, setCoefficient] = useState(String(node?.usage_coefficient ?? 1));
  const save = useMutation({
    mutationFn: async (): Promise<Issued | null> => {
      const c = Number(coefficient);
      if (!Number.isFinite(c) || c <= 0) {
        throw new Error(t('nodes.errCoefficient'));
      }
      if (node === null) {
        const created = await nodeRequests.create({ name, usage_coefficient: c, ...(address ? { address } : {}) });
        return { node: created.name, token: created.token ?? '' };
      }
      await nodeRequests.modify(node.id, { name, address, usage_coefficient: c });
      return null;
    },
    onSuccess: (issued) => {
      void client.invalidateQueries({ queryKey: keys.nodes });
      onDone(issued);
    },
  });
  const title = node ? t('nodes.editTitle', { name: node.name }) : t('nodes.newTitle');
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <form aria-label={title} onSubmit={submit}>
      <Stack gap="sm">
        <TextInput label={t('nodes.name')} value={name} onChange={(e) => { setName(e.currentTarget.value); }} required />
        <TextInput label={t('nodes.address')} value={address} onChange={(e) => { setAddress(e.currentTarget.value); }} />
        <TextInput label={t('nodes.coefficient')} inputMode="decimal" value={coefficient} onChange={(e) => { setCoefficient(e.currentTarget.value); }} />
        <FormActions error={save.error?.message} pending={save.isPending} existing={node !== null} onCancel={onCancel} />
      </Stack>
    </form>
  );
}

export function NodesPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const nodes = useNodes();
  const usage = useNodesUsage(30);
  const alerts = useAlerts();
  const alertsOf = (id: number) => (alerts.data?.alerts ?? []).filter((a) => a.subject === `node:${String(id)}`);
  const now = useNow();
  const [editing, setEditing] = useState<{ node: PanelNode | null } | null>(null);
  const [issued, setIssued] = useState<Issued | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: (run: () => Promise<unknown>) => run(),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: keys.nodes });
    },
  });
  const traffic = new Map((usage.data?.usages ?? []).map((u) => [u.node_id, u]));
  const list = nodes.data ?? [];
  return (
    <Page
      title={t('nav.nodes')}
      actions={
        <>
          <Button onClick={() => { setIssued(null); setEditing({ node: null }); }}>{t('nodes.new')}</Button>
          <Button variant="default" onClick={() => void nodes.refetch()}>
            {t('common.refresh')}
          </Button>
        </>
      }
    >
      {issued && <TokenNotice issued={issued} onDone={() => { setIssued(null); }} />}
      <ActionStatus message={message} />
      {act.error && <PageError error={act.error} />}
      {nodes.isPending && <PageLoading />}
      {nodes.isError && <PageError error={nodes.error} onRetry={() => void nodes.refetch()} />}
      {nodes.isSuccess && list.length === 0 && <Empty>{t('nodes.empty')}</Empty>}
      {list.length > 0 && (
        <Table className="cards-on-phone" striped verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('nodes.name')}</Table.Th>
              <Table.Th>{t('nodes.col.status')}</Table.Th>
              <Table.Th>{t('nodes.col.revision')}</Table.Th>
              <Table.Th>{t('nodes.col.versions')}</Table.Th>
              <Table.Th>{t('nodes.col.traffic')}</Table.Th>
              <Table.Th>{t('nodes.col.message')}</Table.Th>
              <Table.Th>{t('users.col.actions')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.map((n) => {
              const tr = traffic.get(n.id);
              return (
                <Table.Tr key={n.id} data-node={n.name}>
                  <Table.Td data-label={t('nodes.name')}>
                    <Anchor component={Link} to={`/nodes/${String(n.id)}`} fw={600} size="sm" aria-label={t('nodes.open', { name: n.name })}>
                      {n.name}
                    </Anchor>
                    <Text size="xs" c="dimmed">
                      {n.address || '—'} · ×{n.usage_coefficient}
                    </Text>
                  </Table.Td>
                  <Table.Td data-label={t('nodes.col.status')} data-status={n.status}>
                    <Badge color={statusColors[n.status] ?? 'gray'} variant="light" title={formatTime(n.last_seen)}>
                      {t(`nodes.status.${n.status}`)}
                    </Badge>
                    {n.status !== 'connected' && (
                      <Text size="xs" data-live-status>
                        {liveStatus(t, n, now)}
                      </Text>
                    )}
                    {alertsOf(n.id).length > 0 && (
                      <Badge
                        color="red"
                        variant="filled"
                        data-node-alerts={alertsOf(n.id).length}
                        title={alertsOf(n.id)
                          .map((a) => t(`alerts.rules.${a.rule}`, { defaultValue: a.rule }))
                          .join(', ')}
                      >
                        {t('alerts.nodeBadge', { count: alertsOf(n.id).length })}
                      </Badge>
                    )}
                  </Table.Td>
                  <Table.Td data-label={t('nodes.col.revision')}>
                    {formatCount(n.applied_revision)}
                    {n.panel_revision - n.applied_revision > 0 && (
                      <Text size="xs" c="orange.9">
                        {t('overview.behind', { count: n.panel_revision - n.applied_revision })}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td data-label={t('nodes.col.versions')}>
                    <Text size="xs">Xray {n.xray_version || '—'}</Text>
                    <Text size="xs">{t('nodes.agent')} {n.agent_version || '—'}</Text>
                  </Table.Td>
                  <Table.Td data-label={t('nodes.col.traffic')} data-traffic>
                    {tr ? `↑ ${formatBytes(tr.uplink)} · ↓ ${formatBytes(tr.downlink)}` : '—'}
                  </Table.Td>
                  <Table.Td data-label={t('nodes.col.message')}>{n.message || '—'}</Table.Td>
                  <Table.Td data-label={t('users.col.actions')}>
                    {isBuiltIn(n) ? (
                      <Text size="xs" c="dimmed">
                        {t('nodes.builtIn')}
                      </Text>
                    ) : (
                      <Group gap={4} wrap="wrap" style={{ flex: '1 1 0', minWidth: 0 }}>
                        <Anchor component={Link} to={`/logs?node=${String(n.id)}`} size="xs">
                          {t('nav.logs')}
                        </Anchor>
                        <Button
                          size="compact-xs"
                          variant="light"
                          disabled={n.status !== 'connected'}
                          onClick={() => {
                            confirmThen(
                              t('nodes.restartConfirm', { name: n.name }),
                              () => {
                                act.mutate(() => nodeRequests.restart(n.id), { onSuccess: () => { setMessage(t('nodes.restarted', { name: n.name })); } });
                              }
                            );
                          }}
                        >
                          {t('nodes.restartCore')}
                        </Button>
                        <Button size="compact-xs" variant="light" onClick={() => { setEditing({ node: n }); }}>
                          {t('common.edit')}
                        </Button>
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          onClick={() => {
                            confirmThen(t('nodes.reconnectConfirm', { name: n.name }), () => {
                              act.mutate(() => nodeRequests.reconnect(n.id), { onSuccess: () => { setMessage(t('nodes.reconnected', { name: n.name })); } });
                            });
                          }}
                        >
                          {t('nodes.reconnect')}
                        </Button>
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          onClick={() => {
                            confirmThen(t('nodes.tokenConfirm', { name: n.name }), () => {
                              act.mutate(async () => {
                                const r = await nodeRequests.rotateToken(n.id);
                                setIssued({ node: n.name, token: r.token });
                              });
                            });
                          }}
                        >
                          {t('nodes.newToken')}
                        </Button>
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          color="red"
                          onClick={() => {
                            confirmThen(t('nodes.deleteConfirm', { name: n.name }), () => {
                              act.mutate(() => nodeRequests.remove(n.id));
                            });
                          }}
                        >
                          {t('common.delete')}
                        </Button>
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      )}
      {(usage.data?.usages.length ?? 0) > 0 && (
        <Card withBorder component="section" aria-label={t('nodes.trafficChart')}>
          <Title order={3} size="h5" mb="sm">
            {t('nodes.trafficChart')}
          </Title>
          <BarChart
            h={200}
            data={(usage.data?.usages ?? []).map((u) => ({ node: u.node_name, up: u.uplink, down: u.downlink }))}
            dataKey="node"
            type="stacked"
            series={[
              { name: 'up', label: t('nodes.uplink'), color: 'indigo.6' },
              { name: 'down', label: t('nodes.downlink'), color: 'teal.6' },
            ]}
            valueFormatter={formatBytes}
            yAxisProps={{ tickFormatter: formatBytes, width: 70 }}
          />
        </Card>
      )}
      <EditorModal editing={editing} onClose={() => { setEditing(null); }} title={(e) => (e.node ? t('nodes.editTitle', { name: e.node.name }) : t('nodes.newTitle'))}>
        {(e) => (
          <NodeForm
            node={e.node}
            onDone={(i) => {
              setEditing(null);
              if (i) {
                setIssued(i);
              }
            }}
            onCancel={() => { setEditing(null); }}
          />
        )}
      </EditorModal>
      <Outlet />
    </Page>
  );
}
