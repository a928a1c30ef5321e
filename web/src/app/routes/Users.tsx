import { Button, Checkbox, Drawer, Group, NativeSelect, Pagination, Paper, Table, Text, TextInput, UnstyledButton } from '@mantine/core';
import { useCallbackRef } from '@mantine/hooks';
import { memo, useCallback, useLayoutEffect, useMemo, useRef, useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
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
  usersParamsFrom,
  usersSearchOf,
  type BulkRequest,
  type User,
  type UsersParams,
} from '../../features/users/api';
import { BulkBar } from '../../features/users/components/BulkBar';
import { CleanupModal } from '../../features/users/components/CleanupModal';
import { UserForm } from '../../features/users/components/UserForm';
import { UserRow, type RowAction } from '../../features/users/components/UserRow';
import { formatCount } from '../../lib/format';

/** The table's filters, read from and written to the URL. The params
 * keep their identity while the URL's query string does. */
function useUsersParams(): [UsersParams, (change: Partial<UsersParams>) => void] {
  const [search, setSearch] = useSearchParams();
  const query = search.toString();
  // eslint-disable-next-line react-hooks/exhaustive-deps -- the string is what matters, not the object
  const params = useMemo(() => usersParamsFrom(search), [query]);
  // The filters as last asked for. The URL (and so params) changes only
  // once the router has navigated, which is not before the next click:
  // two quick changes built on params would lose the first one (the "any
  // time" of Expiring undone by the next "on hold only").
  const latest = useRef(params);
  useLayoutEffect(() => {
    latest.current = params; // back, forward, a link: the URL wins
  }, [params]);
  const update = useCallbackRef((change: Partial<UsersParams>) => {
    latest.current = { ...latest.current, page: 1, ...change };
    setSearch(usersSearchOf(latest.current));
  });
  return [params, update];
}

/** The search box: its text is its own state, so typing re-renders only it. */
const SearchForm = memo(function SearchForm({ value, onSearch }: { value: string; onSearch: (text: string) => void }) {
  const { t } = useTranslation();
  const [text, setText] = useState(value);
  // A search from the URL (back, a link) shows in the box.
  const [shown, setShown] = useState(value);
  if (shown !== value) {
    setShown(value);
    setText(value);
  }
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    onSearch(text.trim());
  }
  return (
    <form onSubmit={submit} role="search" style={{ display: 'flex', gap: 8, alignItems: 'flex-end', flexWrap: 'wrap' }}>
      <TextInput
        label={t('users.search')}
        placeholder={t('users.searchHint')}
        value={text}
        onChange={(e) => {
          setText(e.currentTarget.value);
        }}
      />
      <Button type="submit" variant="light">
        {t('users.searchButton')}
      </Button>
    </form>
  );
});

/** The filters; renders again only when they or the owners change. */
const FilterBar = memo(function FilterBar({
  params,
  setParams,
  owners,
}: {
  params: UsersParams;
  setParams: (change: Partial<UsersParams>) => void;
  owners: string[] | null;
}) {
  const { t } = useTranslation();
  const onSearch = useCallback(
    (text: string) => {
      setParams({ search: text });
    },
    [setParams],
  );
  return (
    <Paper withBorder p="sm">
      <Group gap="xs" align="flex-end" wrap="wrap">
        <SearchForm value={params.search} onSearch={onSearch} />
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
        {owners !== null && (
          <NativeSelect
            label={t('users.owner')}
            value={params.owner}
            data={[{ value: '', label: t('users.anyOwner') }, ...owners.map((a) => ({ value: a, label: a }))]}
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
  );
});

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

  const rows = users.data?.users ?? [];
  const total = users.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / params.size));
  const allOnPage = rows.length > 0 && rows.every((u) => selected.has(u.username));
  const toggle = useCallback((name: string) => {
    setSelected((was) => {
      const next = new Set(was);
      if (next.has(name)) {
        next.delete(name);
      } else {
        next.add(name);
      }
      return next;
    });
  }, []);
  const edit = useCallbackRef((u: User) => {
    // Admins and templates made elsewhere since the page loaded.
    if (sudo) {
      void admins.refetch();
    }
    void templates.refetch();
    setEditing({ user: u });
  });
  const rowAction = useCallbackRef((kind: RowAction, u: User) => {
    const name = u.username;
    switch (kind) {
      case 'nextPlan':
        run(name, () => userRequests.nextPlan(name), t('users.nextPlanDone', { name }));
        return;
      case 'reset':
        confirmThen(t('users.resetConfirm', { name }), () => {
          run(name, () => userRequests.reset(name), t('users.resetDone', { name }));
        });
        return;
      case 'revoke':
        confirmThen(t('users.revokeConfirm', { name }), () => {
          run(name, () => userRequests.revoke(name), t('users.revokeDone', { name }));
        });
        return;
      case 'delete':
        confirmThen(t('users.deleteConfirm', { name }), () => {
          run(name, () => userRequests.remove(name), t('users.deleteDone', { name }));
        });
        return;
    }
  });
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
  const owners = useMemo(() => (sudo ? (admins.data ?? []).map((a) => a.username) : null), [sudo, admins.data]);
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
      <FilterBar params={params} setParams={setParams} owners={owners} />
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
              <UserRow key={u.username} user={u} selected={selected.has(u.username)} onToggle={toggle} onEdit={edit} onAction={rowAction} />
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
