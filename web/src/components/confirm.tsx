import { Text } from '@mantine/core';
import { modals } from '@mantine/modals';
import i18n from '../i18n';

/** Asks before something that cannot be undone; runs `action` on yes. */
export function confirmThen(message: string, action: () => void, confirmLabel = i18n.t('common.confirm')): void {
  modals.openConfirmModal({
    title: i18n.t('common.areYouSure'),
    children: <Text size="sm">{message}</Text>,
    labels: { confirm: confirmLabel, cancel: i18n.t('common.cancel') },
    confirmProps: { color: 'red' },
    closeButtonProps: { 'aria-label': i18n.t('common.close') },
    onConfirm: action,
  });
}
