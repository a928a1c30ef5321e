import { closestCenter, DndContext, KeyboardSensor, PointerSensor, useSensor, useSensors, type DragEndEvent } from '@dnd-kit/core';
import { arrayMove, SortableContext, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from '@dnd-kit/sortable';
import { CSS } from '@dnd-kit/utilities';
import { ActionIcon, Alert, Button, Card, Checkbox, Code, Collapse, Fieldset, Group, Loader, NativeSelect, SimpleGrid, Stack, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { IconArrowDown, IconArrowUp, IconGripVertical } from '@tabler/icons-react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { JsonEditor, parseJsonObject } from '../../components/JsonEditor';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { coreRequests, useHosts, useHostsPreview, type Host, type Hosts } from '../../features/core/api';
import { keys } from '../../lib/queryKeys';

/** What the panel puts in place of each in a remark, address, SNI, host or path (backend/sub/vars.go). */
const variables = [
  '{USERNAME}',
  '{SERVER_IP}',
  '{DATA_USAGE}',
  '{DATA_LIMIT}',
  '{DATA_LEFT}',
  '{DAYS_LEFT}',
  '{EXPIRE_DATE}',
  '{JALALI_EXPIRE_DATE}',
  '{TIME_LEFT}',
  '{STATUS_EMOJI}',
  '{STATUS_TEXT}',
  '{PROTOCOL}',
  '{TRANSPORT}',
];
const securities = ['inbound_default', 'none', 'tls'] as const;
const alpns = ['', 'h3', 'h2', 'http/1.1', 'h2,http/1.1', 'h3,h2,http/1.1'];
const fingerprints = ['', 'chrome', 'firefox', 'safari', 'ios', 'android', 'edge', '360', 'qq', 'random', 'randomized'];
/** Text fields variables may be inserted into. */
type VariableField = 'remark' | 'address' | 'path' | 'sni' | 'host';
const advancedText = ['fragment_setting', 'noise_setting', 'pinned_peer_cert_sha256', 'verify_peer_cert_by_name'] as const;
const flags = ['allowinsecure', 'is_disabled', 'mux_enable', 'random_user_agent', 'use_sni_as_host'] as const;

/** A host and the id drag and drop and React know it by (hosts have none of their own). */
interface DraftHost {
  id: string;
  host: Host;
}
type Draft = Record<string, DraftHost[]>;

let nextId = 0;
const withIds = (hosts: Hosts): Draft =>
  Object.fromEntries(Object.entries(hosts).map(([tag, list]) => [tag, list.map((host) => ({ id: `h${String(++nextId)}`, host }))]));
const withoutIds = (draft: Draft): Hosts => Object.fromEntries(Object.entries(draft).map(([tag, list]) => [tag, list.map((d) => d.host)]));

interface HostFieldsProps {
  tag: string;
  item: DraftHost;
  n: number;
  count: number;
  onChange: (h: Host) => void;
  onRemove: () => void;
  onMove: (to: number) => void;
}

function HostFields({ tag, item, n, count, onChange, onRemove, onMove }: HostFieldsProps) {
  const { t } = useTranslation();
  const host = item.host;
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({ id: item.id });
  const [advanced, setAdvanced] = useState(false);
  // The variable field last edited and where its caret was: chips insert there.
  const target = useRef<{ field: VariableField; start: number; end: number }>({ field: 'remark', start: -1, end: -1 });
  const [targetField, setTargetField] = useState<VariableField>('remark');
  const inputs = useRef<Partial<Record<VariableField, HTMLInputElement | null>>>({});
  const remember = (field: VariableField, el: HTMLInputElement) => {
    target.current = { field, start: el.selectionStart ?? el.value.length, end: el.selectionEnd ?? el.value.length };
    setTargetField(field);
  };
  const insert = (variable: string) => {
    const { field, start, end } = target.current;
    const old = host[field] ?? '';
    const from = start < 0 ? old.length : Math.min(start, old.length);
    const to = end < 0 ? old.length : Math.min(end, old.length);
    onChange({ ...host, [field]: old.slice(0, from) + variable + old.slice(to) });
    const caret = from + variable.length;
    target.current = { field, start: caret, end: caret };
    requestAnimationFrame(() => {
      const el = inputs.current[field];
      if (el) {
        el.focus();
        el.setSelectionRange(caret, caret);
      }
    });
  };
  const text = (field: VariableField) => (
    <TextInput
      key={field}
      label={t(`hosts.field.${field}`)}
      value={host[field] ?? ''}
      ref={(el) => {
        inputs.current[field] = el;
      }}
      onFocus={(e) => {
        remember(field, e.currentTarget);
      }}
      onSelect={(e) => {
        remember(field, e.currentTarget);
      }}
      onChange={(e) => {
        remember(field, e.currentTarget);
        onChange({ ...host, [field]: e.currentTarget.value });
      }}
    />
  );
  return (
    <Fieldset
      ref={setNodeRef}
      style={{ transform: CSS.Transform.toString(transform), transition, opacity: isDragging ? 0.6 : undefined }}
      legend={
        <Group gap={4} wrap="nowrap">
          <ActionIcon variant="subtle" color="gray" size="sm" aria-label={t('hosts.drag', { n })} style={{ cursor: 'grab', touchAction: 'none' }} {...attributes} {...listeners}>
            <IconGripVertical size={16} aria-hidden />
          </ActionIcon>
          <span>{t('hosts.host', { n })}</span>
        </Group>
      }
      data-host={`${tag}/${String(n)}`}
    >
      <SimpleGrid cols={{ base: 1, sm: 2, lg: 4 }} spacing="xs">
        {text('remark')}
        {text('address')}
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
        {text('sni')}
        {text('host')}
        {text('path')}
        <NativeSelect
          label={t('hosts.field.alpn')}
          value={host.alpn ?? ''}
          data={(alpns.includes(host.alpn ?? '') ? alpns : [...alpns, host.alpn ?? '']).map((a) => ({ value: a, label: a === '' ? t('hosts.default') : a }))}
          onChange={(e) => {
            onChange({ ...host, alpn: e.currentTarget.value });
          }}
        />
        <NativeSelect
          label={t('hosts.field.fingerprint')}
          value={host.fingerprint ?? ''}
          data={fingerprints.map((f) => ({ value: f, label: f === '' ? t('hosts.default') : f }))}
          onChange={(e) => {
            onChange({ ...host, fingerprint: e.currentTarget.value });
          }}
        />
      </SimpleGrid>
      <Group gap={4} mt="xs">
        <Text size="xs" c="dimmed" me={4}>
          {t('hosts.insertInto', { field: t(`hosts.field.${targetField}`), n })}
        </Text>
        {variables.map((v) => (
          <Button
            key={v}
            size="compact-xs"
            radius="xl"
            variant="light"
            color="gray"
            tt="none"
            // Keep the caret where it is: a click would blur the field first.
            onMouseDown={(e) => {
              e.preventDefault();
            }}
            onClick={() => {
              insert(v);
            }}
          >
            {v}
          </Button>
        ))}
      </Group>
      <Collapse expanded={advanced}>
        <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="xs" mt="xs">
          {advancedText.map((f) => (
            <TextInput
              key={f}
              label={t(`hosts.field.${f}`)}
              description={t(`hosts.help.${f}`)}
              value={host[f] ?? ''}
              onChange={(e) => {
                onChange({ ...host, [f]: e.currentTarget.value });
              }}
            />
          ))}
        </SimpleGrid>
      </Collapse>
      <Group mt="xs" gap="md">
        {flags.map((f) => (
          <Checkbox
            key={f}
            label={t(`hosts.field.${f}`)}
            checked={host[f] ?? false}
            onChange={(e) => {
              onChange({ ...host, [f]: e.currentTarget.checked });
            }}
          />
        ))}
      </Group>
      <Group mt="xs" gap="xs">
        <ActionIcon
          variant="default"
          aria-label={t('hosts.moveUp', { n })}
          disabled={n === 1}
          onClick={() => {
            onMove(n - 2);
          }}
        >
          <IconArrowUp size={16} aria-hidden />
        </ActionIcon>
        <ActionIcon
          variant="default"
          aria-label={t('hosts.moveDown', { n })}
          disabled={n === count}
          onClick={() => {
            onMove(n);
          }}
        >
          <IconArrowDown size={16} aria-hidden />
        </ActionIcon>
        <Button
          size="compact-xs"
          variant="subtle"
          aria-expanded={advanced}
          onClick={() => {
            setAdvanced(!advanced);
          }}
        >
          {advanced ? t('hosts.lessSettings') : t('hosts.moreSettings')}
        </Button>
        <Button size="compact-xs" variant="subtle" color="red" onClick={onRemove}>
          {t('hosts.remove', { n })}
        </Button>
      </Group>
    </Fieldset>
  );
}

/** The links the draft gives, as the panel renders them, refreshed a moment after each edit. */
function Preview({ draft }: { draft: Hosts }) {
  const { t } = useTranslation();
  const [username, setUsername] = useState('');
  const [debounced] = useDebouncedValue({ hosts: draft, username: username.trim() }, 400);
  const preview = useHostsPreview(debounced.hosts, debounced.username);
  return (
    <Card withBorder component="section" aria-label={t('hosts.preview')}>
      <Group justify="space-between" align="flex-end" mb="xs">
        <Title order={3} size="h5">
          {t('hosts.preview')} {preview.isFetching && <Loader size="xs" aria-label={t('common.loading')} />}
        </Title>
        <TextInput
          size="xs"
          label={t('hosts.previewUser')}
          placeholder="sample_user"
          value={username}
          onChange={(e) => {
            setUsername(e.currentTarget.value);
          }}
        />
      </Group>
      <Text size="xs" c="dimmed" mb="xs">
        {t('hosts.previewHint')}
      </Text>
      {preview.isError && (
        <Alert color="red" role="alert">
          {preview.error.message}
        </Alert>
      )}
      {preview.data && preview.data.links.length === 0 && <Empty>{t('hosts.previewNone')}</Empty>}
      {preview.data && preview.data.links.length > 0 && (
        <Stack gap={4} data-testid="hosts-preview" aria-live="polite">
          {preview.data.links.map((l, i) => (
            <div key={`${String(i)}:${l.link}`} data-link={l.link}>
              <Text size="sm" fw={500}>
                {l.remark} <Text span size="xs" c="dimmed">({l.tag})</Text>
              </Text>
              <Code block style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }} dir="ltr">
                {l.link}
              </Code>
            </div>
          ))}
        </Stack>
      )}
    </Card>
  );
}

/** A form per inbound tag: its hosts in link order, each with the fields links use. */
function HostsForm({ hosts, onSave, saving }: { hosts: Hosts; onSave: (h: Hosts) => void; saving: boolean }) {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<Draft>(() => withIds(hosts));
  const sensors = useSensors(useSensor(PointerSensor, { activationConstraint: { distance: 4 } }), useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }));
  const tags = Object.keys(draft).sort();
  const set = (tag: string, list: DraftHost[]) => {
    setDraft({ ...draft, [tag]: list });
  };
  const plain = withoutIds(draft);
  return (
    <Stack>
      {tags.length === 0 && <Empty>{t('hosts.noInbounds')}</Empty>}
      {tags.map((tag) => {
        const list = draft[tag] ?? [];
        const onDragEnd = (e: DragEndEvent) => {
          const from = list.findIndex((d) => d.id === e.active.id);
          const to = list.findIndex((d) => d.id === e.over?.id);
          if (from >= 0 && to >= 0 && from !== to) {
            set(tag, arrayMove(list, from, to));
          }
        };
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
                  set(tag, [...list, { id: `h${String(++nextId)}`, host: { remark: '🚀 {USERNAME}', address: '{SERVER_IP}', security: 'inbound_default' } }]);
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
              <DndContext sensors={sensors} collisionDetection={closestCenter} onDragEnd={onDragEnd} accessibility={{ screenReaderInstructions: { draggable: t('hosts.dragHelp') } }}>
                <SortableContext items={list.map((d) => d.id)} strategy={verticalListSortingStrategy}>
                  {list.map((d, i) => (
                    <HostFields
                      key={d.id}
                      tag={tag}
                      item={d}
                      n={i + 1}
                      count={list.length}
                      onChange={(next) => {
                        set(tag, list.map((x) => (x.id === d.id ? { ...x, host: next } : x)));
                      }}
                      onRemove={() => {
                        set(tag, list.filter((x) => x.id !== d.id));
                      }}
                      onMove={(to) => {
                        set(tag, arrayMove(list, i, to));
                      }}
                    />
                  ))}
                </SortableContext>
              </DndContext>
            </Stack>
          </Card>
        );
      })}
      {tags.length > 0 && <Preview draft={plain} />}
      <Group>
        <Button
          loading={saving}
          onClick={() => {
            onSave(plain);
          }}
        >
          {t('common.save')}
        </Button>
        <Button
          variant="default"
          onClick={() => {
            setDraft(withIds(hosts));
          }}
        >
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
