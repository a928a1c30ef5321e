import { Alert, Button, Group, Modal } from '@mantine/core';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

/**
 * The end of an editor form (admins, nodes, templates, users): the save
 * error, then Cancel and Save (an existing row) or Create (a new one).
 */
export function FormActions({ error, pending, existing, onCancel }: { error?: string | null; pending: boolean; existing: boolean; onCancel: () => void }) {
  const { t } = useTranslation();
  return (
    <>
      {error && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      <Group justify="flex-end">
        <Button variant="default" onClick={onCancel}>
          {t('common.cancel')}
        </Button>
        <Button type="submit" loading={pending}>
          {existing ? t('common.save') : t('common.create')}
        </Button>
      </Group>
    </>
  );
}

/**
 * The modal a list page edits a row in: open while editing is set (the
 * row, or a new one), its title and form made from it; closing calls
 * onClose, which clears editing.
 */
export function EditorModal<E>({ editing, onClose, title, children }: { editing: E | null; onClose: () => void; title: (editing: E) => string; children: (editing: E) => ReactNode }) {
  const { t } = useTranslation();
  return (
    <Modal closeButtonProps={{ 'aria-label': t('common.close') }} opened={editing !== null} onClose={onClose} title={editing !== null ? title(editing) : undefined}>
      {editing !== null && children(editing)}
    </Modal>
  );
}
