import { Alert, Badge, Button, Checkbox, Code, Group, NumberInput, Paper, PasswordInput, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type ReactNode, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { confirmThen } from '../../components/confirm';
import { Copy, QrCanvas } from '../../components/CopyQr';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { accountRequests, scopes, useApiKeys, useSessions, useTotpStatus } from '../../features/account/api';
import { useCurrentAdmin } from '../../features/admin/api';
import { formatTime } from '../../lib/format';
import { keys } from '../../lib/queryKeys';
import { clearToken, saveToken } from '../../lib/session';

/** The signed-in admin's own security: second factor, password, API keys, sessions. */
export function SecurityPage() {
  const { t } = useTranslation();
  const [message, setMessage] = useState<string | null>(null);
  // The env sudo (SUDO_USERNAME) has no account row: sessions only.
  const account = useTotpStatus().data?.available ?? true;
  return (
    <Page title={t('nav.security')}>
      <ActionStatus message={message} />
      {account ? (
        <>
          <TwoFactor onDone={setMessage} />
          <PasswordChange onDone={setMessage} />
          <ApiKeys onDone={setMessage} />
        </>
      ) : (
        <Alert color="blue" role="note">
          {t('security.envSudo')}
        </Alert>
      )}
      <Sessions onDone={setMessage} />
    </Page>
  );
}

type Done = (message: string) => void;

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

function TwoFactor({ onDone }: { onDone: Done }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const status = useTotpStatus();
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const refresh = () => void client.invalidateQueries({ queryKey: keys.totp });
  const enroll = useMutation({ mutationFn: accountRequests.enroll, onSuccess: refresh });
  const confirm = useMutation({
    mutationFn: () => accountRequests.confirm(code.trim()),
    onSuccess: (answer) => {
      setCodes(answer.recovery_codes);
      setCode('');
      enroll.reset();
      refresh();
      onDone(t('security.totpOn'));
    },
  });
  const disable = useMutation({
    mutationFn: () => accountRequests.disable(code.trim()),
    onSuccess: () => {
      setCode('');
      refresh();
      onDone(t('security.totpOff'));
    },
  });
  const error = enroll.error ?? confirm.error ?? disable.error;
  const codeInput = (
    <TextInput
      label={t('security.code')}
      value={code}
      onChange={(e) => {
        setCode(e.currentTarget.value);
      }}
      inputMode="numeric"
      autoComplete="one-time-code"
      maw={260}
    />
  );
  return (
    <Section title={t('security.twoFactor')}>
      {status.isPending && <PageLoading />}
      {status.isError && <PageError error={status.error} onRetry={() => void status.refetch()} />}
      {error && <PageError error={error} />}
      {codes && (
        <Alert color="blue" title={t('security.recoveryTitle')} role="status">
          <Stack gap="xs">
            <Text size="sm">{t('security.recoveryHint')}</Text>
            <SimpleGrid cols={{ base: 1, xs: 2 }} spacing={4} data-recovery-codes>
              {codes.map((c) => (
                <Code key={c}>{c}</Code>
              ))}
            </SimpleGrid>
            <Group gap="xs">
              <Copy value={codes.join('\n')} label={t('security.recoveryTitle')} />
              <Button
                size="compact-sm"
                variant="light"
                onClick={() => {
                  setCodes(null);
                }}
              >
                {t('security.savedCodes')}
              </Button>
            </Group>
          </Stack>
        </Alert>
      )}
      {status.data && (
        <>
          <Group gap="xs">
            <Badge color={status.data.enabled ? 'teal' : 'gray'} variant="light">
              {status.data.enabled ? t('security.on') : t('security.off')}
            </Badge>
            {status.data.enabled && <Text size="sm">{t('security.codesLeft', { count: status.data.recovery_codes_left })}</Text>}
          </Group>
          {!status.data.enabled && !enroll.data && (
            <Group>
              <Button onClick={() => { enroll.mutate(); }} loading={enroll.isPending}>
                {t('security.setUp')}
              </Button>
            </Group>
          )}
          {!status.data.enabled && enroll.data && (
            <form
              onSubmit={(e: SyntheticEvent) => {
                e.preventDefault();
                confirm.mutate();
              }}
            >
              <Stack gap="xs">
                <Text size="sm">{t('security.scanHint')}</Text>
                <div style={{ maxWidth: 240 }}>
                  <QrCanvas value={enroll.data.otpauth_url} label={t('security.qrLabel')} />
                </div>
                <Text size="sm">
                  {t('security.secret')}: <Code data-totp-secret>{enroll.data.secret}</Code>
                </Text>
                {codeInput}
                <Group>
                  <Button type="submit" loading={confirm.isPending}>
                    {t('security.confirm')}
                  </Button>
                </Group>
              </Stack>
            </form>
          )}
          {status.data.enabled && (
            <form
              onSubmit={(e: SyntheticEvent) => {
                e.preventDefault();
                disable.mutate();
              }}
            >
              <Stack gap="xs">
                <Text size="sm">{t('security.disableHint')}</Text>
                {codeInput}
                <Group>
                  <Button type="submit" color="red" variant="light" loading={disable.isPending}>
                    {t('security.turnOff')}
                  </Button>
                </Group>
              </Stack>
            </form>
          )}
        </>
      )}
    </Section>
  );
}

function PasswordChange({ onDone }: { onDone: Done }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const change = useMutation({
    mutationFn: () => accountRequests.changePassword({ current_password: current, new_password: next }),
    onSuccess: (answer) => {
      saveToken(answer.access_token);
      setCurrent('');
      setNext('');
      void client.invalidateQueries({ queryKey: keys.sessions });
      onDone(t('security.passwordChanged'));
    },
  });
  return (
    <Section title={t('security.password')}>
      <form
        onSubmit={(e: SyntheticEvent) => {
          e.preventDefault();
          change.mutate();
        }}
      >
        <Stack gap="xs" maw={360}>
          {change.error && <PageError error={change.error} />}
          <PasswordInput
            visibilityToggleButtonProps={{ 'aria-label': t('common.togglePassword') }}
            label={t('security.currentPassword')}
            value={current}
            onChange={(e) => {
              setCurrent(e.currentTarget.value);
            }}
            autoComplete="current-password"
            required
          />
          <PasswordInput
            visibilityToggleButtonProps={{ 'aria-label': t('common.togglePassword') }}
            label={t('security.newPassword')}
            description={t('security.newPasswordHint')}
            value={next}
            onChange={(e) => {
              setNext(e.currentTarget.value);
            }}
            autoComplete="new-password"
            minLength={6}
            required
          />
          <Group>
            <Button type="submit" loading={change.isPending}>
              {t('security.changePassword')}
            </Button>
          </Group>
        </Stack>
      </form>
    </Section>
  );
}

function ApiKeys({ onDone }: { onDone: Done }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const list = useApiKeys();
  const admin = useCurrentAdmin();
  const [name, setName] = useState('');
  const [picked, setPicked] = useState<string[]>(['read']);
  const [days, setDays] = useState<number | string>('');
  const [created, setCreated] = useState<string | null>(null);
  const refresh = () => void client.invalidateQueries({ queryKey: keys.apiKeys });
  const create = useMutation({
    mutationFn: () =>
      accountRequests.createKey({
        name,
        scopes: picked,
        expires_at: typeof days === 'number' && days > 0 ? Math.floor(Date.now() / 1000) + days * 86400 : null,
      }),
    onSuccess: (answer) => {
      setCreated(answer.key);
      setName('');
      refresh();
      onDone(t('security.keyCreated', { name: answer.name }));
    },
  });
  const revoke = useMutation({
    mutationFn: ({ id }: { id: number; name: string }) => accountRequests.revokeKey(id),
    onSuccess: (_, { name: n }) => {
      refresh();
      onDone(t('security.keyRevoked', { name: n }));
    },
  });
  const sudo = admin.data?.is_sudo ?? false;
  const keysList = list.data ?? [];
  return (
    <Section title={t('security.apiKeys')}>
      <Text size="sm" c="dimmed">
        {t('security.keysHint')}
      </Text>
      {created && (
        <Alert color="blue" title={t('security.keyOnce')} role="status">
          <Stack gap="xs">
            <Code block data-new-key style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}>
              {created}
            </Code>
            <Group gap="xs">
              <Copy value={created} label={t('security.newKey')} />
              <Button
                size="compact-sm"
                variant="light"
                onClick={() => {
                  setCreated(null);
                }}
              >
                {t('common.done')}
              </Button>
            </Group>
          </Stack>
        </Alert>
      )}
      <form
        onSubmit={(e: SyntheticEvent) => {
          e.preventDefault();
          create.mutate();
        }}
        aria-label={t('security.newKeyForm')}
      >
        <Stack gap="xs">
          {create.error && <PageError error={create.error} />}
          <Group align="flex-end" wrap="wrap">
            <TextInput
              label={t('security.keyName')}
              value={name}
              onChange={(e) => {
                setName(e.currentTarget.value);
              }}
              maxLength={64}
              required
            />
            <NumberInput label={t('security.expiresDays')} value={days} onChange={setDays} min={0} max={3650} allowDecimal={false} w={200} />
          </Group>
          <Checkbox.Group label={t('security.scopes')} value={picked} onChange={setPicked}>
            <Group gap="md" mt={4}>
              {scopes
                .filter((s) => sudo || s !== 'admins')
                .map((s) => (
                  <Checkbox key={s} value={s} label={t(`security.scope.${s}`)} />
                ))}
            </Group>
          </Checkbox.Group>
          <Group>
            <Button type="submit" loading={create.isPending} disabled={picked.length === 0 || name === ''}>
              {t('security.createKey')}
            </Button>
          </Group>
        </Stack>
      </form>
      {list.isPending && <PageLoading />}
      {list.isError && <PageError error={list.error} onRetry={() => void list.refetch()} />}
      {revoke.error && <PageError error={revoke.error} />}
      {list.isSuccess && keysList.length === 0 && <Empty>{t('security.noKeys')}</Empty>}
      {keysList.length > 0 && (
        <Table className="cards-on-phone" striped verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('security.keyName')}</Table.Th>
              <Table.Th>{t('security.scopes')}</Table.Th>
              <Table.Th>{t('security.expires')}</Table.Th>
              <Table.Th>{t('security.lastUsed')}</Table.Th>
              <Table.Th>{t('users.col.actions')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {keysList.map((k) => (
              <Table.Tr key={k.id} data-key={k.name}>
                <Table.Td data-label={t('security.keyName')}>
                  <Text size="sm" fw={600}>
                    {k.name}
                  </Text>
                  <Text size="xs" ff="monospace" c="dimmed">
                    {k.prefix}…
                  </Text>
                </Table.Td>
                <Table.Td data-label={t('security.scopes')}>{k.scopes.map((s) => t(`security.scope.${s}`)).join(', ')}</Table.Td>
                <Table.Td data-label={t('security.expires')}>{k.expires_at ? formatTime(k.expires_at) : t('common.never')}</Table.Td>
                <Table.Td data-label={t('security.lastUsed')}>
                  {k.last_used_at ? `${formatTime(k.last_used_at)}${k.last_used_ip ? ` · ${k.last_used_ip}` : ''}` : t('common.never')}
                </Table.Td>
                <Table.Td data-label={t('users.col.actions')}>
                  <Button
                    size="compact-xs"
                    variant="subtle"
                    color="red"
                    onClick={() => {
                      confirmThen(t('security.revokeConfirm', { name: k.name }), () => {
                        revoke.mutate({ id: k.id, name: k.name });
                      });
                    }}
                  >
                    {t('security.revoke')}
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Section>
  );
}

function Sessions({ onDone }: { onDone: Done }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const navigate = useNavigate();
  const list = useSessions();
  const end = useMutation({
    mutationFn: ({ id }: { id: number; current: boolean }) => accountRequests.endSession(id),
    onSuccess: (_, { current }) => {
      if (current) {
        clearToken();
        client.clear();
        void navigate('/login', { replace: true });
        return;
      }
      void client.invalidateQueries({ queryKey: keys.sessions });
      onDone(t('security.sessionEnded'));
    },
  });
  const sessions = list.data ?? [];
  return (
    <Section title={t('security.sessions')}>
      {list.isPending && <PageLoading />}
      {list.isError && <PageError error={list.error} onRetry={() => void list.refetch()} />}
      {end.error && <PageError error={end.error} />}
      {list.isSuccess && sessions.length === 0 && <Empty>{t('security.noSessions')}</Empty>}
      {sessions.length > 0 && (
        <Table className="cards-on-phone" striped verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('security.signedIn')}</Table.Th>
              <Table.Th>{t('security.address')}</Table.Th>
              <Table.Th>{t('security.client')}</Table.Th>
              <Table.Th>{t('users.col.actions')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {sessions.map((s) => (
              <Table.Tr key={s.id} data-session={s.id}>
                <Table.Td data-label={t('security.signedIn')}>
                  {formatTime(s.created_at)}{' '}
                  {s.current && (
                    <Badge size="sm" variant="light" color="teal">
                      {t('security.thisSession')}
                    </Badge>
                  )}
                </Table.Td>
                <Table.Td data-label={t('security.address')}>{s.address}</Table.Td>
                <Table.Td data-label={t('security.client')}>
                  <Text size="xs" style={{ wordBreak: 'break-word' }}>
                    {s.user_agent || t('common.unknown')}
                  </Text>
                </Table.Td>
                <Table.Td data-label={t('users.col.actions')}>
                  <Button
                    size="compact-xs"
                    variant="subtle"
                    color="red"
                    onClick={() => {
                      end.mutate({ id: s.id, current: s.current });
                    }}
                  >
                    {t('security.end')}
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Section>
  );
}
