import { Alert, Button, Group, Text } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { JsonEditor, parseJsonObject } from '../../components/JsonEditor';
import { ActionStatus, Page, PageError, PageLoading } from '../../components/PageState';
import { coreRequests, useCoreConfig } from '../../features/core/api';
import { keys } from '../../lib/queryKeys';

/** The Xray config every node runs: edited as JSON, checked by the panel with Xray's own builder on save. */
export function CoreConfigPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const config = useCoreConfig();
  const [text, setText] = useState<string | null>(null);
  const shown = text ?? (config.data ? JSON.stringify(config.data, null, 2) : '');
  const save = useMutation({
    mutationFn: () => coreRequests.putConfig(parseJsonObject(shown, t('json.notJson'))),
    onSuccess: () => {
      setText(null);
      void client.invalidateQueries({ queryKey: keys.coreConfig });
      void client.invalidateQueries({ queryKey: keys.inbounds });
    },
  });
  return (
    <Page title={t('nav.core')}>
      <Text size="sm" c="dimmed">
        {t('core.hint')}
      </Text>
      {config.isPending && <PageLoading />}
      {config.isError && <PageError error={config.error} onRetry={() => void config.refetch()} />}
      {config.isSuccess && (
        <>
          <JsonEditor value={shown} onChange={(v) => { save.reset(); setText(v); }} label={t('core.editor')} />
          {save.error && (
            <Alert color="red" role="alert" title={t('core.refused')}>
              <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>
                {save.error.message}
              </Text>
            </Alert>
          )}
          <ActionStatus message={save.isSuccess ? t('core.saved') : null} />
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
