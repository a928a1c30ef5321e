import { Checkbox, Fieldset, Group, NativeSelect, Stack, TextInput, Textarea } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { CalendarDateInput } from '../../../components/CalendarDateInput';
import { FormActions } from '../../../components/FormParts';
import { PerDeviceControl } from '../../devices/PerDeviceControl';
import type { UserTemplate } from '../../templates/api';
import { protocols, resetStrategies, userRequests, type ResetStrategy, type User } from '../api';
import { applyTemplate, choosableProtocols, daysFromNow, FormError, initialValues, tagsOf, toUserBody, type Inbounds } from '../form';

interface UserFormProps {
  /** The user to edit; null creates one. */
  user: User | null;
  templates: UserTemplate[];
  inbounds: Inbounds;
  /** The admins a sudo may give an edited user to; null offers no choice. */
  owners: string[] | null;
  onDone: (message: string, username: string) => void;
  onCancel: () => void;
}

/**
 * Create or edit a user: protocols and inbounds, data limit and its reset,
 * expiry by date, by days or on hold, enabled, note, owner, the next plan
 * and the auto-delete rule. Errors are the panel's own words.
 */
export function UserForm({ user, templates, inbounds, owners, onDone, onCancel }: UserFormProps) {
  const { t } = useTranslation();
  const form = useForm({ initialValues: initialValues(user) });
  const v = form.values;
  const template = templates.find((x) => String(x.id) === v.template) ?? null;

  const save = useMutation({
    mutationFn: async () => {
      const body = toUserBody(v, user, inbounds, template);
      if (user === null) {
        const created = await userRequests.create(body);
        return t('users.created', { name: created.username });
      }
      await userRequests.modify(user.username, body);
      if (owners !== null && v.owner !== '' && v.owner !== (user.admin?.username ?? '')) {
        await userRequests.setOwner(user.username, v.owner);
      }
      return t('users.saved', { name: user.username });
    },
    onSuccess: (message) => {
      onDone(message, user?.username ?? '');
    },
  });
  const error = save.error instanceof FormError ? t(save.error.key, { ...save.error.values, field: t(`userForm.field.${String(save.error.values.field)}`) }) : save.error?.message;
  const choosable = choosableProtocols(v, inbounds);
  const title = user ? t('userForm.editTitle', { name: user.username }) : t('userForm.newTitle');

  return (
    <form
      aria-label={title}
      onSubmit={form.onSubmit(() => {
        save.mutate();
      })}
    >
      <Stack gap="sm">
        {user === null && templates.length > 0 && (
          <NativeSelect
            label={t('userForm.template')}
            value={v.template}
            data={[{ value: '', label: t('common.none') }, ...templates.map((x) => ({ value: String(x.id), label: x.name }))]}
            onChange={(e) => {
              const chosen = templates.find((x) => String(x.id) === e.currentTarget.value);
              form.setValues(chosen ? applyTemplate(v, chosen) : { ...v, template: '' });
            }}
          />
        )}
        {user === null && (
          <TextInput
            label={t('userForm.username')}
            description={
              template && (template.username_prefix || template.username_suffix)
                ? t('userForm.becomes', { name: `${template.username_prefix ?? ''}…${template.username_suffix ?? ''}` })
                : t('userForm.usernameRule')
            }
            required
            autoComplete="off"
            data-autofocus
            {...form.getInputProps('username')}
          />
        )}
        {user === null && (
          <Checkbox.Group label={t('userForm.protocols')} {...form.getInputProps('protocols')}>
            <Group gap="md" mt={4}>
              {protocols.map((p) => (
                <Checkbox key={p} value={p} label={p} />
              ))}
            </Group>
          </Checkbox.Group>
        )}
        <TextInput label={t('userForm.limit')} inputMode="decimal" {...form.getInputProps('limitGiB')} />
        <NativeSelect
          label={t('userForm.reset')}
          data={resetStrategies.map((r) => ({ value: r, label: t(`reset.${r}`) }))}
          value={v.reset}
          onChange={(e) => {
            form.setFieldValue('reset', e.currentTarget.value as ResetStrategy);
          }}
        />
        <CalendarDateInput
          label={t('userForm.expire')}
          value={v.expire}
          error={form.errors.expire}
          onChange={(day) => {
            form.setFieldValue('expire', day);
          }}
        />
        <TextInput
          label={t('userForm.expireDays')}
          inputMode="numeric"
          onChange={(e) => {
            const days = Number(e.currentTarget.value);
            if (Number.isInteger(days) && days > 0) {
              form.setFieldValue('expire', daysFromNow(days));
            }
          }}
        />
        {user === null && <TextInput label={t('userForm.onHold')} inputMode="numeric" {...form.getInputProps('onHoldDays')} />}
        {user !== null && <Checkbox label={t('userForm.disabled')} {...form.getInputProps('disabled', { type: 'checkbox' })} />}
        <Textarea label={t('userForm.note')} maxLength={500} autosize minRows={1} {...form.getInputProps('note')} />
        {user !== null && owners !== null && (
          <NativeSelect
            label={t('userForm.owner')}
            data={[...(v.owner === '' ? [{ value: '', label: t('userForm.noOwner') }] : []), ...owners.map((a) => ({ value: a, label: a }))]}
            {...form.getInputProps('owner')}
          />
        )}
        {choosable.length > 0 && (
          <Fieldset legend={t('userForm.inbounds')}>
            <Stack gap={6}>
              {choosable.map((p) =>
                (inbounds[p] ?? []).map((i) => (
                  <Checkbox
                    key={`${p}/${i.tag}`}
                    label={t('userForm.inbound', { tag: i.tag, protocol: p, port: i.port })}
                    checked={tagsOf(v, inbounds, p).includes(i.tag)}
                    onChange={() => {
                      const current = tagsOf(v, inbounds, p);
                      form.setFieldValue('inbounds', {
                        ...v.inbounds,
                        [p]: current.includes(i.tag) ? current.filter((x) => x !== i.tag) : [...current, i.tag],
                      });
                    }}
                  />
                )),
              )}
            </Stack>
          </Fieldset>
        )}
        <TextInput label={t('userForm.autoDelete')} inputMode="numeric" {...form.getInputProps('autoDelete')} />
        <TextInput
          label={t('userForm.deviceLimit')}
          description={t('userForm.deviceLimitHint')}
          inputMode="numeric"
          {...form.getInputProps('deviceLimit')}
        />
        <PerDeviceControl
          value={v.perDevice}
          onChange={(c) => {
            form.setFieldValue('perDevice', c);
          }}
        />
        <TextInput label={t('userForm.ipLimit')} inputMode="numeric" {...form.getInputProps('ipLimit')} />
        <Fieldset legend={t('userForm.nextPlan')}>
          <Stack gap="xs">
            <Checkbox label={t('userForm.hasPlan')} {...form.getInputProps('hasPlan', { type: 'checkbox' })} />
            {v.hasPlan && (
              <>
                <TextInput label={t('userForm.planLimit')} inputMode="decimal" {...form.getInputProps('planGiB')} />
                <TextInput label={t('userForm.planDays')} inputMode="numeric" {...form.getInputProps('planDays')} />
                <Checkbox label={t('userForm.planCarry')} {...form.getInputProps('planCarry', { type: 'checkbox' })} />
                <Checkbox label={t('userForm.planEither')} {...form.getInputProps('planEither', { type: 'checkbox' })} />
              </>
            )}
          </Stack>
        </Fieldset>
        <FormActions error={error} pending={save.isPending} existing={user !== null} onCancel={onCancel} />
      </Stack>
    </form>
  );
}
