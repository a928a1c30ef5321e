import { Badge, Button, Card, Group, Table, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { confirmThen } from '../../components/confirm';
import { Copy } from '../../components/CopyQr';
import { Empty, PageError, PageLoading } from '../../components/PageState';
import { formatBytes, timeAgo } from '../../lib/format';
import { deviceLabel, useDevices, useRemoveDevice, useRenameDevice, type Device } from './api';
import { shortCredential } from './perDevice';

/** A device's own UUID or password: its start and end, the whole in a tooltip, a copy button. */
function Credential({ value, device }: { value: string; device: string }) {
  const { t } = useTranslation();
  if (value === '') {
    return (
      <Text size="sm" c="dimmed">
        {t('devices.noCredential')}
      </Text>
    );
  }
  return (
    <Group gap="xs" wrap="nowrap">
      <Tooltip label={value} events={{ hover: true, focus: true, touch: true }}>
        <Text size="sm" ff="monospace" dir="ltr" tabIndex={0} data-testid="credential">
          {shortCredential(value)}
        </Text>
      </Tooltip>
      <Copy value={value} label={t('devices.credentialOf', { name: device })} />
    </Group>
  );
}

/**
 * The user's devices (HWIDs that fetched its subscription): rename,
 * remove. With credentials per device, also each device's traffic and
 * its own credential, to match a leaked link to the device it came from.
 */
export function DevicesCard({ username }: { username: string }) {
  const { t } = useTranslation();
  const devices = useDevices(username);
  const rename = useRenameDevice(username);
  const remove = useRemoveDevice(username);
  // The name being typed for one device; the list itself is the query's.
  const [editing, setEditing] = useState<{ id: number; name: string } | null>(null);
  const list = devices.data?.devices ?? [];
  const accepted = list.filter((d) => !d.refused).length;
  const limit = devices.data?.limit ?? 0;
  const perDevice = devices.data?.per_device ?? false;
  const name = (d: Device) => deviceLabel(d) ?? t('devices.unknown');

  return (
    <Card withBorder component="section" aria-label={t('devices.title')}>
      <Group justify="space-between" mb="sm">
        <Title order={3} size="h5">
          {t('devices.title')}
        </Title>
        {devices.isSuccess && (
          <Group gap="xs">
            <Badge size="sm" variant="light" color={perDevice ? 'teal' : 'gray'} data-testid="credential-mode" data-per-device={String(perDevice)}>
              {perDevice ? t('devices.modeOwn') : t('devices.modeShared')}
            </Badge>
            <Text size="sm" c="dimmed" data-testid="device-count">
              {limit > 0 ? t('devices.countOf', { count: accepted, limit }) : t('devices.countUnlimited', { count: accepted })}
            </Text>
          </Group>
        )}
      </Group>
      {devices.isPending && <PageLoading />}
      {devices.isError && <PageError error={devices.error} onRetry={() => void devices.refetch()} />}
      {rename.isError && <PageError error={rename.error} />}
      {remove.isError && <PageError error={remove.error} />}
      {devices.isSuccess && list.length === 0 && <Empty>{t('devices.none')}</Empty>}
      {list.length > 0 && (
        <Table.ScrollContainer minWidth={perDevice ? 820 : 520}>
          <Table data-testid="devices">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('devices.name')}</Table.Th>
                <Table.Th>{t('devices.system')}</Table.Th>
                <Table.Th>{t('devices.lastSeen')}</Table.Th>
                {perDevice && <Table.Th>{t('devices.traffic')}</Table.Th>}
                {perDevice && <Table.Th>{t('devices.credential')}</Table.Th>}
                <Table.Th>{t('devices.actions')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.map((d) => (
                <Table.Tr key={d.id} data-device={d.hwid || 'unknown'}>
                  <Table.Td>
                    {editing?.id === d.id ? (
                      <form
                        aria-label={t('devices.renameForm', { name: name(d) })}
                        onSubmit={(e) => {
                          e.preventDefault();
                          rename.mutate({ id: d.id, name: editing.name }, { onSuccess: () => { setEditing(null); } });
                        }}
                      >
                        <Group gap="xs" wrap="nowrap">
                          <TextInput
                            size="xs"
                            aria-label={t('devices.newName')}
                            value={editing.name}
                            maxLength={64}
                            onChange={(e) => { setEditing({ id: d.id, name: e.currentTarget.value }); }}
                          />
                          <Button size="xs" type="submit" loading={rename.isPending}>
                            {t('common.save')}
                          </Button>
                        </Group>
                      </form>
                    ) : (
                      <Group gap={6} wrap="nowrap">
                        <Text size="sm">{name(d)}</Text>
                        {d.refused && (
                          <Badge size="xs" color="red" variant="light">
                            {t('devices.refused')}
                          </Badge>
                        )}
                      </Group>
                    )}
                    <Text size="xs" c="dimmed" dir="ltr">
                      {d.hwid ? `${d.hwid.slice(0, 8)}…` : t('devices.noHwid')}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{[d.model && d.name ? d.model : '', d.os, d.os_version].filter(Boolean).join(' ') || '—'}</Text>
                    <Text size="xs" c="dimmed" dir="ltr" lineClamp={1}>
                      {d.user_agent}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{timeAgo(d.last_seen)}</Text>
                    <Text size="xs" c="dimmed">
                      {t('devices.fetches', { count: d.fetch_count })}
                    </Text>
                  </Table.Td>
                  {perDevice && (
                    <Table.Td data-testid="device-traffic">
                      <Text size="sm" dir="ltr">
                        {formatBytes(d.used_traffic)}
                      </Text>
                    </Table.Td>
                  )}
                  {perDevice && (
                    <Table.Td>
                      <Credential value={d.credential} device={name(d)} />
                    </Table.Td>
                  )}
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap">
                      <Button size="xs" variant="default" onClick={() => { setEditing({ id: d.id, name: d.name }); }}>
                        {t('devices.rename')}
                      </Button>
                      <Button
                        size="xs"
                        color="red"
                        variant="light"
                        onClick={() => {
                          const message = perDevice ? t('devices.removeConfirmPerDevice', { name: name(d) }) : t('devices.removeConfirm', { name: name(d) });
                          confirmThen(message, () => { remove.mutate(d.id); }, t('devices.remove'));
                        }}
                      >
                        {t('devices.remove')}
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Card>
  );
}
