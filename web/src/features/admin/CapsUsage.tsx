import { Badge, Card, Group, Progress, Stack, Text, Title } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { formatBytes, formatCount } from '../../lib/format';
import type { AdminWithUse } from './api';

/** Whether the admin has any reseller cap (sudo admins are never capped). */
export function hasCaps(a: AdminWithUse): boolean {
  return !a.is_sudo && (a.max_users != null || a.max_data_limit != null || a.max_used_traffic != null || a.allow_unlimited === false);
}

function Meter({ label, used, limit, show, field }: { label: string; used: number; limit: number; show: (n: number) => string; field: string }) {
  const pct = limit > 0 ? Math.min(100, (used / limit) * 100) : 100;
  const full = used >= limit;
  return (
    <Stack gap={2} data-cap={field}>
      <Group justify="space-between" gap="xs" wrap="nowrap">
        <Text size="xs">{label}</Text>
        <Text size="xs" fw={600}>
          {show(used)} / {show(limit)}
        </Text>
      </Group>
      <Progress value={pct} color={full ? 'red' : pct >= 80 ? 'yellow' : 'teal'} size="sm" aria-label={label} />
    </Stack>
  );
}

/** The admin's use of each of its caps, as meters; "No caps" when it has none. */
export function CapsUsage({ admin }: { admin: AdminWithUse }) {
  const { t } = useTranslation();
  if (!hasCaps(admin)) {
    return (
      <Text size="xs" c="dimmed">
        {admin.is_sudo ? t('caps.sudo') : t('caps.none')}
      </Text>
    );
  }
  const use = admin.caps_use;
  return (
    <Stack gap={6} miw={160}>
      {admin.max_users != null && <Meter field="max_users" label={t('caps.users')} used={use.users} limit={admin.max_users} show={formatCount} />}
      {admin.max_data_limit != null && (
        <Meter field="max_data_limit" label={t('caps.dataLimit')} used={use.data_limit} limit={admin.max_data_limit} show={formatBytes} />
      )}
      {admin.max_used_traffic != null && (
        <Meter field="max_used_traffic" label={t('caps.traffic')} used={use.used_traffic} limit={admin.max_used_traffic} show={formatBytes} />
      )}
      {admin.allow_unlimited === false && (
        <Badge variant="light" color="gray" data-cap="allow_unlimited">
          {t('caps.noUnlimited')}
        </Badge>
      )}
    </Stack>
  );
}

/** The signed-in reseller's own caps (Overview); nothing for an uncapped admin. */
export function MyCaps({ admin }: { admin: AdminWithUse }) {
  const { t } = useTranslation();
  if (!hasCaps(admin)) {
    return null;
  }
  return (
    <Card withBorder component="section" aria-label={t('caps.yours')}>
      <Stack gap="sm">
        <Title order={3} size="h5">
          {t('caps.yours')}
        </Title>
        <CapsUsage admin={admin} />
      </Stack>
    </Card>
  );
}
