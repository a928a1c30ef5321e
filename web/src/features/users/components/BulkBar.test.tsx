import { MantineProvider } from '@mantine/core';
import { ModalsProvider } from '@mantine/modals';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeAll, expect, test } from 'vitest';
import '../../../i18n';
import type { BulkRequest } from '../api';
import { BulkBar } from './BulkBar';

beforeAll(() => {
  // jsdom has no media queries; Mantine asks for the colour scheme.
  window.matchMedia = (query: string) =>
    ({ matches: false, media: query, onchange: null, addEventListener: () => undefined, removeEventListener: () => undefined, dispatchEvent: () => false }) as unknown as MediaQueryList;
  // Nor ResizeObserver, which the inbounds picker's dropdown asks for.
  window.ResizeObserver = class {
    observe() {
      return undefined;
    }
    unobserve() {
      return undefined;
    }
    disconnect() {
      return undefined;
    }
  };
});

afterEach(cleanup);

function renderBar(count: number, owners: string[] | null = null) {
  const actions: BulkRequest[] = [];
  let cleared = 0;
  render(
    <MantineProvider>
      <ModalsProvider>
        <BulkBar
          count={count}
          busy={false}
          owners={owners}
          inbounds={{ vless: [{ tag: 'VLESS A', protocol: 'vless', network: 'tcp', tls: 'none', port: 1 }] }}
          onAction={(a) => actions.push(a)}
          onClear={() => {
            cleared++;
          }}
        />
      </ModalsProvider>
    </MantineProvider>,
  );
  return { actions, cleared: () => cleared };
}

test('nothing selected: no bar', () => {
  renderBar(0);
  expect(screen.queryByRole('toolbar')).toBeNull();
});

test('says how many are selected; enable and disable act at once', () => {
  const { actions } = renderBar(50);
  expect(screen.getByRole('toolbar', { name: 'Selected users' }).textContent).toContain('50 selected');
  fireEvent.click(screen.getByRole('button', { name: 'Disable' }));
  fireEvent.click(screen.getByRole('button', { name: 'Enable' }));
  expect(actions).toEqual([{ action: 'disable' }, { action: 'enable' }]);
});

test('delete asks first, naming how many; cancel does nothing', async () => {
  const { actions } = renderBar(2);
  fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
  await screen.findByText('Delete 2 users? This cannot be undone.');
  fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
  expect(actions).toEqual([]);
  fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
  fireEvent.click(await screen.findByRole('button', { name: 'Confirm' }));
  expect(actions).toEqual([{ action: 'delete' }]);
});

test('clear empties the selection', () => {
  const bar = renderBar(1);
  fireEvent.click(screen.getByRole('button', { name: 'Clear selection' }));
  expect(bar.cleared()).toBe(1);
});

test('extend by N days and add N GB send their number', () => {
  const { actions } = renderBar(3);
  fireEvent.change(screen.getByLabelText('Days'), { target: { value: '7' } });
  fireEvent.click(screen.getByRole('button', { name: 'Extend expiry' }));
  fireEvent.change(screen.getByLabelText('GB'), { target: { value: '2' } });
  fireEvent.click(screen.getByRole('button', { name: 'Add data' }));
  expect(actions).toEqual([
    { action: 'extend_expiry', days: 7 },
    { action: 'add_data', bytes: 2 * 1024 ** 3 },
  ]);
});

test('change owner is offered to sudo only, and needs an admin chosen', () => {
  renderBar(1);
  expect(screen.queryByRole('button', { name: 'Change owner' })).toBeNull();
  cleanup();
  const { actions } = renderBar(1, ['shop']);
  const change = screen.getByRole('button', { name: 'Change owner' });
  expect(change).toHaveProperty('disabled', true);
  fireEvent.change(screen.getByLabelText('New owner'), { target: { value: 'shop' } });
  fireEvent.click(change);
  expect(actions).toEqual([{ action: 'set_owner', admin_username: 'shop' }]);
});
