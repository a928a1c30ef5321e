import { Button, Center, Stack } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { useRouteError } from 'react-router';
import { PageError } from '../../components/PageState';

/** A page that failed to load (a chunk missing after an upgrade, say). */
export function RouteError() {
  const { t } = useTranslation();
  const error = useRouteError();
  return (
    <Center p="xl">
      <Stack>
        <PageError error={error} />
        <Button
          onClick={() => {
            window.location.reload();
          }}
        >
          {t('common.reload')}
        </Button>
      </Stack>
    </Center>
  );
}
