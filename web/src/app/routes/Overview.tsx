import { Badge, Card, Group, SegmentedControl, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { lazy, Suspense, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { MyCaps } from '../../features/admin/CapsUsage';
import { useCurrentAdmin } from '../../features/admin/api';
import { useAlerts, useOverview, type ActiveAlert, type Overview, type TrafficPoint } from '../../features/system/api';
import { formatBytes, formatCount, timeAgo } from '../../lib/format';

// recharts is large: the chart is its own chunk, fetched after the numbers show.
const TrafficChart = lazy(() => import('../../features/system/TrafficChart'));

const statusColors: Record<string, string> = { connected: 'teal', connecting: 'yellow', error: 'red', disabled: 'gray' };
type Span = 'today' | 'week' | 'month';

function Stat({ label, value, to, field }: { label: string; value: string; to?: string; field: string }) {
  const body = (
    <>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} data-stat={field}>
        {value}
      </Text>
    </>
  );
  return to ? (
    <Card withBorder padding="md" className="stat" component={Link} to={to}>
      {body}
    </Card>
  ) : (
    <Card withBorder padding="md" className="stat">
      {body}
    </Card>
  );
}

/** A bucket's label: the hour today, the day otherwise (UTC, as the panel counts). */
function bucketLabel(at: string, span: Span, lang: string): string {
  const d = new Date(`${at}Z`);
  if (Number.isNaN(d.getTime())) {
    return at;
  }
  return span === 'today'
    ? d.toLocaleTimeString(lang, { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString(lang, { timeZone: 'UTC', month: 'short', day: 'numeric' });
}

function Traffic({ traffic }: { traffic: Overview['traffic'] }) {
  const { t, i18n } = useTranslation();
  const [span, setSpan] = useState<Span>('today');
  const points: TrafficPoint[] = traffic[span];
  const up = points.reduce((s, p) => s + p.uplink, 0);
  const down = points.reduce((s, p) => s + p.downlink, 0);
  const spanName = t(`overview.span.${span}`);
  const totals = t('overview.trafficTotals', { span: spanName, up: formatBytes(up), down: formatBytes(down), total: formatBytes(up + down) });
  return (
    <Card withBorder component="section" aria-label={t('overview.traffic')}>
      <Stack gap="sm">
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Title order={3} size="h5">
            {t('overview.traffic')}
          </Title>
          <SegmentedControl
            size="xs"
            value={span}
            onChange={(v) => { setSpan(v); }}
            aria-label={t('overview.spanLabel')}
            data={(['today', 'week', 'month'] as const).map((s) => ({ value: s, label: t(`overview.span.${s}`) }))}
          />
        </Group>
        <Text size="sm" data-traffic-up={up} data-traffic-down={down} data-span={span}>
          {totals}
        </Text>
        {up + down === 0 && (
          <Text size="sm" c="dimmed">
            {t('overview.noTraffic')}
          </Text>
        )}
        <Suspense fallback={<PageLoading />}>
          <TrafficChart summary={t('overview.chartLabel', { totals })} data={points.map((p) => ({ label: bucketLabel(p.at, span, i18n.language), up: p.uplink, down: p.downlink }))} />
        </Suspense>
      </Stack>
    </Card>
  );
}

/** The measure of an alert in its rule's unit, for people. */
function alertValue(a: ActiveAlert, t: (key: string, opts?: Record<string, unknown>) => string): string {
  switch (a.rule) {
    case 'node_offline':
      return t('alerts.value.offline', { minutes: Math.round(a.value / 6) / 10 });
    case 'node_revision_lag':
      return t('overview.behind', { count: a.value });
    case 'node_journal_backlog':
      return t('overview.entries', { count: a.value });
    case 'cert_expiry':
      return a.value < 0 ? t('alerts.value.expired') : t('alerts.value.days', { count: a.value });
    default:
      return String(a.value);
  }
}

/** Fleet alerts that fired and have not resolved (sudo). */
function Alerts() {
  const { t } = useTranslation();
  const alerts = useAlerts();
  const list = alerts.data?.alerts ?? [];
  return (
    <Card withBorder component="section" aria-label={t('alerts.title')}>
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={3} size="h5">
            {t('alerts.title')}
          </Title>
          {list.length > 0 && (
            <Badge color="red" data-alerts-active={list.length}>
              {list.length}
            </Badge>
          )}
        </Group>
        {alerts.isError && <PageError error={alerts.error} onRetry={() => void alerts.refetch()} />}
        {alerts.isSuccess && list.length === 0 && <Empty>{t('alerts.none')}</Empty>}
        {list.length > 0 && (
          <Table className="cards-on-phone" verticalSpacing="xs">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('alerts.rule')}</Table.Th>
                <Table.Th>{t('alerts.target')}</Table.Th>
                <Table.Th>{t('alerts.value.label')}</Table.Th>
                <Table.Th>{t('alerts.since')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.map((a) => (
                <Table.Tr key={`${a.rule}/${a.subject}`} data-alert={a.rule} data-subject={a.subject} title={a.message}>
                  <Table.Td data-label={t('alerts.rule')}>
                    <Badge variant="light" color="red">
                      {t(`alerts.rules.${a.rule}`, { defaultValue: a.rule })}
                    </Badge>
                  </Table.Td>
                  <Table.Td data-label={t('alerts.target')}>
                    {a.subject.startsWith('node:') ? <Link to="/nodes">{a.target}</Link> : a.target}
                  </Table.Td>
                  <Table.Td data-label={t('alerts.value.label')}>{alertValue(a, t)}</Table.Td>
                  <Table.Td data-label={t('alerts.since')}>{timeAgo(a.since)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Card>
  );
}

function Nodes({ nodes }: { nodes: NonNullable<Overview['nodes']> }) {
  const { t } = useTranslation();
  return (
    <Card withBorder component="section" aria-label={t('nav.nodes')}>
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={3} size="h5">
            {t('nav.nodes')}
          </Title>
          <Text size="sm" data-nodes-up={nodes.up} data-nodes-down={nodes.down}>
            {t('overview.nodesUpDown', { up: nodes.up, down: nodes.down })}
          </Text>
        </Group>
        {nodes.nodes.length === 0 ? (
          <Empty>{t('nodes.empty')}</Empty>
        ) : (
          <Table className="cards-on-phone" verticalSpacing="xs">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('nodes.name')}</Table.Th>
                <Table.Th>{t('nodes.col.status')}</Table.Th>
                <Table.Th>{t('overview.lag')}</Table.Th>
                <Table.Th>{t('overview.backlog')}</Table.Th>
                <Table.Th>{t('nodes.col.versions')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {nodes.nodes.map((n) => (
                <Table.Tr key={n.id} data-node={n.name}>
                  <Table.Td data-label={t('nodes.name')}>
                    <Link to="/nodes">{n.name}</Link>
                  </Table.Td>
                  <Table.Td data-label={t('nodes.col.status')}>
                    <Stack gap={2} align="flex-start">
                      <Badge variant="light" color={statusColors[n.status] ?? 'gray'}>
                        {t(`nodes.status.${n.status}`)}
                      </Badge>
                      <Text size="xs" c="dimmed">
                        {t('nodes.lastSeen', { when: timeAgo(n.last_seen) })}
                      </Text>
                    </Stack>
                  </Table.Td>
                  <Table.Td data-label={t('overview.lag')} data-field="lag">
                    {n.revision_lag === 0 ? t('overview.upToDate') : t('overview.behind', { count: n.revision_lag })}
                  </Table.Td>
                  <Table.Td data-label={t('overview.backlog')} data-field="backlog">
                    {n.journal_backlog === null ? '—' : t('overview.entries', { count: n.journal_backlog })}
                  </Table.Td>
                  <Table.Td data-label={t('nodes.col.versions')}>
                    <Text size="xs">
                      Xray {n.xray_version ?? '—'} · {t('nodes.agent')} {n.agent_version ?? '—'}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Card>
  );
}

/** The first page: users by status, online now, traffic, nodes up and down, the panel. Kept light: it is in the first chunk. */
export function OverviewPage() {
  const { t } = useTranslation();
  const overview = useOverview();
  const me = useCurrentAdmin(true);
  if (overview.isPending) {
    return <PageLoading />;
  }
  if (overview.isError) {
    return <PageError error={overview.error} onRetry={() => void overview.refetch()} />;
  }
  const o = overview.data;
  return (
    <Page title={t('nav.overview')}>
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 4 }} component="section" aria-label={t('overview.usersByStatus')}>
        <Stat field="total" label={t('overview.users')} value={formatCount(o.users.total)} to="/users" />
        <Stat field="online" label={t('overview.online')} value={formatCount(o.users.online)} />
        {(['active', 'on_hold', 'disabled', 'limited', 'expired'] as const).map((st) => (
          <Stat key={st} field={st} label={t(`status.${st}`)} value={formatCount(o.users[st])} to={`/users?status=${st}`} />
        ))}
      </SimpleGrid>
      {me.data && <MyCaps admin={me.data} />}
      <Traffic traffic={o.traffic} />
      {o.nodes && <Alerts />}
      {o.nodes && <Nodes nodes={o.nodes} />}
      <Text size="xs" c="dimmed" data-panel-version={o.version}>
        {t('overview.version', { version: o.version })} · {t('overview.revision', { revision: o.revision })} ·{' '}
        {o.replicas === null ? t('overview.replicasUnknown') : t('overview.replicas', { count: o.replicas })}
      </Text>
    </Page>
  );
}
