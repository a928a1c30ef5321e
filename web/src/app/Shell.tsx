import { AppShell, Burger, Button, Group, NativeSelect, NavLink, SegmentedControl, Text, Title, useDirection, useMantineColorScheme } from '@mantine/core';
import { useDisclosure, useMediaQuery } from '@mantine/hooks';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Suspense, useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, NavLink as RouterLink, Outlet, useLocation, useNavigate } from 'react-router';
import { PageLoading } from '../components/PageState';
import { useCurrentAdmin } from '../features/admin/api';
import { directionOf, languages, rememberLanguage, type Language } from '../i18n';
import { api, setUnauthorizedHandler } from '../lib/api/client';
import { useEventsSocket } from '../lib/events';
import { clearToken, useToken } from '../lib/session';

interface Page {
  to: string;
  key: string;
  sudo: boolean;
}

const pages: Page[] = [
  { to: '/', key: 'nav.overview', sudo: false },
  { to: '/users', key: 'nav.users', sudo: false },
  { to: '/nodes', key: 'nav.nodes', sudo: true },
  { to: '/hosts', key: 'nav.hosts', sudo: true },
  { to: '/core', key: 'nav.core', sudo: true },
  { to: '/templates', key: 'nav.templates', sudo: false },
  { to: '/admins', key: 'nav.admins', sudo: true },
  { to: '/settings', key: 'nav.settings', sudo: true },
  { to: '/logs', key: 'nav.logs', sudo: true },
  { to: '/backups', key: 'nav.backups', sudo: true },
  { to: '/audit', key: 'nav.audit', sudo: false },
  { to: '/security', key: 'nav.security', sudo: false },
];

export function LanguagePicker() {
  const { t, i18n } = useTranslation();
  const { setDirection } = useDirection();
  return (
    <NativeSelect
      aria-label={t('shell.language')}
      value={i18n.language}
      data={languages.map((l) => ({ value: l.code, label: l.label }))}
      onChange={(e) => {
        const code = e.currentTarget.value as Language;
        rememberLanguage(code);
        void i18n.changeLanguage(code);
        const dir = directionOf(code);
        setDirection(dir);
        document.documentElement.dir = dir;
        document.documentElement.lang = code;
      }}
      w={110}
    />
  );
}

export function ThemePicker() {
  const { t } = useTranslation();
  const { colorScheme, setColorScheme } = useMantineColorScheme();
  return (
    <SegmentedControl
      aria-label={t('shell.theme')}
      size="xs"
      value={colorScheme}
      onChange={(v) => {
        setColorScheme(v);
      }}
      data={[
        { value: 'light', label: t('shell.light') },
        { value: 'dark', label: t('shell.dark') },
        { value: 'auto', label: t('shell.system') },
      ]}
    />
  );
}

/** The sign-in session a token belongs to (its sid claim), if any. */
function sessionOfToken(token: string): number | null {
  try {
    const payload: unknown = JSON.parse(atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/')));
    return typeof payload === 'object' && payload !== null && 'sid' in payload && typeof payload.sid === 'number' ? payload.sid : null;
  } catch {
    return null;
  }
}

/** The signed-in frame: header, navigation and the page. */
export function Shell() {
  const token = useToken();
  const location = useLocation();
  if (token === null) {
    const next = location.pathname + location.search;
    return <Navigate to={`/login${next === '/' ? '' : `?next=${encodeURIComponent(next)}`}`} replace />;
  }
  return <SignedIn token={token} />;
}

function SignedIn({ token }: { token: string }) {
  const { t } = useTranslation();
  const [opened, { toggle, close }] = useDisclosure();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const admin = useCurrentAdmin();
  const live = useEventsSocket(token);
  const location = useLocation();

  useEffect(() => {
    setUnauthorizedHandler(() => {
      queryClient.clear();
      void navigate('/login?expired=1', { replace: true });
    });
  }, [navigate, queryClient]);
  useEffect(close, [location.pathname, close]);
  // Signing out ends the session on the panel too, so the token is dead
  // even if a copy of it was taken; the page signs out whatever the answer.
  const signOut = useMutation({
    mutationFn: async () => {
      const sid = sessionOfToken(token);
      if (sid !== null) {
        await api.DELETE('/api/admin/sessions/{id}', { params: { path: { id: sid } }, headers: { Authorization: `Bearer ${token}` } });
      }
    },
    onSettled: () => {
      clearToken();
      queryClient.clear();
      void navigate('/login', { replace: true });
    },
  });

  const sudo = admin.data?.is_sudo ?? false;
  // One set of pickers: in the header on a wide screen, in the menu on a phone.
  const wide = useMediaQuery('(min-width: 48em)', true);
  return (
    <AppShell header={{ height: 60 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={t('shell.menu')} />
            <Title order={1} size="h4">
              Outpost
            </Title>
          </Group>
          {wide && (
            <Group gap="xs" wrap="nowrap">
              <LanguagePicker />
              <ThemePicker />
            </Group>
          )}
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label={t('shell.navigation')}>
        <AppShell.Section grow component="nav" aria-label={t('shell.pages')}>
          {pages
            .filter((p) => sudo || !p.sudo)
            .map((p) => (
              <NavLink key={p.to} component={RouterLink} to={p.to} end={p.to === '/'} label={t(p.key)} />
            ))}
        </AppShell.Section>
        <AppShell.Section>
          {!wide && (
            <Group gap="xs" mb="xs">
              <LanguagePicker />
              <ThemePicker />
            </Group>
          )}
          <Text size="sm" c="dimmed" mb={4} data-live={live}>
            {admin.data ? t('shell.signedInAs', { name: admin.data.username }) : ''}
            {live ? '' : ` · ${t('shell.offlineUpdates')}`}
          </Text>
          <Button
            variant="light"
            fullWidth
            loading={signOut.isPending}
            onClick={() => {
              signOut.mutate();
            }}
          >
            {t('shell.signOut')}
          </Button>
        </AppShell.Section>
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<PageLoading />}>
          <Outlet />
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}
