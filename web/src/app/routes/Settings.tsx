import { Alert, Button, Card, Checkbox, Code, Divider, Group, NativeSelect, NumberInput, SimpleGrid, Stack, Switch, Table, Text, TextInput, Title } from '@mantine/core';
import { useForm, type UseFormReturnType } from '@mantine/form';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { IPLimitForm } from '../../features/users/components/IPLimitForm';
import { useIPLimitSettings } from '../../features/users/api';
import {
  systemRequests,
  useAlertSettings,
  useNotifications,
  useSubscriptionSettings,
  type AlertSettings,
  type SubscriptionSettings,
} from '../../features/system/api';
import { customJsonSwitches, newRuleKey, RuleEditor, wireRules, type SettingsValues } from '../../features/system/RuleEditor';
import { keys } from '../../lib/queryKeys';

const fieldOf: Record<string, string> = {
  profile_update_interval: 'interval',
  profile_title: 'title',
  support_url: 'support',
  hwid_device_limit: 'deviceLimit',
};

/**
 * Sorts the panel's 400 onto the fields it names ("support_url: ...",
 * "rules: rule 2: pattern ..."); rest is what no field takes.
 */
function splitServerError(message: string): { fields: Record<string, string>; rest: string | null } {
  const fields: Record<string, string> = {};
  const field = /^(\w+): ([\s\S]*)$/.exec(message);
  const name = field?.[1];
  const text = field?.[2];
  if (name !== undefined && text !== undefined && fieldOf[name] !== undefined) {
    fields[fieldOf[name]] = text;
    return { fields, rest: null };
  }
  if (name !== 'rules' || text === undefined) {
    return { fields, rest: message };
  }
  const rest: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^rule (\d+): (.*)$/.exec(line.trim());
    if (m?.[1] === undefined || m[2] === undefined) {
      rest.push(line);
      continue;
    }
    const part = m[2].includes('unknown format') ? 'format' : m[2].startsWith('min_version') ? 'min_version' : 'pattern';
    const key = `rules.${String(Number(m[1]) - 1)}.${part}`;
    fields[key] = fields[key] ? `${fields[key]}; ${m[2]}` : m[2];
  }
  const left = rest.join('\n').trim();
  return { fields, rest: left === '' ? null : left };
}

/**
 * Marzban's USE_CUSTOM_JSON_* switches: which clients get Xray JSON
 * instead of base64 links. One the panel's environment sets is shown as
 * it is in effect and cannot be changed here.
 */
function CustomJsonSwitches({ form, pinned }: { form: UseFormReturnType<SettingsValues>; pinned: string[] }) {
  const { t } = useTranslation();
  return (
    <Stack gap="xs" component="section" aria-label={t('settings.customJson')}>
      <Title order={4} size="h6">
        {t('settings.customJson')}
      </Title>
      <Text size="sm" c="dimmed">
        {t('settings.customJsonHint')}
      </Text>
      {customJsonSwitches.map((s) => {
        const fromEnv = pinned.includes(s.env);
        return (
          <Switch
            key={s.key}
            data-switch={s.env}
            label={s.client === '' ? t('settings.customJsonAll') : t('settings.customJsonFor', { client: s.client })}
            description={
              <>
                <Code>{s.env}</Code>
                {fromEnv && ` · ${t('settings.customJsonFromEnv')}`}
              </>
            }
            disabled={fromEnv}
            {...form.getInputProps(`customJson.${s.key}`, { type: 'checkbox' })}
          />
        );
      })}
    </Stack>
  );
}

function SubscriptionForm({ settings }: { settings: SubscriptionSettings }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const form = useForm<SettingsValues>({
    initialValues: {
      title: settings.profile_title ?? '',
      support: settings.support_url ?? '',
      interval: String(settings.profile_update_interval ?? 12),
      noHtml: settings.disable_html_page ?? false,
      customJson: {
        use_custom_json_default: settings.use_custom_json_default ?? false,
        use_custom_json_for_v2rayn: settings.use_custom_json_for_v2rayn ?? false,
        use_custom_json_for_v2rayng: settings.use_custom_json_for_v2rayng ?? false,
        use_custom_json_for_streisand: settings.use_custom_json_for_streisand ?? false,
        use_custom_json_for_happ: settings.use_custom_json_for_happ ?? false,
      },
      deviceLimit: String(settings.hwid_device_limit ?? 0),
      hwidMissing: settings.hwid_missing === 'refuse' ? 'refuse' : 'allow',
      perDevice: settings.per_device_credentials ?? false,
      rules: (settings.rules ?? []).map((r) => ({ key: newRuleKey(), pattern: r.pattern ?? '', format: r.format ?? 'v2ray', min_version: r.min_version ?? '' })),
    },
    validate: {
      interval: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 8760 ? null : t('settings.errInterval')),
      deviceLimit: (v) => (/^\d+$/.test(v.trim()) && Number(v) <= 256 ? null : t('settings.errDeviceLimit')),
      support: (v) => (v.trim() === '' || /^[a-z][a-z0-9+.-]*:\S+$/i.test(v.trim()) ? null : t('settings.errUrl')),
      rules: {
        pattern: (v) => (v.trim() === '' ? t('settings.errPattern') : null),
        min_version: (v) => (v.trim() === '' || /^\d+(\.\d+)*$/.test(v.trim()) ? null : t('settings.errMinVersion')),
      },
    },
  });
  const save = useMutation({
    mutationFn: (v: SettingsValues) =>
      systemRequests.putSubscriptionSettings({
        ...settings,
        profile_title: v.title,
        support_url: v.support.trim(),
        profile_update_interval: Number(v.interval),
        disable_html_page: v.noHtml,
        ...v.customJson,
        hwid_device_limit: Number(v.deviceLimit),
        hwid_missing: v.hwidMissing,
        // Sent once the panel reports the setting (or the admin turns it
        // on), so the form keeps saving against a panel without it.
        ...(settings.per_device_credentials !== undefined || v.perDevice ? { per_device_credentials: v.perDevice } : {}),
        rules: wireRules(v.rules),
      }),
    onSuccess: () => {
      form.resetDirty();
      void client.invalidateQueries({ queryKey: keys.subscriptionSettings });
    },
  });
  const unplaced = save.error ? splitServerError(save.error.message).rest : null;
  return (
    <form
      aria-label={t('settings.subscription')}
      noValidate
      onSubmit={form.onSubmit(
        (v) => { save.mutate(v, { onError: (err) => { form.setErrors(splitServerError(err.message).fields); } }); },
      )}
    >
      <Stack gap="sm">
        <TextInput label={t('settings.profileTitle')} description={t('settings.profileTitleHint')} {...form.getInputProps('title')} />
        <TextInput label={t('settings.supportUrl')} placeholder="https://t.me/support" {...form.getInputProps('support')} />
        <TextInput label={t('settings.interval')} inputMode="numeric" {...form.getInputProps('interval')} />
        <Checkbox label={t('settings.noHtml')} {...form.getInputProps('noHtml', { type: 'checkbox' })} />
        <Divider label={t('settings.devices')} labelPosition="left" />
        <TextInput
          label={t('settings.deviceLimit')}
          description={t('settings.deviceLimitHint')}
          inputMode="numeric"
          {...form.getInputProps('deviceLimit')}
        />
        <NativeSelect
          label={t('settings.hwidMissing')}
          description={t('settings.hwidMissingHint')}
          data={[
            { value: 'allow', label: t('settings.hwidAllow') },
            { value: 'refuse', label: t('settings.hwidRefuse') },
          ]}
          {...form.getInputProps('hwidMissing')}
        />
        <Switch
          label={t('settings.perDevice')}
          description={t('settings.perDeviceHint')}
          {...form.getInputProps('perDevice', { type: 'checkbox' })}
        />
        <Divider />
        <RuleEditor form={form} />
        <Divider />
        <CustomJsonSwitches form={form} pinned={settings.custom_json_env ?? []} />
        {unplaced && (
          <Alert color="red" role="alert">
            {unplaced}
          </Alert>
        )}
        {save.isError && !unplaced && (
          <Text size="sm" c="red" role="alert">
            {t('settings.fixFields')}
          </Text>
        )}
        <ActionStatus message={save.isSuccess && !form.isDirty() ? t('settings.saved') : null} />
        <Group>
          <Button type="submit" loading={save.isPending}>
            {t('common.save')}
          </Button>
          {form.isDirty() && (
            <Text size="sm" c="dimmed">
              {t('settings.unsaved')}
            </Text>
          )}
        </Group>
      </Stack>
    </form>
  );
}

// The alert thresholds as the form edits them: durations in minutes (the
// API takes seconds), the rest as they are; '' or 0 turns a rule off.
type AlertValues = {
  offlineMinutes: number | string;
  lagRevisions: number | string;
  lagMinutes: number | string;
  backlogReports: number | string;
  backlogSize: number | string;
  certDays: number | string;
};

const alertFields: { name: keyof AlertValues; label: string; minutes?: boolean }[] = [
  { name: 'offlineMinutes', label: 'alerts.field.offlineMinutes', minutes: true },
  { name: 'lagRevisions', label: 'alerts.field.lagRevisions' },
  { name: 'lagMinutes', label: 'alerts.field.lagMinutes', minutes: true },
  { name: 'backlogReports', label: 'alerts.field.backlogReports' },
  { name: 'backlogSize', label: 'alerts.field.backlogSize' },
  { name: 'certDays', label: 'alerts.field.certDays' },
];

const num = (v: number | string): number => (v === '' ? 0 : Number(v));

function AlertSettingsForm({ settings }: { settings: AlertSettings }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const form = useForm<AlertValues>({
    initialValues: {
      offlineMinutes: (settings.node_offline_seconds ?? 0) / 60,
      lagRevisions: settings.revision_lag_revisions ?? 0,
      lagMinutes: (settings.revision_lag_seconds ?? 0) / 60,
      backlogReports: settings.backlog_reports ?? 0,
      backlogSize: settings.backlog_size ?? 0,
      certDays: settings.cert_expiry_days ?? 0,
    },
    validate: Object.fromEntries(
      alertFields.map((f) => [f.name, (v: number | string) => (Number.isFinite(num(v)) && num(v) >= 0 ? null : t('alerts.errNumber'))]),
    ),
  });
  const save = useMutation({
    mutationFn: (v: AlertValues) =>
      systemRequests.putAlertSettings({
        node_offline_seconds: Math.round(num(v.offlineMinutes) * 60),
        revision_lag_revisions: Math.round(num(v.lagRevisions)),
        revision_lag_seconds: Math.round(num(v.lagMinutes) * 60),
        backlog_reports: Math.round(num(v.backlogReports)),
        backlog_size: Math.round(num(v.backlogSize)),
        cert_expiry_days: Math.round(num(v.certDays)),
      }),
    onSuccess: (saved) => {
      client.setQueryData(keys.alertSettings, saved);
      form.resetDirty();
    },
  });
  return (
    <form aria-label={t('alerts.settings')} noValidate onSubmit={form.onSubmit((v) => { save.mutate(v); })}>
      <Stack gap="sm">
        <Text size="sm" c="dimmed">
          {t('alerts.settingsHint')}
        </Text>
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
          {alertFields.map((f) => (
            <NumberInput
              key={f.name}
              label={t(f.label)}
              min={0}
              allowNegative={false}
              allowDecimal={f.minutes === true}
              decimalScale={f.minutes ? 2 : 0}
              data-field={f.name}
              {...form.getInputProps(f.name)}
            />
          ))}
        </SimpleGrid>
        {save.isError && (
          <Alert color="red" role="alert">
            {save.error.message}
          </Alert>
        )}
        <ActionStatus message={save.isSuccess && !form.isDirty() ? t('settings.saved') : null} />
        <Group>
          <Button type="submit" loading={save.isPending}>
            {t('common.save')}
          </Button>
          {form.isDirty() && (
            <Text size="sm" c="dimmed">
              {t('settings.unsaved')}
            </Text>
          )}
        </Group>
      </Stack>
    </form>
  );
}

export function SettingsPage() {
  const { t } = useTranslation();
  const notifications = useNotifications();
  const sub = useSubscriptionSettings();
  const alertSettings = useAlertSettings();
  const ipLimit = useIPLimitSettings();
  const targets = notifications.data?.targets ?? [];
  return (
    <Page title={t('nav.settings')}>
      <Card withBorder component="section" aria-label={t('settings.notifications')}>
        <Group justify="space-between" mb="sm">
          <Title order={3} size="h5">
            {t('settings.notifications')}
          </Title>
          <Button size="xs" variant="default" onClick={() => void notifications.refetch()}>
            {t('common.refresh')}
          </Button>
        </Group>
        {notifications.isPending && <PageLoading />}
        {notifications.isError && <PageError error={notifications.error} onRetry={() => void notifications.refetch()} />}
        {notifications.isSuccess && targets.length === 0 && <Empty>{t('settings.noTargets')}</Empty>}
        {targets.length > 0 && (
          <Table className="cards-on-phone" verticalSpacing="xs">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('settings.target')}</Table.Th>
                <Table.Th>{t('settings.pending')}</Table.Th>
                <Table.Th>{t('settings.retrying')}</Table.Th>
                <Table.Th>{t('settings.failed')}</Table.Th>
                <Table.Th>{t('settings.lastError')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {targets.map((x) => (
                <Table.Tr key={`${x.kind}/${x.target}`} data-target={x.target}>
                  <Table.Td data-label={t('settings.target')}>{x.target}</Table.Td>
                  <Table.Td data-label={t('settings.pending')}>{x.pending}</Table.Td>
                  <Table.Td data-label={t('settings.retrying')} data-field="retrying">
                    {x.retrying}
                  </Table.Td>
                  <Table.Td data-label={t('settings.failed')}>{x.failed}</Table.Td>
                  <Table.Td data-label={t('settings.lastError')} data-field="last-error">
                    {x.last_error || '—'}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
      <Card withBorder component="section" aria-label={t('alerts.settings')}>
        <Title order={3} size="h5" mb="sm">
          {t('alerts.settings')}
        </Title>
        {alertSettings.isPending && <PageLoading />}
        {alertSettings.isError && <PageError error={alertSettings.error} onRetry={() => void alertSettings.refetch()} />}
        {alertSettings.isSuccess && <AlertSettingsForm settings={alertSettings.data} />}
      </Card>
      <Card withBorder component="section" aria-label={t('settings.subscription')}>
        <Title order={3} size="h5" mb="sm">
          {t('settings.subscription')}
        </Title>
        {sub.isPending && <PageLoading />}
        {sub.isError && <PageError error={sub.error} onRetry={() => void sub.refetch()} />}
        {sub.isSuccess && <SubscriptionForm settings={sub.data} />}
      </Card>
      <Card withBorder component="section" aria-label={t('ipLimit.title')}>
        <Title order={3} size="h5" mb="sm">
          {t('ipLimit.title')}
        </Title>
        {ipLimit.isPending && <PageLoading />}
        {ipLimit.isError && <PageError error={ipLimit.error} onRetry={() => void ipLimit.refetch()} />}
        {ipLimit.isSuccess && <IPLimitForm settings={ipLimit.data} />}
      </Card>
    </Page>
  );
}
