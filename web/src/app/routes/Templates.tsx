import { Button, Checkbox, Fieldset, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { confirmThen } from '../../components/confirm';
import { EditorModal, FormActions } from '../../components/FormParts';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { useCurrentAdmin } from '../../features/admin/api';
import { PerDeviceControl } from '../../features/devices/PerDeviceControl';
import { perDeviceChoice, perDeviceValue } from '../../features/devices/perDevice';
import { templateRequests, useTemplates, type UserTemplate } from '../../features/templates/api';
import { maxDevices } from '../../features/users/form';
import { useInbounds } from '../../features/users/api';
import { formatBytes, gib } from '../../lib/format';
import { keys } from '../../lib/queryKeys';

function TemplateForm({ template, onDone, onCancel }: { template: UserTemplate | null; onDone: (m: string) => void; onCancel: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const inbounds = useInbounds();
  const [name, setName] = useState(template?.name ?? '');
  const [limit, setLimit] = useState(template?.data_limit ? String(template.data_limit / gib) : '');
  const [days, setDays] = useState(template?.expire_duration ? String(Math.round(template.expire_duration / 86400)) : '');
  const [prefix, setPrefix] = useState(template?.username_prefix ?? '');
  const [suffix, setSuffix] = useState(template?.username_suffix ?? '');
  const [tags, setTags] = useState<Record<string, string[]>>(template?.inbounds ?? {});
  const [devices, setDevices] = useState(template?.hwid_device_limit != null ? String(template.hwid_device_limit) : '');
  const [ipLimit, setIPLimit] = useState(template?.ip_limit != null ? String(template.ip_limit) : '');
  const [perDevice, setPerDevice] = useState(perDeviceChoice(template?.per_device_credentials));
  const save = useMutation({
    mutationFn: async () => {
      const l = limit.trim() === '' ? 0 : Number(limit);
      const d = days.trim() === '' ? 0 : Number(days);
      const dev = devices.trim() === '' ? null : Number(devices);
      const ip = ipLimit.trim() === '' ? null : Number(ipLimit);
      if (
        !Number.isFinite(l) || l < 0 || !Number.isInteger(d) || d < 0 ||
        (dev !== null && (!Number.isInteger(dev) || dev < 0 || dev > maxDevices)) ||
        (ip !== null && (!Number.isInteger(ip) || ip < 0))
      ) {
        throw new Error(t('templates.errNumbers'));
      }
      const inb = Object.fromEntries(Object.entries(tags).filter(([, v]) => v.length > 0));
      const body = { name, data_limit: Math.round(l * gib), expire_duration: d * 86400, username_prefix: prefix, username_suffix: suffix, inbounds: inb, hwid_device_limit: dev, ip_limit: ip };
      // Default (null) is sent only to clear a template's own choice: one that never had it sends nothing.
      const own = perDeviceValue(perDevice);
      const perDeviceBody = own !== null || template?.per_device_credentials != null ? { per_device_credentials: own } : {};
      if (template === null) {
        await templateRequests.create({ ...body, ...perDeviceBody });
        return t('templates.created', { name });
      }
      await templateRequests.modify(template.id, { ...body, ...perDeviceBody });
      return t('templates.saved', { name });
    },
    onSuccess: (m) => {
      void client.invalidateQueries({ queryKey: keys.templates });
      onDone(m);
    },
  });
  const title = template ? t('templates.editTitle', { name: template.name }) : t('templates.newTitle');
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <form aria-label={title} onSubmit={submit}>
      <Stack gap="sm">
        <TextInput label={t('templates.name')} value={name} onChange={(e) => { setName(e.currentTarget.value); }} required />
        <TextInput label={t('userForm.limit')} inputMode="decimal" value={limit} onChange={(e) => { setLimit(e.currentTarget.value); }} />
        <TextInput label={t('templates.days')} inputMode="numeric" value={days} onChange={(e) => { setDays(e.currentTarget.value); }} />
        <TextInput
          label={t('userForm.deviceLimit')}
          description={t('userForm.deviceLimitHint')}
          inputMode="numeric"
          value={devices}
          onChange={(e) => {
            setDevices(e.currentTarget.value);
          }}
        />
        <PerDeviceControl value={perDevice} onChange={setPerDevice} />
        <TextInput label={t('templates.prefix')} value={prefix} onChange={(e) => { setPrefix(e.currentTarget.value); }} />
        <TextInput label={t('templates.suffix')} value={suffix} onChange={(e) => { setSuffix(e.currentTarget.value); }} />
        <TextInput label={t('userForm.ipLimit')} inputMode="numeric" value={ipLimit} onChange={(e) => { setIPLimit(e.currentTarget.value); }} />
        <Fieldset legend={t('userForm.inbounds')}>
          <Stack gap={6}>
            {Object.entries(inbounds.data ?? {}).flatMap(([p, list]) =>
              list.map((i) => (
                <Checkbox
                  key={`${p}/${i.tag}`}
                  label={t('userForm.inbound', { tag: i.tag, protocol: p, port: i.port })}
                  checked={tags[p]?.includes(i.tag) ?? false}
                  onChange={() => {
                    const cur = tags[p] ?? [];
                    setTags({ ...tags, [p]: cur.includes(i.tag) ? cur.filter((x) => x !== i.tag) : [...cur, i.tag] });
                  }}
                />
              )),
            )}
            <Text size="xs" c="dimmed">
              {t('templates.inboundsHint')}
            </Text>
          </Stack>
        </Fieldset>
        <FormActions error={save.error?.message} pending={save.isPending} existing={template !== null} onCancel={onCancel} />
      </Stack>
    </form>
  );
}

export function TemplatesPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const templates = useTemplates();
  const sudo = useCurrentAdmin().data?.is_sudo ?? false;
  const [editing, setEditing] = useState<{ template: UserTemplate | null } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const remove = useMutation({
    mutationFn: (tpl: UserTemplate) => templateRequests.remove(tpl.id),
    onSuccess: (_, tpl) => {
      setMessage(t('templates.deleted', { name: tpl.name }));
      void client.invalidateQueries({ queryKey: keys.templates });
    },
  });
  const list = templates.data ?? [];
  return (
    <Page title={t('nav.templates')} actions={sudo && <Button onClick={() => { setEditing({ template: null }); }}>{t('templates.new')}</Button>}>
      <ActionStatus message={message} />
      {remove.error && <PageError error={remove.error} />}
      {templates.isPending && <PageLoading />}
      {templates.isError && <PageError error={templates.error} onRetry={() => void templates.refetch()} />}
      {templates.isSuccess && list.length === 0 && <Empty>{t('templates.empty')}</Empty>}
      {list.length > 0 && (
        <Table className="cards-on-phone" striped verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('templates.name')}</Table.Th>
              <Table.Th>{t('templates.limit')}</Table.Th>
              <Table.Th>{t('templates.duration')}</Table.Th>
              <Table.Th>{t('userForm.inbounds')}</Table.Th>
              {sudo && <Table.Th>{t('users.col.actions')}</Table.Th>}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.map((tpl) => (
              <Table.Tr key={tpl.id} data-template={tpl.name}>
                <Table.Td data-label={t('templates.name')}>
                  <Text fw={600} size="sm">
                    {tpl.name}
                  </Text>
                  {(tpl.username_prefix || tpl.username_suffix) && (
                    <Text size="xs" c="dimmed">
                      {tpl.username_prefix ?? ''}…{tpl.username_suffix ?? ''}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td data-label={t('templates.limit')}>{tpl.data_limit ? formatBytes(tpl.data_limit) : t('templates.unlimited')}</Table.Td>
                <Table.Td data-label={t('templates.duration')}>
                  {tpl.expire_duration ? t('templates.daysN', { count: Math.round(tpl.expire_duration / 86400) }) : t('common.never')}
                </Table.Td>
                <Table.Td data-label={t('userForm.inbounds')}>
                  {Object.values(tpl.inbounds).flat().join(', ') || t('templates.allInbounds')}
                </Table.Td>
                {sudo && (
                  <Table.Td data-label={t('users.col.actions')}>
                    <Group gap={4}>
                      <Button size="compact-xs" variant="light" onClick={() => { setEditing({ template: tpl }); }}>
                        {t('common.edit')}
                      </Button>
                      <Button
                        size="compact-xs"
                        variant="subtle"
                        color="red"
                        onClick={() => {
                          confirmThen(t('templates.deleteConfirm', { name: tpl.name }), () => {
                            remove.mutate(tpl);
                          });
                        }}
                      >
                        {t('common.delete')}
                      </Button>
                    </Group>
                  </Table.Td>
                )}
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <EditorModal editing={editing} onClose={() => { setEditing(null); }} title={(e) => (e.template ? t('templates.editTitle', { name: e.template.name }) : t('templates.newTitle'))}>
        {(e) => (
          <TemplateForm
            template={e.template}
            onDone={(m) => {
              setEditing(null);
              setMessage(m);
            }}
            onCancel={() => { setEditing(null); }}
          />
        )}
      </EditorModal>
    </Page>
  );
}
