import { setDiagnostics } from '@codemirror/lint';
import { EditorSelection } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { Alert, Button, Group, Modal, Stack, Table, Tabs, Text } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { confirmThen } from '../../components/confirm';
import { JsonDiff, diffText } from '../../components/JsonDiff';
import { JsonEditor, parseJsonObject } from '../../components/JsonEditor';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { coreRequests, inboundFault, useConfigHistory, useConfigVersion, useCoreConfig, type ConfigVersion } from '../../features/core/api';
import { inboundIndex, locateInbound } from '../../features/core/locate';
import { formatBytes, formatTime, timeAgo } from '../../lib/format';
import { keys } from '../../lib/queryKeys';

/** Marks the inbound a refusal names (a lint diagnostic on its tag, or its first line) and scrolls to it; no fault clears the marks. */
function markFault(view: EditorView | null, error: Error | null, focus = false): void {
  if (view === null) {
    return;
  }
  const fault = inboundFault(error);
  const index = inboundIndex(fault?.path);
  const span = index === null ? null : locateInbound(view.state.doc.toString(), index);
  if (error === null || span === null) {
    view.dispatch(setDiagnostics(view.state, []));
    return;
  }
  view.dispatch(setDiagnostics(view.state, [{ from: span.markFrom, to: span.markTo, severity: 'error', message: error.message }]), {
    effects: EditorView.scrollIntoView(span.markFrom, { y: 'center' }),
    selection: focus ? EditorSelection.range(span.markFrom, span.markTo) : undefined,
  });
  if (focus) {
    view.focus();
  }
}

/** The reason a config was refused, naming the inbound at fault when the panel said which. */
function Refusal({ error, onShow }: { error: Error; onShow: () => void }) {
  const { t } = useTranslation();
  const fault = inboundFault(error);
  return (
    <Alert color="red" role="alert" title={t('core.refused')}>
      <Stack gap="xs" align="flex-start">
        {fault && (
          <Text size="sm" fw={600}>
            {fault.inbound ? t('core.faultTagged', { tag: fault.inbound, path: fault.path }) : t('core.fault', { path: fault.path })}
          </Text>
        )}
        <Text size="sm" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
          {error.message}
        </Text>
        {fault && (
          <Button size="xs" variant="light" color="red" onClick={onShow}>
            {t('core.showInEditor')}
          </Button>
        )}
      </Stack>
    </Alert>
  );
}

/** A diff of a saved version against the running config, loaded when opened. */
function VersionDiff({ version, running, onRestore, onClose }: { version: ConfigVersion; running: unknown; onRestore: () => void; onClose: () => void }) {
  const { t } = useTranslation();
  const data = useConfigVersion(version.id);
  const phone = useMediaQuery('(max-width: 40em)');
  const original = diffText(running);
  const modified = data.isSuccess ? diffText(data.data) : '';
  return (
    <Modal
      opened
      onClose={onClose}
      size="xl"
      fullScreen={phone}
      title={t('core.history.diffTitle', { when: formatTime(version.created_at) })}
      closeButtonProps={{ 'aria-label': t('common.close') }}
    >
      <Stack>
        <Text size="sm" c="dimmed">
          {t('core.history.diffHint')}
        </Text>
        {data.isPending && <PageLoading />}
        {data.isError && <PageError error={data.error} onRetry={() => void data.refetch()} />}
        {data.isSuccess &&
          (original === modified ? (
            <Text size="sm">{t('core.history.same')}</Text>
          ) : (
            <JsonDiff original={original} modified={modified} label={t('core.history.diffLabel')} />
          ))}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            {t('common.close')}
          </Button>
          <Button color="red" disabled={!data.isSuccess || original === modified} onClick={onRestore}>
            {t('core.history.restore')}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** The last 50 saved configs: when, who, a diff against the running one, and Restore. */
function History({ running, restoring, onRestore }: { running: unknown; restoring: boolean; onRestore: (v: ConfigVersion) => void }) {
  const { t } = useTranslation();
  const history = useConfigHistory(true);
  const [open, setOpen] = useState<ConfigVersion | null>(null);
  if (history.isPending) {
    return <PageLoading />;
  }
  if (history.isError) {
    return <PageError error={history.error} onRetry={() => void history.refetch()} />;
  }
  if (history.data.length === 0) {
    return <Empty>{t('core.history.empty')}</Empty>;
  }
  return (
    <Stack>
      <Text size="sm" c="dimmed">
        {t('core.history.hint')}
      </Text>
      <Table className="cards-on-phone" striped verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('core.history.when')}</Table.Th>
            <Table.Th>{t('core.history.who')}</Table.Th>
            <Table.Th>{t('core.history.size')}</Table.Th>
            <Table.Th>{t('users.col.actions')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {history.data.map((v, i) => {
            const when = formatTime(v.created_at);
            return (
              <Table.Tr key={v.id} data-version={v.id}>
                <Table.Td data-label={t('core.history.when')}>
                  <Text size="sm" span title={timeAgo(v.created_at)}>
                    {when}
                  </Text>
                  {i === 0 && (
                    <Text size="xs" span c="dimmed">
                      {' · '}
                      {t('core.history.newest')}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td data-label={t('core.history.who')}>{v.admin === '' ? t('core.history.initial') : v.admin}</Table.Td>
                <Table.Td data-label={t('core.history.size')}>{formatBytes(v.size)}</Table.Td>
                <Table.Td data-label="">
                  <Group gap="xs" wrap="wrap">
                    <Button size="xs" variant="light" aria-label={t('core.history.diffOf', { when })} onClick={() => { setOpen(v); }}>
                      {t('core.history.diff')}
                    </Button>
                    <Button size="xs" variant="light" color="red" loading={restoring} aria-label={t('core.history.restoreOf', { when })} onClick={() => { onRestore(v); }}>
                      {t('core.history.restore')}
                    </Button>
                  </Group>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
      {open && (
        <VersionDiff
          version={open}
          running={running}
          onClose={() => { setOpen(null); }}
          onRestore={() => {
            setOpen(null);
            onRestore(open);
          }}
        />
      )}
    </Stack>
  );
}

/**
 * The Xray config every node runs: edited as JSON, checked by the panel
 * with Xray's own builder (Check, and before every save), saved after a
 * diff against the running config, and restored from the history.
 */
export function CoreConfigPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const config = useCoreConfig();
  const [search, setSearch] = useSearchParams();
  const tab = search.get('tab') === 'history' ? 'history' : 'editor';
  const [text, setText] = useState<string | null>(null);
  const [parseError, setParseError] = useState<Error | null>(null);
  const [review, setReview] = useState<Record<string, unknown> | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const view = useRef<EditorView | null>(null);
  const phone = useMediaQuery('(max-width: 40em)');
  const shown = text ?? (config.data ? JSON.stringify(config.data, null, 2) : '');

  const applied = (data: Record<string, unknown>) => {
    client.setQueryData(keys.coreConfig, data);
    setText(null);
    void client.invalidateQueries({ queryKey: keys.coreConfig });
    void client.invalidateQueries({ queryKey: keys.coreConfigHistory });
    void client.invalidateQueries({ queryKey: keys.inbounds });
  };
  const check = useMutation({
    mutationFn: ({ body }: { body: Record<string, unknown>; thenReview: boolean }) => coreRequests.checkConfig(body),
    onSuccess: (_data, { body, thenReview }) => {
      if (thenReview) {
        setReview(body);
      } else {
        setNotice(t('core.checkOk'));
      }
    },
  });
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => coreRequests.putConfig(body),
    onSuccess: (data) => {
      applied(data);
      setNotice(t('core.saved'));
    },
    onSettled: () => { setReview(null); },
  });
  const restore = useMutation({
    mutationFn: (v: ConfigVersion) => coreRequests.restoreVersion(v.id),
    onSuccess: (data, v) => {
      applied(data);
      setNotice(t('core.history.restored', { when: formatTime(v.created_at) }));
      setSearch({}, { replace: true });
    },
  });
  const error: Error | null = parseError ?? check.error ?? save.error ?? restore.error;

  const reset = () => {
    setParseError(null);
    setNotice(null);
    check.reset();
    save.reset();
    restore.reset();
  };
  const submit = (thenReview: boolean) => {
    reset();
    let body: Record<string, unknown>;
    try {
      body = parseJsonObject(shown, t('json.notJson'));
    } catch (err) {
      setParseError(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    check.mutate({ body, thenReview });
  };

  // Point the editor at the inbound a refusal names; clear the mark with the error.
  useEffect(() => {
    markFault(view.current, error);
  }, [error]);

  const running = diffText(config.data ?? {});
  const edited = review ? diffText(review) : '';
  return (
    <Page title={t('nav.core')}>
      <Text size="sm" c="dimmed">
        {t('core.hint')}
      </Text>
      {config.isPending && <PageLoading />}
      {config.isError && <PageError error={config.error} onRetry={() => void config.refetch()} />}
      {config.isSuccess && (
        <Tabs
          value={tab}
          onChange={(v) => {
            setSearch(v === 'history' ? { tab: 'history' } : {});
          }}
        >
          <Tabs.List>
            <Tabs.Tab value="editor">{t('core.editorTab')}</Tabs.Tab>
            <Tabs.Tab value="history">{t('core.historyTab')}</Tabs.Tab>
          </Tabs.List>
          <Stack pt="md">
            {error && <Refusal error={error} onShow={() => { markFault(view.current, error, true); }} />}
            <ActionStatus message={notice} />
          </Stack>
          <Tabs.Panel value="editor" pt="xs">
            {tab === 'editor' && (
              <Stack>
                <JsonEditor
                  value={shown}
                  onChange={(v) => {
                    reset();
                    setText(v);
                  }}
                  onCreateEditor={(v) => {
                    view.current = v;
                  }}
                  label={t('core.editor')}
                />
                <Group>
                  <Button loading={check.isPending && check.variables.thenReview} onClick={() => { submit(true); }}>
                    {t('common.save')}
                  </Button>
                  <Button variant="light" loading={check.isPending && !check.variables.thenReview} onClick={() => { submit(false); }}>
                    {t('core.check')}
                  </Button>
                  <Button variant="default" disabled={text === null} onClick={() => { reset(); setText(null); }}>
                    {t('core.discard')}
                  </Button>
                </Group>
              </Stack>
            )}
          </Tabs.Panel>
          <Tabs.Panel value="history" pt="xs">
            {tab === 'history' && (
              <History
                running={config.data}
                restoring={restore.isPending}
                onRestore={(v) => {
                  confirmThen(t('core.history.restoreConfirm', { when: formatTime(v.created_at) }), () => {
                    reset();
                    restore.mutate(v);
                  });
                }}
              />
            )}
          </Tabs.Panel>
        </Tabs>
      )}
      <Modal
        opened={review !== null}
        onClose={() => { if (!save.isPending) setReview(null); }}
        size="xl"
        fullScreen={phone}
        title={t('core.diff.title')}
        closeButtonProps={{ 'aria-label': t('common.close') }}
      >
        <Stack>
          <Text size="sm" c="dimmed">
            {t('core.diff.hint')}
          </Text>
          {review !== null && (running === edited ? <Text size="sm">{t('core.diff.same')}</Text> : <JsonDiff original={running} modified={edited} label={t('core.diff.label')} />)}
          <Group justify="flex-end">
            <Button variant="default" disabled={save.isPending} onClick={() => { setReview(null); }}>
              {t('common.cancel')}
            </Button>
            <Button loading={save.isPending} disabled={running === edited} onClick={() => { if (review) save.mutate(review); }}>
              {t('core.diff.confirm')}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Page>
  );
}
