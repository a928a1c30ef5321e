import { Badge, Button, Checkbox, Fieldset, Group, PasswordInput, Stack, Table, Text, TextInput } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { confirmThen } from '../../components/confirm';
import { EditorModal, FormActions } from '../../components/FormParts';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { CapsUsage } from '../../features/admin/CapsUsage';
import { adminRequests, useAdmins, type Admin, type AdminModify } from '../../features/admin/api';
import { formatBytes, gib } from '../../lib/format';
import { keys } from '../../lib/queryKeys';

type Caps = Pick<Admin, 'max_users' | 'max_data_limit' | 'max_used_traffic' | 'allow_unlimited'>;

/** A cap field's text: empty is no cap (null); GiB fields become bytes. */
function parseCap(text: string, unit: number): number | null | undefined {
  const s = text.trim();
  if (s === '') {
    return null;
  }
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) {
    return undefined;
  }
  const v = Math.round(n * unit);
  return Number.isSafeInteger(v) ? v : undefined;
}

const capText = (v: number | null | undefined, unit: number) => (v == null ? '' : String(v / unit));

function AdminForm({ admin, onDone, onCancel }: { admin: Admin | null; onDone: (message: string) => void; onCancel: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [sudo, setSudo] = useState(admin?.is_sudo ?? false);
  const [telegram, setTelegram] = useState(admin?.telegram_id ? String(admin.telegram_id) : '');
  const [discord, setDiscord] = useState(admin?.discord_webhook ?? '');
  const [maxUsers, setMaxUsers] = useState(capText(admin?.max_users, 1));
  const [maxData, setMaxData] = useState(capText(admin?.max_data_limit, gib));
  const [maxTraffic, setMaxTraffic] = useState(capText(admin?.max_used_traffic, gib));
  const [unlimited, setUnlimited] = useState(admin?.allow_unlimited !== false);
  const save = useMutation({
    mutationFn: async () => {
      const users = parseCap(maxUsers, 1);
      const data = parseCap(maxData, gib);
      const traffic = parseCap(maxTraffic, gib);
      if (users === undefined || data === undefined || traffic === undefined || (users !== null && !Number.isInteger(Number(maxUsers)))) {
        throw new Error(t('caps.errNumber'));
      }
      // A sudo is never capped: its caps are cleared.
      const caps: Caps = sudo
        ? { max_users: null, max_data_limit: null, max_used_traffic: null, allow_unlimited: null }
        : { max_users: users, max_data_limit: data, max_used_traffic: traffic, allow_unlimited: unlimited ? null : false };
      if (admin === null) {
        await adminRequests.create({ username, password, is_sudo: sudo, ...caps });
        return t('admins.created', { name: username });
      }
      const body: AdminModify = { is_sudo: sudo, ...caps };
      if (password !== '') {
        body.password = password;
      }
      // Emptied fields are sent as the API's "clear" values (0 and "").
      const id = telegram.trim() === '' ? 0 : Number(telegram);
      if (!Number.isSafeInteger(id) || id < 0) {
        throw new Error(t('admins.errTelegram'));
      }
      if (id !== (admin.telegram_id ?? 0)) {
        body.telegram_id = id;
      }
      if (discord.trim() !== (admin.discord_webhook ?? '')) {
        body.discord_webhook = discord.trim();
      }
      await adminRequests.modify(admin.username, body);
      return password ? t('admins.savedPassword', { name: admin.username }) : t('admins.saved', { name: admin.username });
    },
    onSuccess: (message) => {
      void client.invalidateQueries({ queryKey: keys.admins });
      onDone(message);
    },
  });
  const title = admin ? t('admins.editTitle', { name: admin.username }) : t('admins.newTitle');
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <form aria-label={title} onSubmit={submit}>
      <Stack gap="sm">
        {admin === null && (
          <TextInput label={t('login.username')} value={username} onChange={(e) => { setUsername(e.currentTarget.value); }} required autoComplete="off" />
        )}
        <PasswordInput
              visibilityToggleButtonProps={{ 'aria-label': t('common.togglePassword') }}
          label={admin ? t('admins.newPassword') : t('login.password')}
          value={password}
          onChange={(e) => { setPassword(e.currentTarget.value); }}
          required={admin === null}
          autoComplete="new-password"
        />
        <Checkbox label={t('admins.sudo')} checked={sudo} onChange={(e) => { setSudo(e.currentTarget.checked); }} />
        {!sudo && (
          <Fieldset legend={t('caps.title')} variant="filled">
            <Stack gap="xs">
              <TextInput label={t('caps.maxUsers')} inputMode="numeric" value={maxUsers} onChange={(e) => { setMaxUsers(e.currentTarget.value); }} />
              <TextInput label={t('caps.maxData')} inputMode="decimal" value={maxData} onChange={(e) => { setMaxData(e.currentTarget.value); }} />
              <TextInput label={t('caps.maxTraffic')} inputMode="decimal" value={maxTraffic} onChange={(e) => { setMaxTraffic(e.currentTarget.value); }} />
              <Checkbox label={t('caps.allowUnlimited')} checked={unlimited} onChange={(e) => { setUnlimited(e.currentTarget.checked); }} />
              <Text size="xs" c="dimmed">
                {t('caps.hint')}
              </Text>
            </Stack>
          </Fieldset>
        )}
        {admin !== null && (
          <>
            <TextInput label={t('admins.telegram')} inputMode="numeric" value={telegram} onChange={(e) => { setTelegram(e.currentTarget.value); }} />
            <TextInput label={t('admins.discord')} placeholder="https://discord.com/api/webhooks/…" value={discord} onChange={(e) => { setDiscord(e.currentTarget.value); }} />
          </>
        )}
        <FormActions error={save.error?.message} pending={save.isPending} existing={admin !== null} onCancel={onCancel} />
      </Stack>
    </form>
  );
}

export function AdminsPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const admins = useAdmins();
  const [editing, setEditing] = useState<{ admin: Admin | null } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: ({ run }: { run: () => Promise<unknown>; done: string }) => run(),
    onSuccess: (_, { done }) => {
      setMessage(done);
      void client.invalidateQueries({ queryKey: keys.admins });
      void client.invalidateQueries({ queryKey: keys.users });
    },
  });
  const list = admins.data ?? [];
  return (
    <Page
      title={t('nav.admins')}
      actions={
        <>
          <Button onClick={() => { setEditing({ admin: null }); }}>{t('admins.new')}</Button>
          <Button variant="default" onClick={() => void admins.refetch()}>
            {t('common.refresh')}
          </Button>
        </>
      }
    >
      <ActionStatus message={message} />
      {act.error && <PageError error={act.error} />}
      {admins.isPending && <PageLoading />}
      {admins.isError && <PageError error={admins.error} onRetry={() => void admins.refetch()} />}
      {admins.isSuccess && list.length === 0 && <Empty>{t('admins.empty')}</Empty>}
      {list.length > 0 && (
        <Table className="cards-on-phone" striped verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('login.username')}</Table.Th>
              <Table.Th>{t('admins.role')}</Table.Th>
              <Table.Th>{t('admins.usersTraffic')}</Table.Th>
              <Table.Th>{t('caps.title')}</Table.Th>
              <Table.Th>{t('users.col.actions')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.map((a) => (
              <Table.Tr key={a.username} data-admin={a.username}>
                <Table.Td data-label={t('login.username')}>
                  <Text fw={600} size="sm">
                    {a.username}
                  </Text>
                </Table.Td>
                <Table.Td data-label={t('admins.role')}>
                  <Badge variant="light" color={a.is_sudo ? 'grape' : 'gray'}>
                    {a.is_sudo ? t('admins.sudoRole') : t('admins.reseller')}
                  </Badge>
                </Table.Td>
                <Table.Td data-label={t('admins.usersTraffic')}>{formatBytes(a.users_usage)}</Table.Td>
                <Table.Td data-label={t('caps.title')}>
                  <CapsUsage admin={a} />
                </Table.Td>
                <Table.Td data-label={t('users.col.actions')}>
                  <Group gap={4}>
                    <Button size="compact-xs" variant="light" onClick={() => { setEditing({ admin: a }); }}>
                      {t('common.edit')}
                    </Button>
                    <Button
                      size="compact-xs"
                      variant="subtle"
                      onClick={() => {
                        confirmThen(t('admins.resetConfirm', { name: a.username }), () => {
                          act.mutate({ run: () => adminRequests.resetUsage(a.username), done: t('admins.resetDone', { name: a.username }) });
                        });
                      }}
                    >
                      {t('admins.resetCount')}
                    </Button>
                    {!a.is_sudo && (
                      <>
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          onClick={() => {
                            confirmThen(t('admins.disableConfirm', { name: a.username }), () => {
                              act.mutate({ run: () => adminRequests.disableUsers(a.username), done: t('admins.disabled', { name: a.username }) });
                            });
                          }}
                        >
                          {t('admins.disableUsers')}
                        </Button>
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          onClick={() => {
                            act.mutate({ run: () => adminRequests.activateUsers(a.username), done: t('admins.activated', { name: a.username }) });
                          }}
                        >
                          {t('admins.activateUsers')}
                        </Button>
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          onClick={() => {
                            confirmThen(t('admins.resetTotpConfirm', { name: a.username }), () => {
                              act.mutate({ run: () => adminRequests.resetTotp(a.username), done: t('admins.resetTotpDone', { name: a.username }) });
                            });
                          }}
                        >
                          {t('admins.resetTotp')}
                        </Button>
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          color="red"
                          onClick={() => {
                            confirmThen(t('admins.deleteConfirm', { name: a.username }), () => {
                              act.mutate({ run: () => adminRequests.remove(a.username), done: t('admins.deleted', { name: a.username }) });
                            });
                          }}
                        >
                          {t('common.delete')}
                        </Button>
                      </>
                    )}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <EditorModal editing={editing} onClose={() => { setEditing(null); }} title={(e) => (e.admin ? t('admins.editTitle', { name: e.admin.username }) : t('admins.newTitle'))}>
        {(e) => (
          <AdminForm
            admin={e.admin}
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
