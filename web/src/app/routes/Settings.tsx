import { Alert, Button, Card, Checkbox, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { systemRequests, useNotifications, useSubscriptionSettings, type SubscriptionSettings } from '../../features/system/api';
import { keys } from '../../lib/queryKeys';

function SubscriptionForm({ settings }: { settings: SubscriptionSettings }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [title, setTitle] = useState(settings.profile_title ?? '');
  const [support, setSupport] = useState(settings.support_url ?? '');
  const [interval, setInterval] = useState(String(settings.profile_update_interval ?? ''));
  const [noHtml, setNoHtml] = useState(settings.disable_html_page ?? false);
  const save = useMutation({
    mutationFn: () => {
      const hours = interval.trim() === '' ? 0 : Number(interval);
      if (!Number.isInteger(hours) || hours < 0) {
        throw new Error(t('settings.errInterval'));
      }
      return systemRequests.putSubscriptionSettings({ ...settings, profile_title: title, support_url: support, profile_update_interval: hours, disable_html_page: noHtml });
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: keys.subscriptionSettings });
    },
  });
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <form aria-label={t('settings.subscription')} onSubmit={submit}>
      <Stack gap="sm">
        <TextInput label={t('settings.profileTitle')} value={title} onChange={(e) => { setTitle(e.currentTarget.value); }} />
        <TextInput label={t('settings.supportUrl')} value={support} onChange={(e) => { setSupport(e.currentTarget.value); }} />
        <TextInput label={t('settings.interval')} inputMode="numeric" value={interval} onChange={(e) => { setInterval(e.currentTarget.value); }} />
        <Checkbox label={t('settings.noHtml')} checked={noHtml} onChange={(e) => { setNoHtml(e.currentTarget.checked); }} />
        <Text size="xs" c="dimmed">
          {t('settings.rules', { count: settings.rules?.length ?? 0 })}
        </Text>
        {save.error && (
          <Alert color="red" role="alert">
            {save.error.message}
          </Alert>
        )}
        <ActionStatus message={save.isSuccess ? t('settings.saved') : null} />
        <Group>
          <Button type="submit" loading={save.isPending}>
            {t('common.save')}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function SettingsPage() {
  const { t } = useTranslation();
  const notifications = useNotifications();
  const sub = useSubscriptionSettings();
  const targets = notifications.data?.targets ?? [];
  return (
    <Page title={t('nav.settings')}>
      <Card withBorder component="section" aria-label={t('settings.notifications')}>
        <Group justify="space-between" mb="sm">
          <Title order={3} size="h5">
            {t('settings.notifications')}
          </Title>
          <Button size="xs" variant="default" onClick={() => void notifications.refetch()}>
            {t('common.refresh')}
          </Button>
        </Group>
        {notifications.isPending && <PageLoading />}
        {notifications.isError && <PageError error={notifications.error} onRetry={() => void notifications.refetch()} />}
        {notifications.isSuccess && targets.length === 0 && <Empty>{t('settings.noTargets')}</Empty>}
        {targets.length > 0 && (
          <Table className="cards-on-phone" verticalSpacing="xs">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('settings.target')}</Table.Th>
                <Table.Th>{t('settings.pending')}</Table.Th>
                <Table.Th>{t('settings.retrying')}</Table.Th>
                <Table.Th>{t('settings.failed')}</Table.Th>
                <Table.Th>{t('settings.lastError')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {targets.map((x) => (
                <Table.Tr key={`${x.kind}/${x.target}`} data-target={x.target}>
                  <Table.Td data-label={t('settings.target')}>{x.target}</Table.Td>
                  <Table.Td data-label={t('settings.pending')}>{x.pending}</Table.Td>
                  <Table.Td data-label={t('settings.retrying')} data-field="retrying">
                    {x.retrying}
                  </Table.Td>
                  <Table.Td data-label={t('settings.failed')}>{x.failed}</Table.Td>
                  <Table.Td data-label={t('settings.lastError')} data-field="last-error">
                    {x.last_error || '—'}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
      <Card withBorder component="section" aria-label={t('settings.subscription')}>
        <Title order={3} size="h5" mb="sm">
          {t('settings.subscription')}
        </Title>
        {sub.isPending && <PageLoading />}
        {sub.isError && <PageError error={sub.error} onRetry={() => void sub.refetch()} />}
        {sub.isSuccess && <SubscriptionForm settings={sub.data} />}
      </Card>
    </Page>
  );
}
