import { Alert, Button, Group, Text } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { JsonEditor, parseJsonObject } from '../../components/JsonEditor';
import { ActionStatus, Page, PageError, PageLoading } from '../../components/PageState';
import { coreRequests, useHosts, type Hosts } from '../../features/core/api';
import { keys } from '../../lib/queryKeys';

/** The hosts subscription links use, per inbound tag (Marzban's PUT /api/hosts), as JSON. */
export function HostsPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const hosts = useHosts();
  const [text, setText] = useState<string | null>(null);
  const shown = text ?? (hosts.data ? JSON.stringify(hosts.data, null, 2) : '');
  const save = useMutation({
    mutationFn: () => coreRequests.putHosts(parseJsonObject(shown, t('json.notJson')) as Hosts),
    onSuccess: () => {
      setText(null);
      void client.invalidateQueries({ queryKey: keys.hosts });
      void client.invalidateQueries({ queryKey: keys.users });
      void client.invalidateQueries({ queryKey: ['user'] });
    },
  });
  return (
    <Page title={t('nav.hosts')}>
      <Text size="sm" c="dimmed">
        {t('hosts.hint')}
      </Text>
      {hosts.isPending && <PageLoading />}
      {hosts.isError && <PageError error={hosts.error} onRetry={() => void hosts.refetch()} />}
      {hosts.isSuccess && (
        <>
          <JsonEditor value={shown} onChange={(v) => { save.reset(); setText(v); }} label={t('hosts.editor')} />
          {save.error && (
            <Alert color="red" role="alert">
              {save.error.message}
            </Alert>
          )}
          <ActionStatus message={save.isSuccess ? t('hosts.saved') : null} />
          <Group>
            <Button loading={save.isPending} onClick={() => { save.mutate(); }}>
              {t('common.save')}
            </Button>
            <Button variant="default" disabled={text === null} onClick={() => { save.reset(); setText(null); }}>
              {t('core.discard')}
            </Button>
          </Group>
        </>
      )}
    </Page>
  );
}
