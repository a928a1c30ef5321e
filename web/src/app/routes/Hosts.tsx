import { Alert, Badge, Button, Card, Checkbox, Fieldset, Group, NativeSelect, SimpleGrid, Stack, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { JsonEditor, parseJsonObject } from '../../components/JsonEditor';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { coreRequests, useHosts, type Host, type Hosts } from '../../features/core/api';
import { keys } from '../../lib/queryKeys';

/** What the panel puts in place of each in a remark, address, SNI, host or path. */
const variables = ['{USERNAME}', '{SERVER_IP}', '{SERVER_IPV6}', '{DATA_USAGE}', '{DATA_LEFT}', '{DATA_LIMIT}', '{DAYS_LEFT}', '{EXPIRE_DATE}', '{PROTOCOL}', '{TRANSPORT}', '{STATUS_EMOJI}'];
const securities = ['inbound_default', 'none', 'tls'] as const;
const textFields = ['remark', 'address', 'sni', 'host', 'path', 'alpn', 'fingerprint'] as const;

function HostFields({ host, onChange, onRemove, n }: { host: Host; onChange: (h: Host) => void; onRemove: () => void; n: number }) {
  const { t } = useTranslation();
  return (
    <Fieldset legend={t('hosts.host', { n })}>
      <SimpleGrid cols={{ base: 1, sm: 2, lg: 4 }} spacing="xs">
        {textFields.map((f) => (
          <TextInput
            key={f}
            label={t(`hosts.field.${f}`)}
            value={host[f] ?? ''}
            onChange={(e) => {
              onChange({ ...host, [f]: e.currentTarget.value });
            }}
          />
        ))}
        <TextInput
          label={t('hosts.field.port')}
          inputMode="numeric"
          value={host.port == null ? '' : String(host.port)}
          onChange={(e) => {
            const v = e.currentTarget.value.trim();
            onChange({ ...host, port: v === '' ? null : Number(v) });
          }}
        />
        <NativeSelect
          label={t('hosts.field.security')}
          value={host.security ?? 'inbound_default'}
          data={securities.map((s) => ({ value: s, label: t(`hosts.security.${s}`) }))}
          onChange={(e) => {
            onChange({ ...host, security: e.currentTarget.value });
          }}
        />
      </SimpleGrid>
      <Group mt="xs" gap="lg">
        <Checkbox
          label={t('hosts.field.allowinsecure')}
          checked={host.allowinsecure ?? false}
          onChange={(e) => {
            onChange({ ...host, allowinsecure: e.currentTarget.checked });
          }}
        />
        <Checkbox
          label={t('hosts.field.is_disabled')}
          checked={host.is_disabled ?? false}
          onChange={(e) => {
            onChange({ ...host, is_disabled: e.currentTarget.checked });
          }}
        />
        <Button size="compact-xs" variant="subtle" color="red" onClick={onRemove}>
          {t('hosts.remove', { n })}
        </Button>
      </Group>
    </Fieldset>
  );
}

/** A form per inbound tag: its hosts, each with the fields links use. */
function HostsForm({ hosts, onSave, saving }: { hosts: Hosts; onSave: (h: Hosts) => void; saving: boolean }) {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<Hosts>(hosts);
  const tags = Object.keys(draft).sort();
  const set = (tag: string, list: Host[]) => {
    setDraft({ ...draft, [tag]: list });
  };
  return (
    <Stack>
      <Group gap={6}>
        <Text size="sm">{t('hosts.variables')}</Text>
        {variables.map((v) => (
          <Badge key={v} variant="outline" color="gray" tt="none">
            {v}
          </Badge>
        ))}
      </Group>
      {tags.length === 0 && <Empty>{t('hosts.noInbounds')}</Empty>}
      {tags.map((tag) => {
        const list = draft[tag] ?? [];
        return (
          <Card key={tag} withBorder component="section" aria-label={tag}>
            <Group justify="space-between" mb="xs">
              <Title order={3} size="h5">
                {tag}
              </Title>
              <Button
                size="compact-sm"
                variant="light"
                onClick={() => {
                  set(tag, [...list, { remark: '🚀 {USERNAME}', address: '{SERVER_IP}', security: 'inbound_default' }]);
                }}
              >
                {t('hosts.add')}
              </Button>
            </Group>
            <Stack gap="xs">
              {list.length === 0 && (
                <Text size="sm" c="dimmed">
                  {t('hosts.none')}
                </Text>
              )}
              {list.map((h, i) => (
                <HostFields
                  // Hosts have no id; their place in the list is who they are.
                  key={i}
                  n={i + 1}
                  host={h}
                  onChange={(next) => {
                    set(tag, list.map((x, j) => (j === i ? next : x)));
                  }}
                  onRemove={() => {
                    set(tag, list.filter((_, j) => j !== i));
                  }}
                />
              ))}
            </Stack>
          </Card>
        );
      })}
      <Group>
        <Button loading={saving} onClick={() => { onSave(draft); }}>
          {t('common.save')}
        </Button>
        <Button variant="default" onClick={() => { setDraft(hosts); }}>
          {t('core.discard')}
        </Button>
      </Group>
    </Stack>
  );
}

/** The hosts subscription links use, per inbound tag (Marzban's PUT /api/hosts): as a form, or as JSON. */
export function HostsPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const hosts = useHosts();
  const [text, setText] = useState<string | null>(null);
  const [tab, setTab] = useState<string | null>('form');
  const shown = text ?? (hosts.data ? JSON.stringify(hosts.data, null, 2) : '');
  const save = useMutation({
    // The body is made inside: JSON that does not parse shows as the error.
    mutationFn: (make: () => Hosts) => coreRequests.putHosts(make()),
    onSuccess: () => {
      setText(null);
      void client.invalidateQueries({ queryKey: keys.hosts });
      void client.invalidateQueries({ queryKey: keys.users });
      void client.invalidateQueries({ queryKey: ['user'] });
    },
  });
  const status = (
    <>
      {save.error && (
        <Alert color="red" role="alert">
          {save.error.message}
        </Alert>
      )}
      <ActionStatus message={save.isSuccess ? t('hosts.saved') : null} />
    </>
  );
  return (
    <Page title={t('nav.hosts')}>
      <Text size="sm" c="dimmed">
        {t('hosts.hint')}
      </Text>
      {hosts.isPending && <PageLoading />}
      {hosts.isError && <PageError error={hosts.error} onRetry={() => void hosts.refetch()} />}
      {hosts.isSuccess && (
        <Tabs
          value={tab}
          onChange={(v) => {
            save.reset();
            setTab(v);
          }}
        >
          <Tabs.List>
            <Tabs.Tab value="form">{t('hosts.formTab')}</Tabs.Tab>
            <Tabs.Tab value="json">{t('hosts.jsonTab')}</Tabs.Tab>
          </Tabs.List>
          <Tabs.Panel value="form" pt="md">
            {tab === 'form' && (
              <Stack>
                {/* A new form after every save: it starts from what the panel has. */}
                <HostsForm key={hosts.dataUpdatedAt} hosts={hosts.data} saving={save.isPending} onSave={(h) => { save.mutate(() => h); }} />
                {status}
              </Stack>
            )}
          </Tabs.Panel>
          <Tabs.Panel value="json" pt="md">
            {tab === 'json' && (
              <Stack>
                <JsonEditor value={shown} onChange={(v) => { save.reset(); setText(v); }} label={t('hosts.editor')} />
                {status}
                <Group>
                  <Button
                    loading={save.isPending}
                    onClick={() => {
                      save.mutate(() => parseJsonObject(shown, t('json.notJson')) as Hosts);
                    }}
                  >
                    {t('common.save')}
                  </Button>
                  <Button variant="default" disabled={text === null} onClick={() => { save.reset(); setText(null); }}>
                    {t('core.discard')}
                  </Button>
                </Group>
              </Stack>
            )}
          </Tabs.Panel>
        </Tabs>
      )}
    </Page>
  );
}
