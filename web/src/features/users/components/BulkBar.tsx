import { Button, Group, Paper, Text } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { confirmThen } from '../../../components/confirm';
import type { BulkAction } from '../api';

interface BulkBarProps {
  count: number;
  busy: boolean;
  onAction: (action: BulkAction) => void;
  onClear: () => void;
}

/** What can be done to the selected users at once. */
export function BulkBar({ count, busy, onAction, onClear }: BulkBarProps) {
  const { t } = useTranslation();
  if (count === 0) {
    return null;
  }
  const ask = (action: BulkAction) => {
    if (action === 'delete' || action === 'revoke' || action === 'reset') {
      confirmThen(t(`bulk.confirm.${action}`, { count }), () => {
        onAction(action);
      });
    } else {
      onAction(action);
    }
  };
  return (
    <Paper withBorder p="xs" role="toolbar" aria-label={t('bulk.label')}>
      <Group gap="xs" wrap="wrap">
        <Text size="sm" fw={600}>
          {t('bulk.selected', { count })}
        </Text>
        <Button size="xs" variant="light" loading={busy} onClick={() => { ask('enable'); }}>
          {t('bulk.enable')}
        </Button>
        <Button size="xs" variant="light" loading={busy} onClick={() => { ask('disable'); }}>
          {t('bulk.disable')}
        </Button>
        <Button size="xs" variant="light" loading={busy} onClick={() => { ask('reset'); }}>
          {t('bulk.reset')}
        </Button>
        <Button size="xs" variant="light" loading={busy} onClick={() => { ask('revoke'); }}>
          {t('bulk.revoke')}
        </Button>
        <Button size="xs" variant="light" color="red" loading={busy} onClick={() => { ask('delete'); }}>
          {t('bulk.delete')}
        </Button>
        <Button size="xs" variant="subtle" onClick={onClear}>
          {t('bulk.clear')}
        </Button>
      </Group>
    </Paper>
  );
}
