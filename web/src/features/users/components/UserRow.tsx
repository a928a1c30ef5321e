import { Anchor, Button, Checkbox, Group, Stack, Table, Text } from '@mantine/core';
import { memo } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { formatBytes, formatDate, timeAgo } from '../../../lib/format';
import type { User } from '../api';
import { StatusBadge } from './StatusBadge';

/** What a row's buttons ask of the page. */
export type RowAction = 'nextPlan' | 'reset' | 'revoke' | 'delete';

interface Props {
  user: User;
  selected: boolean;
  /** These three must keep their identity across renders (the page's
   * useCallbackRef): then a row renders again only when its user (kept
   * by TanStack Query's structural sharing while unchanged) or its
   * checkbox changes, not on every change of the filters, the selection
   * of another row or the page's messages. */
  onToggle: (username: string) => void;
  onEdit: (user: User) => void;
  onAction: (action: RowAction, user: User) => void;
}

/** Whether a row would render the same: the same user (by value: a new
 * query key, such as another sort of the same users, brings new objects
 * for unchanged users), checkbox and callbacks. */
export function sameRow(a: Props, b: Props): boolean {
  return (
    a.selected === b.selected &&
    a.onToggle === b.onToggle &&
    a.onEdit === b.onEdit &&
    a.onAction === b.onAction &&
    (a.user === b.user || JSON.stringify(a.user) === JSON.stringify(b.user))
  );
}

/** One row of the users table. */
export const UserRow = memo(function UserRow({ user: u, selected, onToggle, onEdit, onAction }: Props) {
  const { t } = useTranslation();
  return (
    <Table.Tr data-username={u.username}>
      <Table.Td data-label="">
        <Checkbox
          aria-label={t('users.select', { name: u.username })}
          checked={selected}
          onChange={() => {
            onToggle(u.username);
          }}
        />
      </Table.Td>
      <Table.Td data-label={t('users.col.username')}>
        <Stack gap={2}>
          <Anchor component={Link} to={`/users/${encodeURIComponent(u.username)}`} fw={600}>
            {u.username}
          </Anchor>
          {u.note && (
            <Text size="xs" c="dimmed">
              {u.note}
            </Text>
          )}
          {u.admin && (
            <Text size="xs" c="dimmed">
              {t('users.ownerIs', { name: u.admin.username })}
            </Text>
          )}
          {u.next_plan && (
            <Text size="xs" c="blue">
              {t('users.planWaiting')}
            </Text>
          )}
        </Stack>
      </Table.Td>
      <Table.Td data-label={t('users.col.status')}>
        <StatusBadge status={u.status} />
      </Table.Td>
      <Table.Td data-label={t('users.col.usage')}>
        <span dir="ltr">
          {formatBytes(u.used_traffic)} / {u.data_limit ? formatBytes(u.data_limit) : '∞'}
        </span>
      </Table.Td>
      <Table.Td data-label={t('users.col.expires')}>{u.expire ? formatDate(u.expire) : t('common.never')}</Table.Td>
      <Table.Td data-label={t('users.col.online')}>{timeAgo(u.online_at)}</Table.Td>
      <Table.Td data-label={t('users.col.actions')}>
        <Group gap={4} wrap="wrap">
          <Button
            size="compact-xs"
            variant="light"
            onClick={() => {
              onEdit(u);
            }}
          >
            {t('common.edit')}
          </Button>
          <Anchor size="xs" href={u.subscription_url} target="_blank" rel="noreferrer">
            {t('users.subPage')}
          </Anchor>
          {u.next_plan && (
            <Button
              size="compact-xs"
              variant="subtle"
              onClick={() => {
                onAction('nextPlan', u);
              }}
            >
              {t('users.nextPlanNow')}
            </Button>
          )}
          <Button
            size="compact-xs"
            variant="subtle"
            onClick={() => {
              onAction('reset', u);
            }}
          >
            {t('users.reset')}
          </Button>
          <Button
            size="compact-xs"
            variant="subtle"
            onClick={() => {
              onAction('revoke', u);
            }}
          >
            {t('users.revoke')}
          </Button>
          <Button
            size="compact-xs"
            variant="subtle"
            color="red"
            onClick={() => {
              onAction('delete', u);
            }}
          >
            {t('common.delete')}
          </Button>
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}, sameRow);
