import { Badge, Card, Group, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { PageError, PageLoading, Page } from '../../components/PageState';
import { useCurrentAdmin } from '../../features/admin/api';
import { useNodes } from '../../features/nodes/api';
import { useSystem } from '../../features/system/api';
import { formatBytes, formatCount } from '../../lib/format';

function Stat({ label, value, to }: { label: string; value: string; to?: string }) {
  const body = (
    <>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700}>
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

/** The first page: users by status, online now, traffic, nodes up and down. Kept light: it is in the first chunk. */
export function OverviewPage() {
  const { t } = useTranslation();
  const system = useSystem();
  const sudo = useCurrentAdmin().data?.is_sudo ?? false;
  const nodes = useNodes(sudo);
  if (system.isPending) {
    return <PageLoading />;
  }
  if (system.isError) {
    return <PageError error={system.error} onRetry={() => void system.refetch()} />;
  }
  const s = system.data;
  const list = nodes.data ?? [];
  const up = list.filter((n) => n.status === 'connected').length;
  const maxRevision = Math.max(0, ...list.map((n) => n.applied_revision));
  return (
    <Page title={t('nav.overview')}>
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 4 }}>
        <Stat label={t('overview.users')} value={formatCount(s.total_user)} to="/users" />
        <Stat label={t('overview.online')} value={formatCount(s.online_users)} />
        {(['active', 'on_hold', 'disabled', 'limited', 'expired'] as const).map((st) => (
          <Stat key={st} label={t(`status.${st}`)} value={formatCount(s[`users_${st}`])} to={`/users?status=${st}`} />
        ))}
        <Stat label={t('overview.incoming')} value={formatBytes(s.incoming_bandwidth)} />
        <Stat label={t('overview.outgoing')} value={formatBytes(s.outgoing_bandwidth)} />
      </SimpleGrid>
      {sudo && (
        <Card withBorder component="section" aria-label={t('nav.nodes')}>
          <Stack gap="xs">
            <Group justify="space-between">
              <Title order={3} size="h5">
                {t('nav.nodes')}
              </Title>
              <Text size="sm">{t('overview.nodesUp', { up, total: list.length })}</Text>
            </Group>
            {list.length === 0 && (
              <Text size="sm" c="dimmed">
                {t('nodes.empty')}
              </Text>
            )}
            <Group gap="xs">
              {list.map((n) => (
                <Badge key={n.id} variant="light" color={n.status === 'connected' ? 'teal' : 'red'} component={Link} to="/nodes" style={{ cursor: 'pointer' }}>
                  {n.name}
                  {n.applied_revision < maxRevision ? ` · ${t('overview.behind', { count: maxRevision - n.applied_revision })}` : ''}
                </Badge>
              ))}
            </Group>
          </Stack>
        </Card>
      )}
      <Text size="xs" c="dimmed">
        {t('overview.version', { version: s.version })}
      </Text>
    </Page>
  );
}
