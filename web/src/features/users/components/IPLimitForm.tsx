import { Button, Group, NativeSelect, Stack, Text, TextInput } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ActionStatus } from '../../../components/PageState';
import { keys } from '../../../lib/queryKeys';
import { ipLimitRequests, type IPLimitSettings } from '../api';

interface Values {
  defaultLimit: string;
  grace: string;
  action: IPLimitSettings['action'];
  minutes: string;
}

const whole = (v: string, min: number, max: number) => /^\d+$/.test(v.trim()) && Number(v) >= min && Number(v) <= max;

/** The IP limit's settings: the default limit, the grace window and what happens past it. */
export function IPLimitForm({ settings }: { settings: IPLimitSettings }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const form = useForm<Values>({
    initialValues: {
      defaultLimit: String(settings.default_ip_limit),
      grace: String(settings.grace_seconds),
      action: settings.action,
      minutes: String(settings.disable_minutes),
    },
    validate: {
      defaultLimit: (v) => (whole(v, 0, 64) ? null : t('ipLimit.errDefault')),
      grace: (v) => (whole(v, 10, 86400) ? null : t('ipLimit.errGrace')),
      minutes: (v) => (whole(v, 1, 43200) ? null : t('ipLimit.errMinutes')),
    },
  });
  const save = useMutation({
    mutationFn: (v: Values) =>
      ipLimitRequests.save({
        default_ip_limit: Number(v.defaultLimit),
        grace_seconds: Number(v.grace),
        action: v.action,
        disable_minutes: Number(v.minutes),
      }),
    onSuccess: (saved) => {
      form.resetDirty();
      client.setQueryData(keys.ipLimitSettings, saved);
    },
  });
  return (
    <form aria-label={t('ipLimit.title')} noValidate onSubmit={form.onSubmit((v) => { save.mutate(v); })}>
      <Stack gap="sm">
        <Text size="sm" c="dimmed">
          {t('ipLimit.explain')}
        </Text>
        <TextInput label={t('ipLimit.default')} inputMode="numeric" {...form.getInputProps('defaultLimit')} />
        <TextInput label={t('ipLimit.grace')} inputMode="numeric" {...form.getInputProps('grace')} />
        <NativeSelect
          label={t('ipLimit.action')}
          data={[
            { value: 'notify', label: t('ipLimit.notify') },
            { value: 'disable', label: t('ipLimit.disable') },
          ]}
          {...form.getInputProps('action')}
        />
        {form.values.action === 'disable' && <TextInput label={t('ipLimit.minutes')} inputMode="numeric" {...form.getInputProps('minutes')} />}
        {save.isError && (
          <Text size="sm" c="red" role="alert">
            {save.error.message}
          </Text>
        )}
        <ActionStatus message={save.isSuccess && !form.isDirty() ? t('settings.saved') : null} />
        <Group>
          <Button type="submit" loading={save.isPending}>
            {t('common.save')}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
