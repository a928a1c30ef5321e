import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import './styles.css';
import { ready } from './i18n';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';

const root = document.getElementById('root');
if (root === null) {
  throw new Error('index.html has no #root element');
}
const mount = root;
// A failed language chunk falls back to English rather than a blank page.
void ready.finally(() => {
  createRoot(mount).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
});
