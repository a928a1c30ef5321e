import { Alert, Badge, Button, Code, Group, Paper, PasswordInput, Stack, Table, Text, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type ReactNode, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Copy } from '../../components/CopyQr';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { backupRequests, useBackups, type BackupSchedule, type ScheduledBackup } from '../../features/backups/api';
import { formatBytes, formatDuration, formatTime } from '../../lib/format';
import { keys } from '../../lib/queryKeys';

/** Backups (sudo): a fresh download, the scheduled ones, and how to restore. */
export function BackupsPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const backups = useBackups();
  const [message, setMessage] = useState<string | null>(null);
  const refresh = () => client.invalidateQueries({ queryKey: keys.backups });
  const runNow = useMutation({
    mutationFn: backupRequests.runNow,
    onSuccess: (answer) => {
      void refresh();
      setMessage(answer.telegram_error ? t('backups.takenTelegramFailed', { name: answer.backup.name, error: answer.telegram_error }) : t('backups.taken', { name: answer.backup.name }));
    },
  });
  const enabled = backups.data?.enabled ?? false;
  const actions = (
    <>
      <Button variant="default" onClick={() => void backups.refetch()} loading={backups.isFetching}>
        {t('common.refresh')}
      </Button>
      {enabled && (
        <Button onClick={() => { setMessage(null); runNow.mutate(); }} loading={runNow.isPending}>
          {t('backups.runNow')}
        </Button>
      )}
    </>
  );
  return (
    <Page title={t('backups.title')} actions={actions}>
      <ActionStatus message={message} />
      {runNow.error && (
        <Alert color="red" role="alert">
          {runNow.error.message}
        </Alert>
      )}
      <FreshBackup onDone={setMessage} />
      {backups.isPending ? (
        <PageLoading />
      ) : backups.isError ? (
        <PageError error={backups.error} onRetry={() => void backups.refetch()} />
      ) : (
        <>
          <Section title={t('backups.scheduleTitle')}>
            {backups.data.status ? (
              <Schedule status={backups.data.status} />
            ) : (
              <Alert color="blue" role="note">
                {t('backups.off')}
              </Alert>
            )}
          </Section>
          {backups.data.enabled && <ScheduledList files={backups.data.backups} onDone={setMessage} />}
          <Section title={t('backups.restoreTitle')}>
            <Text size="sm">{t('backups.restoreHint')}</Text>
            <Group gap="xs" wrap="nowrap" align="flex-start">
              <Code block dir="ltr" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all', flex: 1 }} data-testid="restore-command">
                {backups.data.restore.command}
              </Code>
              <Copy value={backups.data.restore.command} label={t('backups.restoreCommand')} />
            </Group>
          </Section>
        </>
      )}
    </Page>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Paper withBorder p="md" component="section" aria-label={title}>
      <Stack gap="sm">
        <Title order={3} size="h4">
          {title}
        </Title>
        {children}
      </Stack>
    </Paper>
  );
}

/** A fresh backup straight from the database, optionally sealed. */
function FreshBackup({ onDone }: { onDone: (message: string) => void }) {
  const { t } = useTranslation();
  const [passphrase, setPassphrase] = useState('');
  const fresh = useMutation({
    mutationFn: () => backupRequests.downloadFresh(passphrase),
    onSuccess: (name) => { onDone(t('backups.downloaded', { name })); },
  });
  const short = passphrase !== '' && Array.from(passphrase).length < 8;
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    if (!short) {
      fresh.mutate();
    }
  }
  return (
    <Section title={t('backups.freshTitle')}>
      <Text size="sm">{t('backups.freshHint')}</Text>
      <form onSubmit={submit} aria-label={t('backups.freshTitle')}>
        <Group align="flex-end" gap="sm">
          <PasswordInput
            label={t('backups.passphrase')}
            description={t('backups.passphraseHint')}
            value={passphrase}
            onChange={(e) => { setPassphrase(e.currentTarget.value); }}
            error={short ? t('backups.passphraseShort') : undefined}
            autoComplete="new-password"
            style={{ flex: 1, minInlineSize: '14rem' }}
            visibilityToggleButtonProps={{ 'aria-label': t('common.togglePassword') }}
          />
          <Button type="submit" loading={fresh.isPending}>
            {t('backups.download')}
          </Button>
        </Group>
      </form>
      {fresh.error && (
        <Alert color="red" role="alert">
          {fresh.error.message}
        </Alert>
      )}
    </Section>
  );
}

function Schedule({ status }: { status: BackupSchedule }) {
  const { t } = useTranslation();
  const rows: [string, ReactNode][] = [
    [t('backups.dir'), <Code key="dir" dir="ltr">{status.dir}</Code>],
    [t('backups.every'), formatDuration(status.every_seconds * 1000)],
    [t('backups.keep'), String(status.keep)],
    [t('backups.encryption'), status.encrypted ? t('backups.encryptedYes') : t('backups.encryptedNo')],
    [t('backups.telegram'), status.telegram ? t('backups.telegramOn') : t('backups.telegramOff')],
    [t('backups.nextRun'), formatTime(status.next_run)],
    [t('backups.lastRun'), status.last_run ? formatTime(status.last_run) : t('common.never')],
  ];
  return (
    <Stack gap="xs">
      <Table variant="vertical" withTableBorder layout="fixed" data-testid="backup-schedule">
        <Table.Tbody>
          {rows.map(([label, value]) => (
            <Table.Tr key={label}>
              <Table.Th w="40%">{label}</Table.Th>
              <Table.Td>{value}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {status.last_error !== '' && (
        <Alert color="red" title={t('backups.lastError')} role="alert">
          {status.last_error_at ? `${formatTime(status.last_error_at)}: ` : ''}
          {status.last_error}
        </Alert>
      )}
      <Text size="xs" c="dimmed">
        {status.leader ? t('backups.leader') : t('backups.notLeader')}
      </Text>
    </Stack>
  );
}

function ScheduledList({ files, onDone }: { files: ScheduledBackup[]; onDone: (message: string) => void }) {
  const { t } = useTranslation();
  const fetchOne = useMutation({
    mutationFn: backupRequests.downloadScheduled,
    onSuccess: (name) => { onDone(t('backups.downloaded', { name })); },
  });
  return (
    <Section title={t('backups.listTitle')}>
      {fetchOne.error && (
        <Alert color="red" role="alert">
          {fetchOne.error.message}
        </Alert>
      )}
      {files.length === 0 ? (
        <Empty>{t('backups.none')}</Empty>
      ) : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('backups.name')}</Table.Th>
                <Table.Th>{t('backups.taken_at')}</Table.Th>
                <Table.Th>{t('backups.size')}</Table.Th>
                <Table.Th>{t('backups.encryption')}</Table.Th>
                <Table.Th>
                  <VisuallyHidden>{t('backups.download')}</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {files.map((f) => (
                <Table.Tr key={f.name} data-backup={f.name}>
                  <Table.Td dir="ltr" style={{ wordBreak: 'break-all' }}>
                    {f.name}
                  </Table.Td>
                  <Table.Td>{formatTime(f.created_at)}</Table.Td>
                  <Table.Td>{formatBytes(f.size)}</Table.Td>
                  <Table.Td>
                    <Badge variant="light" color={f.encrypted ? 'teal' : 'gray'}>
                      {f.encrypted ? t('backups.encryptedYes') : t('backups.encryptedNo')}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    <Button
                      size="xs"
                      variant="light"
                      aria-label={t('backups.downloadOne', { name: f.name })}
                      loading={fetchOne.isPending && fetchOne.variables === f.name}
                      onClick={() => { fetchOne.mutate(f.name); }}
                    >
                      {t('backups.download')}
                    </Button>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Section>
  );
}
