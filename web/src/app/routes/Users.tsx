import { Anchor, Button, Checkbox, Drawer, Group, NativeSelect, Pagination, Paper, Stack, Table, Text, TextInput, UnstyledButton } from '@mantine/core';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { confirmThen } from '../../components/confirm';
import { ActionStatus, Empty, Page, PageError, PageLoading } from '../../components/PageState';
import { useAdmins, useCurrentAdmin } from '../../features/admin/api';
import { useTemplates } from '../../features/templates/api';
import {
  bulkUsers,
  dataLeftChoices,
  expiringChoices,
  pageSizes,
  sortFields,
  statuses,
  useInbounds,
  userRequests,
  useUserMutation,
  useUsers,
  type BulkRequest,
  type User,
  type UsersParams,
} from '../../features/users/api';
import { BulkBar } from '../../features/users/components/BulkBar';
import { CleanupModal } from '../../features/users/components/CleanupModal';
import { StatusBadge } from '../../features/users/components/StatusBadge';
import { UserForm } from '../../features/users/components/UserForm';
import { formatBytes, formatCount, formatDate, timeAgo } from '../../lib/format';

/** The table's filters, read from and written to the URL. */
function useUsersParams(): [UsersParams, (change: Partial<UsersParams>) => void] {
  const [search, setSearch] = useSearchParams();
  const size = Number(search.get('size'));
  const params: UsersParams = {
    page: Math.max(1, Math.floor(Number(search.get('page'))) || 1),
    size: (pageSizes as readonly number[]).includes(size) ? size : 20,
    search: search.get('search') ?? '',
    status: statuses.find((s) => s === search.get('status')) ?? '',
    owner: search.get('owner') ?? '',
    sort: search.get('sort') ?? '',
    expiring: expiringChoices.find((d) => String(d) === search.get('expiring')) ?? 0,
    onHold: search.get('on_hold') === '1',
    dataLeft: dataLeftChoices.find((d) => String(d) === search.get('data_left')) ?? 0,
  };
  const update = (change: Partial<UsersParams>) => {
    const next = { ...params, page: 1, ...change };
    const out = new URLSearchParams();
    const urlNames: Partial<Record<string, string>> = { onHold: 'on_hold', dataLeft: 'data_left' };
    for (const [k, v] of Object.entries(next)) {
      const dflt = k === 'page' ? 1 : k === 'size' ? 20 : k === 'expiring' || k === 'dataLeft' ? 0 : k === 'onHold' ? false : '';
      if (v !== dflt) {
        out.set(urlNames[k] ?? k, v === true ? '1' : String(v));
      }
    }
    setSearch(out);
  };
  return [params, update];
}

type Editing = { user: User | null } | null;

export function UsersPage() {
  const { t } = useTranslation();
  const [params, setParams] = useUsersParams();
  const users = useUsers(params);
  const me = useCurrentAdmin();
  const sudo = me.data?.is_sudo ?? false;
  const admins = useAdmins(sudo);
  const templates = useTemplates();
  const inbounds = useInbounds();
  const [searchText, setSearchText] = useState(params.search);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [editing, setEditing] = useState<Editing>(null);
  const [cleanup, setCleanup] = useState(false);
  const [message, setMessage] = useState<string | null>(null);

  const action = useUserMutation(
    ({ run }: { name: string; run: () => Promise<unknown>; done: string }) => run(),
    ({ name }) => [name],
  );
  const bulk = useUserMutation(({ request, names }: { request: BulkRequest; names: string[] }) => bulkUsers(request, names), ({ names }) => names);
  const resetAll = useUserMutation(() => userRequests.resetAll());

  function run(name: string, runIt: () => Promise<unknown>, done: string) {
    setMessage(null);
    action.mutate(
      { name, run: runIt, done },
      {
        onSuccess: () => {
          setMessage(done);
        },
      },
    );
  }

  function runBulk(request: BulkRequest) {
    setMessage(null);
    bulk.mutate(
      { request, names: [...selected] },
      {
        onSuccess: (r) => {
          setSelected(new Set());
          const first = r.skipped[0];
          setMessage(
            t('bulk.done', { count: r.changed }) +
              (first ? ` ${t('bulk.skipped', { count: r.skipped.length, first: `${first.username}: ${first.reason}` })}` : ''),
          );
        },
      },
    );
  }

  function submitSearch(e: SyntheticEvent) {
    e.preventDefault();
    setParams({ search: searchText.trim() });
  }

  const rows = users.data?.users ?? [];
  const total = users.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / params.size));
  const allOnPage = rows.length > 0 && rows.every((u) => selected.has(u.username));
  const toggle = (name: string) => {
    const next = new Set(selected);
    if (next.has(name)) {
      next.delete(name);
    } else {
      next.add(name);
    }
    setSelected(next);
  };
  const sortBy = (field: string) => {
    setParams({ sort: params.sort === field ? `-${field}` : field });
  };
  const sortMark = (field: string) => (params.sort === field ? ' ↑' : params.sort === `-${field}` ? ' ↓' : '');
  const header = (field: string, label: string) => (
    <Table.Th aria-sort={params.sort === field ? 'ascending' : params.sort === `-${field}` ? 'descending' : undefined}>
      <UnstyledButton
        fw={600}
        fz="sm"
        onClick={() => {
          sortBy(field);
        }}
      >
        {label}
        {sortMark(field)}
      </UnstyledButton>
    </Table.Th>
  );
  const owners = sudo ? (admins.data ?? []).map((a) => a.username) : null;
  const error = action.error ?? bulk.error ?? resetAll.error;

  return (
    <Page
      title={t('nav.users')}
      actions={
        <>
          <Button
            onClick={() => {
              void templates.refetch();
              setEditing({ user: null });
            }}
          >
            {t('users.new')}
          </Button>
          <Button
            variant="default"
            onClick={() => {
              setCleanup(true);
            }}
          >
            {t('users.cleanup')}
          </Button>
          {sudo && (
            <Button
              variant="default"
              onClick={() => {
                confirmThen(t('users.resetAllConfirm'), () => {
                  resetAll.mutate(undefined, {
                    onSuccess: () => {
                      setMessage(t('users.resetAllDone'));
                    },
                  });
                });
              }}
            >
              {t('users.resetAll')}
            </Button>
          )}
        </>
      }
    >
      <Paper withBorder p="sm">
        <Group gap="xs" align="flex-end" wrap="wrap">
          <form onSubmit={submitSearch} role="search" style={{ display: 'flex', gap: 8, alignItems: 'flex-end', flexWrap: 'wrap' }}>
            <TextInput
              label={t('users.search')}
              placeholder={t('users.searchHint')}
              value={searchText}
              onChange={(e) => {
                setSearchText(e.currentTarget.value);
              }}
            />
            <Button type="submit" variant="light">
              {t('users.searchButton')}
            </Button>
          </form>
          <NativeSelect
            label={t('users.status')}
            value={params.status}
            data={[{ value: '', label: t('users.anyStatus') }, ...statuses.map((s) => ({ value: s, label: t(`status.${s}`) }))]}
            onChange={(e) => {
              setParams({ status: e.currentTarget.value });
            }}
          />
          <NativeSelect
            label={t('users.expiring')}
            value={String(params.expiring)}
            data={[{ value: '0', label: t('users.expiringAny') }, ...expiringChoices.map((d) => ({ value: String(d), label: t('users.expiringDays', { days: d }) }))]}
            onChange={(e) => {
              setParams({ expiring: Number(e.currentTarget.value) });
            }}
          />
          <NativeSelect
            label={t('users.dataLeft')}
            value={String(params.dataLeft)}
            data={[{ value: '0', label: t('users.dataLeftAny') }, ...dataLeftChoices.map((p) => ({ value: String(p), label: t('users.dataLeftPercent', { percent: p }) }))]}
            onChange={(e) => {
              setParams({ dataLeft: Number(e.currentTarget.value) });
            }}
          />
          <Checkbox
            mb={8}
            label={t('users.onHold')}
            checked={params.onHold}
            onChange={(e) => {
              setParams({ onHold: e.currentTarget.checked });
            }}
          />
          {sudo && (
            <NativeSelect
              label={t('users.owner')}
              value={params.owner}
              data={[{ value: '', label: t('users.anyOwner') }, ...(owners ?? []).map((a) => ({ value: a, label: a }))]}
              onChange={(e) => {
                setParams({ owner: e.currentTarget.value });
              }}
            />
          )}
          <NativeSelect
            label={t('users.sort')}
            value={params.sort}
            data={[
              { value: '', label: t('users.sortDefault') },
              ...sortFields.flatMap((f) => [
                { value: f, label: `${t(`users.sortField.${f}`)} ↑` },
                { value: `-${f}`, label: `${t(`users.sortField.${f}`)} ↓` },
              ]),
            ]}
            onChange={(e) => {
              setParams({ sort: e.currentTarget.value });
            }}
          />
          <NativeSelect
            label={t('users.pageSize')}
            value={String(params.size)}
            data={pageSizes.map((s) => String(s))}
            onChange={(e) => {
              setParams({ size: Number(e.currentTarget.value) });
            }}
          />
        </Group>
      </Paper>
      <ActionStatus message={message} />
      {error && <PageError error={error} />}
      <BulkBar
        count={selected.size}
        busy={bulk.isPending}
        inbounds={inbounds.data}
        owners={owners}
        onAction={runBulk}
        onClear={() => {
          setSelected(new Set());
        }}
      />
      {users.isPending && <PageLoading />}
      {users.isError && (
        <PageError
          error={users.error}
          onRetry={() => {
            void users.refetch();
          }}
        />
      )}
      {users.isSuccess && rows.length === 0 && (
        <Empty>{params.search || params.status || params.owner || params.expiring || params.onHold || params.dataLeft ? t('users.noMatch') : t('users.empty')}</Empty>
      )}
      {rows.length > 0 && (
        <Table className="cards-on-phone" striped highlightOnHover verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={36}>
                <Checkbox
                  aria-label={t('users.selectPage')}
                  checked={allOnPage}
                  indeterminate={!allOnPage && rows.some((u) => selected.has(u.username))}
                  onChange={() => {
                    const next = new Set(selected);
                    for (const u of rows) {
                      if (allOnPage) {
                        next.delete(u.username);
                      } else {
                        next.add(u.username);
                      }
                    }
                    setSelected(next);
                  }}
                />
              </Table.Th>
              {header('username', t('users.col.username'))}
              <Table.Th>{t('users.col.status')}</Table.Th>
              {header('used_traffic', t('users.col.usage'))}
              {header('expire', t('users.col.expires'))}
              <Table.Th>{t('users.col.online')}</Table.Th>
              <Table.Th>{t('users.col.actions')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((u) => (
              <Table.Tr key={u.username} data-username={u.username}>
                <Table.Td data-label="">
                  <Checkbox
                    aria-label={t('users.select', { name: u.username })}
                    checked={selected.has(u.username)}
                    onChange={() => {
                      toggle(u.username);
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
                        // Admins and templates made elsewhere since the page loaded.
                        if (sudo) {
                          void admins.refetch();
                        }
                        void templates.refetch();
                        setEditing({ user: u });
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
                          run(u.username, () => userRequests.nextPlan(u.username), t('users.nextPlanDone', { name: u.username }));
                        }}
                      >
                        {t('users.nextPlanNow')}
                      </Button>
                    )}
                    <Button
                      size="compact-xs"
                      variant="subtle"
                      onClick={() => {
                        confirmThen(t('users.resetConfirm', { name: u.username }), () => {
                          run(u.username, () => userRequests.reset(u.username), t('users.resetDone', { name: u.username }));
                        });
                      }}
                    >
                      {t('users.reset')}
                    </Button>
                    <Button
                      size="compact-xs"
                      variant="subtle"
                      onClick={() => {
                        confirmThen(t('users.revokeConfirm', { name: u.username }), () => {
                          run(u.username, () => userRequests.revoke(u.username), t('users.revokeDone', { name: u.username }));
                        });
                      }}
                    >
                      {t('users.revoke')}
                    </Button>
                    <Button
                      size="compact-xs"
                      variant="subtle"
                      color="red"
                      onClick={() => {
                        confirmThen(t('users.deleteConfirm', { name: u.username }), () => {
                          run(u.username, () => userRequests.remove(u.username), t('users.deleteDone', { name: u.username }));
                        });
                      }}
                    >
                      {t('common.delete')}
                    </Button>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {total > 0 && (
        <Group component="nav" aria-label={t('users.pages')} justify="space-between" wrap="wrap">
          <Text size="sm">{t('users.pageOf', { page: params.page, pages, total: formatCount(total), count: total })}</Text>
          <Pagination
            total={pages}
            value={params.page}
            onChange={(page) => {
              setParams({ page });
            }}
            getControlProps={(control) => ({ 'aria-label': t(`users.pager.${control}`) })}
            getItemProps={(page) => ({ 'aria-label': t('users.pager.page', { page }) })}
          />
        </Group>
      )}
      <Drawer
        closeButtonProps={{ 'aria-label': t('common.close') }}
        opened={editing !== null}
        onClose={() => {
          setEditing(null);
        }}
        title={editing?.user ? t('userForm.editTitle', { name: editing.user.username }) : t('userForm.newTitle')}
        position="right"
        size="md"
      >
        {editing && (
          <UserForm
            user={editing.user}
            templates={templates.data ?? []}
            inbounds={inbounds.data ?? {}}
            owners={owners}
            onDone={(done) => {
              setEditing(null);
              setMessage(done);
            }}
            onCancel={() => {
              setEditing(null);
            }}
          />
        )}
      </Drawer>
      <CleanupModal
        opened={cleanup}
        onClose={() => {
          setCleanup(false);
        }}
        onDeleted={(text) => {
          setCleanup(false);
          setMessage(text);
        }}
      />
    </Page>
  );
}
