import { Alert, Button, Group, Modal, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { confirmThen } from '../../../components/confirm';
import { userRequests, useUserMutation } from '../api';

const epoch = new Date(0);
const shownNames = 20;

/**
 * Deletes the users that ran out (expired, or limited) at least N days ago,
 * as Marzban's DELETE /api/users/expired does: first the list, then the
 * deletion of exactly that range, in one transaction.
 */
export function CleanupModal({ opened, onClose, onDeleted }: { opened: boolean; onClose: () => void; onDeleted: (text: string) => void }) {
  const { t } = useTranslation();
  const [days, setDays] = useState('30');
  const find = useMutation({
    mutationFn: async () => {
      const n = days.trim() === '' ? 0 : Number(days);
      if (!Number.isInteger(n) || n < 0) {
        throw new Error(t('cleanup.errDays'));
      }
      const before = new Date(Date.now() - n * 86400_000);
      return { names: await userRequests.expired(epoch, before), before };
    },
  });
  const remove = useUserMutation((before: Date) => userRequests.deleteExpired(epoch, before));
  const found = find.data;
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    remove.reset();
    find.mutate();
  }
  return (
    <Modal closeButtonProps={{ 'aria-label': t('common.close') }} opened={opened} onClose={onClose} title={t('cleanup.title')}>
      <form aria-label={t('cleanup.title')} onSubmit={submit}>
        <Stack gap="sm">
          <TextInput
            label={t('cleanup.days')}
            inputMode="numeric"
            value={days}
            onChange={(e) => {
              setDays(e.currentTarget.value);
            }}
          />
          {find.error && (
            <Alert color="red" role="alert">
              {find.error.message}
            </Alert>
          )}
          {found && found.names.length === 0 && <Text size="sm">{t('cleanup.none')}</Text>}
          {found && found.names.length > 0 && (
            <Text size="sm" role="status" aria-label={t('cleanup.found')}>
              {t('cleanup.list', { count: found.names.length, names: found.names.slice(0, shownNames).join(', ') + (found.names.length > shownNames ? ' …' : '') })}
            </Text>
          )}
          {remove.error && (
            <Alert color="red" role="alert">
              {remove.error.message}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              {t('common.close')}
            </Button>
            <Button type="submit" variant="light" loading={find.isPending}>
              {t('cleanup.find')}
            </Button>
            {found && found.names.length > 0 && (
              <Button
                color="red"
                loading={remove.isPending}
                onClick={() => {
                  confirmThen(t('cleanup.confirm', { count: found.names.length }), () => {
                    remove.mutate(found.before, {
                      onSuccess: (deleted) => {
                        find.reset();
                        onDeleted(t('cleanup.deleted', { count: deleted.length }));
                      },
                    });
                  });
                }}
              >
                {t('cleanup.delete', { count: found.names.length })}
              </Button>
            )}
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
