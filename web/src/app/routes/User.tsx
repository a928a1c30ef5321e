import { BarChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { Anchor, Badge, Card, Group, NativeSelect, Pagination, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useParams, useSearchParams } from 'react-router';
import { CopyQrRow } from '../../components/CopyQr';
import { Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { DevicesCard } from '../../features/devices/DevicesCard';
import { resetsPageSize, useUser, useUserDaily, useUserIPs, useUserResets, useUserUsage } from '../../features/users/api';
import { StatusBadge } from '../../features/users/components/StatusBadge';
import { formatBytes, formatDate, formatDay, formatTime, timeAgo } from '../../lib/format';

/** How recently a user must have been seen to count as online (the panel's OnlineWindow). */
const onlineWindowMs = 2 * 60_000;

/** Online when seen within the panel's window. */
export function isOnline(onlineAt: string | null | undefined, now = Date.now()): boolean {
  if (onlineAt == null) {
    return false;
  }
  const seen = new Date(onlineAt).getTime();
  return !Number.isNaN(seen) && now - seen < onlineWindowMs;
}

/** The user's usage resets, newest first, a page at a time; the page is in the URL (?resets=2). */
function ResetHistory({ username }: { username: string }) {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number(params.get('resets')) || 1);
  const resets = useUserResets(username, page - 1);
  const total = resets.data?.total ?? 0;
  return (
    <Card withBorder component="section" aria-label={t('user.resets')}>
      <Title order={3} size="h5" mb="sm">
        {t('user.resets')}
      </Title>
      {resets.isPending && <PageLoading />}
      {resets.isError && <PageError error={resets.error} onRetry={() => void resets.refetch()} />}
      {resets.isSuccess && total === 0 && <Empty>{t('user.noResets')}</Empty>}
      {resets.data && resets.data.resets.length > 0 && (
        <Table data-testid="resets">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('user.resetAt')}</Table.Th>
              <Table.Th>{t('user.usedAtReset')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {resets.data.resets.map((r, i) => (
              <Table.Tr key={`${r.reset_at}:${String(i)}`} data-used={r.used_traffic_at_reset}>
                <Table.Td>{formatTime(r.reset_at)}</Table.Td>
                <Table.Td dir="ltr">{formatBytes(r.used_traffic_at_reset)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {total > resetsPageSize && (
        <Pagination
          mt="sm"
          size="sm"
          total={Math.ceil(total / resetsPageSize)}
          value={page}
          onChange={(p) => {
            const next = new URLSearchParams(params);
            next.set('resets', String(p));
            setParams(next, { replace: true });
          }}
          getControlProps={(control) => ({ 'aria-label': t(`user.page.${control}`) })}
          getItemProps={(p) => ({ 'aria-label': t('user.page.number', { n: p }) })}
        />
      )}
    </Card>
  );
}

/** The distinct source addresses of the last 24 hours, with the node that saw each last. */
function Addresses({ username }: { username: string }) {
  const { t } = useTranslation();
  const ips = useUserIPs(username);
  const list = ips.data?.ips ?? [];
  return (
    <Card withBorder component="section" aria-label={t('user.addresses')}>
      <Title order={3} size="h5" mb="sm">
        {t('user.addresses')}
      </Title>
      {ips.isPending && <PageLoading />}
      {ips.isError && <PageError error={ips.error} onRetry={() => void ips.refetch()} />}
      {ips.isSuccess && list.length === 0 && <Empty>{t('user.noAddresses')}</Empty>}
      {list.length > 0 && (
        <Table className="cards-on-phone" data-testid="addresses">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('user.address')}</Table.Th>
              <Table.Th>{t('user.node')}</Table.Th>
              <Table.Th>{t('user.lastSeen')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.map((ip) => (
              <Table.Tr key={ip.ip} data-ip={ip.ip}>
                <Table.Td data-label={t('user.address')} dir="ltr">
                  {ip.ip}
                </Table.Td>
                <Table.Td data-label={t('user.node')}>{ip.node || '—'}</Table.Td>
                <Table.Td data-label={t('user.lastSeen')}>{timeAgo(ip.last_seen)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

/** The last 30 UTC days, oldest first, with the bytes of each (0 for a quiet day). */
export function last30Days(days: { date: string; used_traffic: number }[], now = new Date()): { day: string; bytes: number }[] {
  const byDay = new Map(days.map((d) => [d.date, d.used_traffic]));
  const out: { day: string; bytes: number }[] = [];
  for (let i = 29; i >= 0; i--) {
    const day = new Date(now.getTime() - i * 86400_000).toISOString().slice(0, 10);
    out.push({ day, bytes: byDay.get(day) ?? 0 });
  }
  return out;
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" fw={500}>
        {children}
      </Text>
    </div>
  );
}

export function UserPage() {
  const { t } = useTranslation();
  const username = useParams().username ?? '';
  const user = useUser(username);
  const daily = useUserDaily(username);
  const [period, setPeriod] = useState('30');
  const usage = useUserUsage(username, Number(period));

  if (user.isPending) {
    return <PageLoading />;
  }
  if (user.isError) {
    return <PageError error={user.error} onRetry={() => void user.refetch()} />;
  }
  const u = user.data;
  const days = last30Days(daily.data?.days ?? []);
  const nodes = usage.data?.usages ?? [];
  return (
    <Page
      title={u.username}
      actions={
        <Anchor component={Link} to="/users">
          {t('user.back')}
        </Anchor>
      }
    >
      <Card withBorder>
        <SimpleGrid cols={{ base: 2, sm: 4 }}>
          <Fact label={t('users.col.status')}>
            <StatusBadge status={u.status} />
          </Fact>
          <Fact label={t('user.used')}>
            <span dir="ltr">
              {formatBytes(u.used_traffic)} / {u.data_limit ? formatBytes(u.data_limit) : '∞'}
            </span>
          </Fact>
          <Fact label={t('user.lifetime')}>{formatBytes(u.lifetime_used_traffic)}</Fact>
          <Fact label={t('users.col.expires')}>{u.expire ? formatDate(u.expire) : t('common.never')}</Fact>
          <Fact label={t('users.col.online')}>
            <Group gap={6} wrap="nowrap" component="span">
              <Badge component="span" size="sm" variant="dot" color={isOnline(u.online_at) ? 'green' : 'gray'}>
                {isOnline(u.online_at) ? t('user.online') : t('user.offline')}
              </Badge>
              {u.online_at && timeAgo(u.online_at)}
            </Group>
          </Fact>
          <Fact label={t('user.subFetched')}>
            {u.sub_updated_at ? `${timeAgo(u.sub_updated_at)}${u.sub_last_user_agent ? ` · ${t('user.by', { client: u.sub_last_user_agent })}` : ''}` : t('common.never')}
          </Fact>
          <Fact label={t('user.created')}>{formatTime(u.created_at)}</Fact>
          <Fact label={t('users.owner')}>{u.admin?.username ?? '—'}</Fact>
          <Fact label={t('user.ipLimit')}>
            {u.ip_limit == null ? t('user.ipLimitDefault') : u.ip_limit === 0 ? '∞' : u.ip_limit}
            {u.ip_limit_until && ` · ${t('user.heldUntil', { time: formatTime(u.ip_limit_until) })}`}
          </Fact>
        </SimpleGrid>
      </Card>
      <Card withBorder component="section" aria-label={t('user.subscription')}>
        <Stack gap="xs">
          <Title order={3} size="h5">
            {t('user.subscription')}
          </Title>
          <CopyQrRow value={u.subscription_url} label={t('user.subUrl')} />
          <Title order={3} size="h5" mt="sm">
            {t('user.links')}
          </Title>
          {u.links.length === 0 && <Empty>{t(u.per_device_active ? 'user.noLinksPerDevice' : 'user.noLinks')}</Empty>}
          {u.links.map((link, i) => (
            <CopyQrRow key={link} value={link} label={t('user.link', { n: i + 1 })} />
          ))}
        </Stack>
      </Card>
      <DevicesCard username={u.username} />
      <Addresses username={u.username} />
      <ResetHistory username={u.username} />
      <Card withBorder component="section" aria-label={t('user.daily')}>
        <Title order={3} size="h5" mb="sm">
          {t('user.daily')}
        </Title>
        {daily.isPending && <PageLoading />}
        {daily.isError && <PageError error={daily.error} />}
        {daily.isSuccess && (
          <div data-testid="daily-usage" data-days={JSON.stringify(days)}>
            <BarChart
              h={220}
              data={days.map((d) => ({ day: formatDay(d.day), bytes: d.bytes }))}
              dataKey="day"
              series={[{ name: 'bytes', label: t('user.bytes'), color: 'indigo.6' }]}
              valueFormatter={formatBytes}
              yAxisProps={{ tickFormatter: formatBytes, width: 70 }}
            />
          </div>
        )}
      </Card>
      <Card withBorder component="section" aria-label={t('user.perNode')}>
        <Group justify="space-between" mb="sm">
          <Title order={3} size="h5">
            {t('user.perNode')}
          </Title>
          <NativeSelect
            aria-label={t('user.period')}
            value={period}
            onChange={(e) => {
              setPeriod(e.currentTarget.value);
            }}
            data={[
              { value: '1', label: t('user.last24h') },
              { value: '7', label: t('user.last7d') },
              { value: '30', label: t('user.last30d') },
            ]}
          />
        </Group>
        {usage.isPending && <PageLoading />}
        {usage.isError && <PageError error={usage.error} />}
        {usage.isSuccess && nodes.length === 0 && <Empty>{t('user.noUsage')}</Empty>}
        {nodes.length > 0 && (
          <>
            <BarChart
              h={180}
              data={nodes.map((n) => ({ node: n.node_name, bytes: n.used_traffic }))}
              dataKey="node"
              series={[{ name: 'bytes', label: t('user.bytes'), color: 'teal.6' }]}
              valueFormatter={formatBytes}
              yAxisProps={{ tickFormatter: formatBytes, width: 70 }}
            />
            <Table mt="sm">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('user.node')}</Table.Th>
                  <Table.Th>{t('user.used')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {nodes.map((n) => (
                  <Table.Tr key={n.node_name} data-node={n.node_name}>
                    <Table.Td>{n.node_name}</Table.Td>
                    <Table.Td data-label="Used">{formatBytes(n.used_traffic)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </>
        )}
      </Card>
    </Page>
  );
}
