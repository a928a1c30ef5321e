import { Alert, Badge, Button, Drawer, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { JsonDiff, diffText } from '../../components/JsonDiff';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { useCurrentAdmin } from '../../features/admin/api';
import { exportAudit, useAudit, type AuditEntry, type AuditFilter } from '../../features/audit/api';

const filterNames = ['admin', 'target', 'action', 'since', 'until'] as const;

function filterOf(search: URLSearchParams): AuditFilter {
  const f: AuditFilter = {};
  for (const name of filterNames) {
    const v = search.get(name);
    if (v) {
      f[name] = v;
    }
  }
  const before = Number(search.get('before'));
  if (Number.isSafeInteger(before) && before > 0) {
    f.before = before;
  }
  return f;
}

function Who({ e }: { e: AuditEntry }) {
  const { t } = useTranslation();
  return (
    <Stack gap={2}>
      <Text size="sm">{e.actor_name}</Text>
      <Group gap={4}>
        <Badge size="xs" variant="light">
          {t(`audit.kind_${e.actor_kind}`, { defaultValue: e.actor_kind })}
        </Badge>
        {e.api_key_name && (
          <Text size="xs" c="dimmed">
            {t('audit.viaKey', { name: e.api_key_name })}
          </Text>
        )}
      </Group>
    </Stack>
  );
}

function EntryDrawer({ entry, onClose }: { entry: AuditEntry | null; onClose: () => void }) {
  const { t } = useTranslation();
  return (
    <Drawer opened={entry !== null} onClose={onClose} position="right" size="lg" title={entry ? t('audit.entryTitle', { id: entry.id }) : ''} closeButtonProps={{ 'aria-label': t('common.close') }}>
      {entry && (
        <Stack gap="sm">
          <Text size="sm">
            <b>{t('audit.when')}:</b> {new Date(entry.at).toLocaleString()}
          </Text>
          <Who e={entry} />
          {entry.ip && (
            <Text size="sm">
              <b>{t('audit.address')}:</b> {entry.ip}
            </Text>
          )}
          <Text size="sm" style={{ wordBreak: 'break-all' }}>
            <b>{t('audit.action')}:</b> {entry.action}
          </Text>
          <Text size="sm" style={{ wordBreak: 'break-all' }}>
            <b>{t('audit.target')}:</b> {entry.target}
          </Text>
          <JsonDiff label={t('audit.diff')} original={entry.before == null ? '' : diffText(entry.before)} modified={entry.after == null ? '' : diffText(entry.after)} height="50vh" />
        </Stack>
      )}
    </Drawer>
  );
}

export function AuditPage() {
  const { t } = useTranslation();
  const admin = useCurrentAdmin();
  const [search, setSearch] = useSearchParams();
  const filter = filterOf(search);
  const audit = useAudit(filter);
  const [draft, setDraft] = useState<Record<string, string>>(() => Object.fromEntries(filterNames.map((n) => [n, search.get(n) ?? ''])));
  const [open, setOpen] = useState<AuditEntry | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const doExport = useMutation({
    mutationFn: () => exportAudit(filter),
    onSuccess: () => { setMessage(t('audit.exported')); },
  });

  function apply(e: SyntheticEvent) {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const n of filterNames) {
      const v = draft[n]?.trim();
      if (v) {
        next.set(n, v);
      }
    }
    setSearch(next);
  }
  function clear() {
    setDraft(Object.fromEntries(filterNames.map((n) => [n, ''])));
    setSearch(new URLSearchParams());
  }
  function older(cursor: number) {
    const next = new URLSearchParams(search);
    next.set('before', String(cursor));
    setSearch(next);
  }

  const actions = (
    <Button variant="default" onClick={() => { doExport.mutate(); }} loading={doExport.isPending}>
      {t('audit.export')}
    </Button>
  );
  return (
    <Page title={t('audit.title')} actions={actions}>
      <Stack gap="md">
        {admin.data && !admin.data.is_sudo && (
          <Text size="sm" c="dimmed">
            {t('audit.resellerNote')}
          </Text>
        )}
        <form aria-label={t('audit.apply')} onSubmit={apply}>
          <Group align="end" gap="sm" wrap="wrap">
            {filterNames.map((n) => (
              <TextInput
                key={n}
                label={t(`audit.${n}`)}
                placeholder={n === 'since' || n === 'until' ? '2026-01-31T00:00:00Z' : undefined}
                value={draft[n] ?? ''}
                onChange={(e) => { setDraft({ ...draft, [n]: e.currentTarget.value }); }}
                w={{ base: '100%', sm: 180 }}
              />
            ))}
            <Button type="submit">{t('audit.apply')}</Button>
            <Button variant="default" onClick={clear}>
              {t('audit.clear')}
            </Button>
          </Group>
        </form>
        <ActionStatus message={message} />
        {doExport.error && (
          <Alert color="red" role="alert">
            {doExport.error.message}
          </Alert>
        )}
        {audit.isPending ? (
          <PageLoading />
        ) : audit.isError ? (
          <PageError error={audit.error} onRetry={() => void audit.refetch()} />
        ) : audit.data.entries.length === 0 ? (
          <Empty>{t('audit.none')}</Empty>
        ) : (
          <>
            <Table.ScrollContainer minWidth={560}>
              <Table striped highlightOnHover>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t('audit.when')}</Table.Th>
                    <Table.Th>{t('audit.who')}</Table.Th>
                    <Table.Th>{t('audit.action')}</Table.Th>
                    <Table.Th>{t('audit.target')}</Table.Th>
                    <Table.Th>{t('audit.details')}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {audit.data.entries.map((e) => (
                    <Table.Tr key={e.id}>
                      <Table.Td>
                        <Text size="sm">{new Date(e.at).toLocaleString()}</Text>
                        {e.ip && (
                          <Text size="xs" c="dimmed">
                            {e.ip}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td>
                        <Who e={e} />
                      </Table.Td>
                      <Table.Td style={{ wordBreak: 'break-all' }}>{e.action}</Table.Td>
                      <Table.Td style={{ wordBreak: 'break-all' }}>{e.target}</Table.Td>
                      <Table.Td>
                        <Button size="xs" variant="subtle" aria-label={t('audit.open', { id: e.id })} onClick={() => { setOpen(e); }}>
                          {t('audit.details')}
                        </Button>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            {audit.data.next != null && (
              <Group>
                <Button variant="default" onClick={() => { older(audit.data.next ?? 0); }}>
                  {t('audit.more')}
                </Button>
              </Group>
            )}
          </>
        )}
      </Stack>
      <EntryDrawer entry={open} onClose={() => { setOpen(null); }} />
    </Page>
  );
}
