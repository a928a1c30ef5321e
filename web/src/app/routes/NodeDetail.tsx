import { Alert, Badge, Button, Drawer, Group, List, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router';
import { confirmThen } from '../../components/confirm';
import { ActionStatus, PageError, PageLoading } from '../../components/PageState';
import { nodeRequests, useNode, type PanelNode } from '../../features/nodes/api';
import { NodeLog } from '../../features/nodes/NodeLog';
import { liveStatus } from '../../features/nodes/status';
import { formatCount, formatTime, timeAgo } from '../../lib/format';
import { keys } from '../../lib/queryKeys';
import { useNow } from '../../lib/useNow';

const NodeTrafficChart = lazy(() => import('../../features/nodes/NodeTrafficChart'));

const statusColors: Record<string, string> = { connected: 'teal', connecting: 'yellow', error: 'red', disabled: 'gray' };

function Fact({ label, children, name }: { label: string; children: ReactNode; name: string }) {
  return (
    <div data-fact={name}>
      <Text size="xs" c="dimmed" component="dt">
        {label}
      </Text>
      <Text size="sm" fw={500} component="dd" m={0}>
        {children}
      </Text>
    </div>
  );
}

function NodeBody({ node }: { node: PanelNode }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const now = useNow(5_000);
  const [message, setMessage] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: (run: () => Promise<unknown>) => run(),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: keys.nodes });
    },
  });
  const h = node.health;
  const inboundErrors = Object.entries(h?.inbound_errors ?? {});
  const certs = h?.certs ?? [];
  const connected = node.status === 'connected';
  return (
    <Stack gap="md">
      <Group gap="xs" wrap="wrap">
        <Badge color={statusColors[node.status] ?? 'gray'} variant="light">
          {t(`nodes.status.${node.status}`)}
        </Badge>
        <Text size="sm" data-live-status title={formatTime(node.last_seen)}>
          {liveStatus(t, node, now)}
        </Text>
      </Group>
      {node.message && (
        <Text size="sm" c="dimmed">
          {node.message}
        </Text>
      )}
      <SimpleGrid component="dl" cols={{ base: 2, sm: 3 }} spacing="sm" verticalSpacing="xs" m={0}>
        <Fact name="revision" label={t('nodes.fact.revision')}>
          {t('nodes.revisionOf', { applied: formatCount(node.applied_revision), current: formatCount(Math.max(node.panel_revision, node.applied_revision)) })}
        </Fact>
        <Fact name="users" label={t('nodes.fact.users')}>
          {h ? formatCount(h.users) : '—'}
        </Fact>
        <Fact name="backlog" label={t('nodes.fact.backlog')}>
          {h ? formatCount(h.journal_backlog) : '—'}
        </Fact>
        <Fact name="restarts" label={t('nodes.fact.restarts')}>
          {h ? formatCount(h.core_restarts) : '—'}
        </Fact>
        <Fact name="xray" label={t('nodes.fact.xray')}>
          {node.xray_version ?? '—'}
        </Fact>
        <Fact name="agent" label={t('nodes.fact.agent')}>
          {node.agent_version ?? '—'}
        </Fact>
        <Fact name="coefficient" label={t('nodes.coefficient')}>
          ×{node.usage_coefficient}
        </Fact>
        <Fact name="reported" label={t('nodes.fact.reported')}>
          {h ? timeAgo(h.reported_at, now) : t('common.never')}
        </Fact>
        <Fact name="address" label={t('nodes.address')}>
          {node.address || '—'}
        </Fact>
      </SimpleGrid>
      {inboundErrors.length > 0 && (
        <Alert color="red" title={t('nodes.inboundErrors')}>
          <List size="sm">
            {inboundErrors.map(([tag, err]) => (
              <List.Item key={tag}>
                <Text span ff="monospace" size="sm">
                  {tag}
                </Text>
                : {err}
              </List.Item>
            ))}
          </List>
        </Alert>
      )}
      {certs.length > 0 && (
        <section aria-label={t('nodes.certs.title')} data-node-certs>
          <Title order={3} size="h5" mb="xs">
            {t('nodes.certs.title')}
          </Title>
          <Table.ScrollContainer minWidth={420}>
            <Table striped fz="sm">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('nodes.certs.inbound')}</Table.Th>
                  <Table.Th>{t('nodes.certs.file')}</Table.Th>
                  <Table.Th>{t('nodes.certs.expires')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {certs.map((c) => {
                  const days = c.not_after ? Math.floor((Date.parse(c.not_after + 'Z') - now.getTime()) / 86_400_000) : null;
                  return (
                    <Table.Tr key={c.inbound + '\u0000' + c.file} data-cert-file={c.file}>
                      <Table.Td ff="monospace">{c.inbound}</Table.Td>
                      <Table.Td ff="monospace" style={{ wordBreak: 'break-all' }}>
                        {c.file}
                      </Table.Td>
                      <Table.Td>
                        {c.error ? (
                          <Text span c="red" size="sm">
                            {c.error}
                          </Text>
                        ) : (
                          <Text span size="sm" c={days !== null && days < 14 ? 'red' : undefined} title={formatTime(c.not_after)}>
                            {days !== null && days < 0 ? t('nodes.certs.expired') : t('nodes.certs.inDays', { count: days ?? 0 })}
                          </Text>
                        )}
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </section>
      )}
      <Group gap="xs">
        <Button
          variant="light"
          disabled={!connected}
          onClick={() => {
            confirmThen(
              t('nodes.restartConfirm', { name: node.name }),
              () => {
                act.mutate(() => nodeRequests.restart(node.id), {
                  onSuccess: () => {
                    setMessage(t('nodes.restarted', { name: node.name }));
                  },
                });
              }
            );
          }}
        >
          {t('nodes.restartCore')}
        </Button>
        <Button
          variant="default"
          onClick={() => {
            confirmThen(t('nodes.reconnectConfirm', { name: node.name }), () => {
              act.mutate(() => nodeRequests.reconnect(node.id), {
                onSuccess: () => {
                  setMessage(t('nodes.reconnected', { name: node.name }));
                },
              });
            });
          }}
        >
          {t('nodes.reconnect')}
        </Button>
      </Group>
      <ActionStatus message={message} />
      {act.error && <PageError error={act.error} />}
      <section aria-label={t('nodes.trafficWeek')}>
        <Title order={3} size="h5" mb="xs">
          {t('nodes.trafficWeek')}
        </Title>
        <Suspense fallback={<PageLoading />}>
          <NodeTrafficChart nodeID={node.id} />
        </Suspense>
      </section>
      <section aria-label={t('nodes.liveLog')}>
        <Title order={3} size="h5" mb="xs">
          {t('nodes.liveLog')}
        </Title>
        <Stack gap="xs">
          <NodeLog nodeID={node.id} />
        </Stack>
      </section>
    </Stack>
  );
}

/** /nodes/:id: one node in a drawer over the list, with its health, a
 * core restart, its traffic and its live log. Closing it goes back to
 * /nodes, which unmounts the log and closes its socket. */
export function NodeDetail() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const params = useParams();
  const id = Number(params.id);
  const valid = Number.isInteger(id) && id > 0;
  const node = useNode(id, valid);
  const phone = useMediaQuery('(max-width: 40em)', false);
  const title = node.data ? t('nodes.detailTitle', { name: node.data.name }) : t('nav.nodes');
  return (
    <Drawer
      opened
      onClose={() => {
        void navigate('/nodes');
      }}
      position="right"
      size={phone ? '100%' : 'xl'}
      title={title}
      closeButtonProps={{ 'aria-label': t('common.close') }}
    >
      {!valid && <PageError error={new Error(t('nodes.notFound'))} />}
      {valid && node.isPending && <PageLoading />}
      {valid && node.isError && <PageError error={node.error} onRetry={() => void node.refetch()} />}
      {node.data && <NodeBody node={node.data} />}
    </Drawer>
  );
}
