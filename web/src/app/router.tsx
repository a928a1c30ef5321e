import { createBrowserRouter, Navigate, type LoaderFunctionArgs } from 'react-router';
import { currentAdminQuery } from '../features/admin/api';
import { usersParamsFrom, usersQuery } from '../features/users/api';
import { openEvents } from '../lib/events';
import { queryClient } from '../lib/queryClient';
import { loadToken } from '../lib/session';
import { Shell } from './Shell';
import { LoginPage } from './routes/Login';
import { OverviewPage } from './routes/Overview';
import { RouteError } from './routes/RouteError';

// Loaders start a page's requests as soon as the URL changes, while the
// page's code loads and the Shell and page render, instead of from the
// page's first render (on a loaded machine 0.5 to 1 s later). They do not
// wait for the answers: the page renders at once and shows its data from
// the cache (TanStack Query) when it comes. Without a token they do
// nothing; the Shell sends the browser to the sign-in page.

/** The signed-in frame: the events socket first (see openEvents), then the admin. */
function shellLoader() {
  const token = loadToken();
  if (token !== null) {
    openEvents(queryClient, token);
    queryClient.query(currentAdminQuery).catch(() => undefined);
  }
  return null;
}

/** The users table's page for the filters in the URL. */
function usersLoader({ request }: LoaderFunctionArgs) {
  if (loadToken() !== null) {
    queryClient.query(usersQuery(usersParamsFrom(new URL(request.url).searchParams))).catch(() => undefined);
  }
  return null;
}

// Every page but the first is its own chunk, loaded when first visited.
export const router = createBrowserRouter(
  [
    { path: '/login', element: <LoginPage /> },
    {
      path: '/',
      element: <Shell />,
      loader: shellLoader,
      // Run when the Shell is entered (a sign-in is a navigation from
      // outside it); its data comes from the cache, so never again inside.
      shouldRevalidate: () => false,
      errorElement: <RouteError />,
      children: [
        { index: true, element: <OverviewPage /> },
        { path: 'users', loader: usersLoader, lazy: async () => ({ Component: (await import('./routes/Users')).UsersPage }) },
        { path: 'users/:username', lazy: async () => ({ Component: (await import('./routes/User')).UserPage }) },
        {
          path: 'nodes',
          lazy: async () => ({ Component: (await import('./routes/Nodes')).NodesPage }),
          children: [{ path: ':id', lazy: async () => ({ Component: (await import('./routes/NodeDetail')).NodeDetail }) }],
        },
        { path: 'hosts', lazy: async () => ({ Component: (await import('./routes/Hosts')).HostsPage }) },
        { path: 'core', lazy: async () => ({ Component: (await import('./routes/CoreConfig')).CoreConfigPage }) },
        { path: 'templates', lazy: async () => ({ Component: (await import('./routes/Templates')).TemplatesPage }) },
        { path: 'admins', lazy: async () => ({ Component: (await import('./routes/Admins')).AdminsPage }) },
        { path: 'settings', lazy: async () => ({ Component: (await import('./routes/Settings')).SettingsPage }) },
        { path: 'security', lazy: async () => ({ Component: (await import('./routes/Security')).SecurityPage }) },
        { path: 'audit', lazy: async () => ({ Component: (await import('./routes/Audit')).AuditPage }) },
        { path: 'logs', lazy: async () => ({ Component: (await import('./routes/Logs')).LogsPage }) },
        { path: 'backups', lazy: async () => ({ Component: (await import('./routes/Backups')).BackupsPage }) },
        { path: '*', element: <Navigate to="/" replace /> },
      ],
    },
  ],
  { basename: '/dashboard' },
);
