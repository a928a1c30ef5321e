import { DirectionProvider, MantineProvider, createTheme, localStorageColorSchemeManager } from '@mantine/core';
import { ModalsProvider } from '@mantine/modals';
import { Notifications } from '@mantine/notifications';
import { QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from 'react-router';
import i18n, { directionOf } from '../i18n';
import { queryClient } from '../lib/queryClient';
import { router } from './router';

const theme = createTheme({
  primaryColor: 'indigo',
  // Shade 8 in the light scheme: white on it, and it on white, pass WCAG AA
  // (axe-core checks every page in web/e2e).
  primaryShade: { light: 8, dark: 7 },
  defaultRadius: 'md',
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Vazirmatn, Tahoma, "Noto Sans SC", sans-serif',
});

const colorSchemeManager = localStorageColorSchemeManager({ key: 'outpost.color-scheme' });

const dir = directionOf(i18n.language);
document.documentElement.dir = dir;
document.documentElement.lang = i18n.language;

export function App() {
  return (
    <DirectionProvider initialDirection={dir} detectDirection={false}>
      <MantineProvider theme={theme} defaultColorScheme="auto" colorSchemeManager={colorSchemeManager}>
        <ModalsProvider>
          <Notifications position="top-center" />
          <QueryClientProvider client={queryClient}>
            <RouterProvider router={router} />
          </QueryClientProvider>
        </ModalsProvider>
      </MantineProvider>
    </DirectionProvider>
  );
}
