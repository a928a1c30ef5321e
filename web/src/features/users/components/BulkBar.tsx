import { Button, Group, MultiSelect, NativeSelect, NumberInput, Paper, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { confirmThen } from '../../../components/confirm';
import type { BulkAction, BulkRequest } from '../api';
import type { Inbounds } from '../form';

interface BulkBarProps {
  count: number;
  busy: boolean;
  /** The panel's inbounds by protocol, for "set inbounds". */
  inbounds?: Inbounds;
  /** The admins a user may be given to; null: not sudo, no "change owner". */
  owners?: string[] | null;
  onAction: (request: BulkRequest) => void;
  onClear: () => void;
}

const GiB = 1024 ** 3;

/** "protocol tag" choices of the inbounds multi-select, and back. */
const inboundValue = (protocol: string, tag: string) => `${protocol}\u0000${tag}`;

export function inboundsFromValues(values: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const [protocol = '', tag = ''] = v.split('\u0000');
    (out[protocol] ??= []).push(tag);
  }
  return out;
}

/** What can be done to the selected users at once. */
export function BulkBar({ count, busy, inbounds = {}, owners = null, onAction, onClear }: BulkBarProps) {
  const { t } = useTranslation();
  const [days, setDays] = useState<number | string>(30);
  const [gb, setGb] = useState<number | string>(10);
  const [tags, setTags] = useState<string[]>([]);
  const [owner, setOwner] = useState('');
  if (count === 0) {
    return null;
  }
  const ask = (action: BulkAction) => {
    if (action === 'delete' || action === 'revoke_sub' || action === 'reset_usage') {
      confirmThen(t(`bulk.confirm.${action}`, { count }), () => {
        onAction({ action });
      });
    } else {
      onAction({ action });
    }
  };
  const positive = (v: number | string) => typeof v === 'number' && v > 0;
  const inboundChoices = Object.entries(inbounds).map(([protocol, list]) => ({
    group: protocol,
    items: (list ?? []).map((i) => ({ value: inboundValue(protocol, i.tag), label: i.tag })),
  }));
  return (
    <Paper withBorder p="xs" role="toolbar" aria-label={t('bulk.label')}>
      <Stack gap="xs">
        <Group gap="xs" wrap="wrap">
          <Text size="sm" fw={600}>
            {t('bulk.selected', { count })}
          </Text>
          <Button size="xs" variant="light" loading={busy} onClick={() => { ask('enable'); }}>
            {t('bulk.enable')}
          </Button>
          <Button size="xs" variant="light" loading={busy} onClick={() => { ask('disable'); }}>
            {t('bulk.disable')}
          </Button>
          <Button size="xs" variant="light" loading={busy} onClick={() => { ask('reset_usage'); }}>
            {t('bulk.reset')}
          </Button>
          <Button size="xs" variant="light" loading={busy} onClick={() => { ask('revoke_sub'); }}>
            {t('bulk.revoke')}
          </Button>
          <Button size="xs" variant="light" color="red" loading={busy} onClick={() => { ask('delete'); }}>
            {t('bulk.delete')}
          </Button>
          <Button size="xs" variant="subtle" onClick={onClear}>
            {t('bulk.clear')}
          </Button>
        </Group>
        <Group gap="xs" wrap="wrap" align="flex-end">
          <NumberInput size="xs" w={110} label={t('bulk.days')} min={1} allowDecimal={false} value={days} onChange={setDays} />
          <Button
            size="xs"
            variant="light"
            loading={busy}
            disabled={!positive(days)}
            onClick={() => {
              onAction({ action: 'extend_expiry', days: Number(days) });
            }}
          >
            {t('bulk.extend')}
          </Button>
          <NumberInput size="xs" w={110} label={t('bulk.gb')} min={0.1} value={gb} onChange={setGb} />
          <Button
            size="xs"
            variant="light"
            loading={busy}
            disabled={!positive(gb)}
            onClick={() => {
              onAction({ action: 'add_data', bytes: Math.round(Number(gb) * GiB) });
            }}
          >
            {t('bulk.addData')}
          </Button>
        </Group>
        <Group gap="xs" wrap="wrap" align="flex-end">
          <MultiSelect size="xs" miw={220} label={t('bulk.inbounds')} data={inboundChoices} value={tags} onChange={setTags} />
          <Button
            size="xs"
            variant="light"
            loading={busy}
            disabled={tags.length === 0}
            onClick={() => {
              onAction({ action: 'set_inbounds', inbounds: inboundsFromValues(tags) });
            }}
          >
            {t('bulk.setInbounds')}
          </Button>
          {owners !== null && (
            <>
              <NativeSelect
                size="xs"
                label={t('bulk.owner')}
                value={owner}
                data={[{ value: '', label: t('bulk.chooseOwner') }, ...owners.map((o) => ({ value: o, label: o }))]}
                onChange={(e) => {
                  setOwner(e.currentTarget.value);
                }}
              />
              <Button
                size="xs"
                variant="light"
                loading={busy}
                disabled={owner === ''}
                onClick={() => {
                  onAction({ action: 'set_owner', admin_username: owner });
                }}
              >
                {t('bulk.setOwner')}
              </Button>
            </>
          )}
        </Group>
      </Stack>
    </Paper>
  );
}
