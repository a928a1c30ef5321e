import { createBrowserRouter, Navigate } from 'react-router';
import { Shell } from './Shell';
import { LoginPage } from './routes/Login';
import { OverviewPage } from './routes/Overview';
import { RouteError } from './routes/RouteError';

// Every page but the first is its own chunk, loaded when first visited.
export const router = createBrowserRouter(
  [
    { path: '/login', element: <LoginPage /> },
    {
      path: '/',
      element: <Shell />,
      errorElement: <RouteError />,
      children: [
        { index: true, element: <OverviewPage /> },
        { path: 'users', lazy: async () => ({ Component: (await import('./routes/Users')).UsersPage }) },
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
        { path: '*', element: <Navigate to="/" replace /> },
      ],
    },
  ],
  { basename: '/dashboard' },
);
