import { MantineProvider } from '@mantine/core';
import { ModalsProvider } from '@mantine/modals';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeAll, expect, test } from 'vitest';
import '../../../i18n';
import type { BulkAction } from '../api';
import { BulkBar } from './BulkBar';

beforeAll(() => {
  // jsdom has no media queries; Mantine asks for the colour scheme.
  window.matchMedia = (query: string) =>
    ({ matches: false, media: query, onchange: null, addEventListener: () => undefined, removeEventListener: () => undefined, dispatchEvent: () => false }) as unknown as MediaQueryList;
});

afterEach(cleanup);

function renderBar(count: number) {
  const actions: BulkAction[] = [];
  let cleared = 0;
  render(
    <MantineProvider>
      <ModalsProvider>
        <BulkBar
          count={count}
          busy={false}
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
  expect(actions).toEqual(['disable', 'enable']);
});

test('delete asks first, naming how many; cancel does nothing', async () => {
  const { actions } = renderBar(2);
  fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
  await screen.findByText('Delete 2 users? This cannot be undone.');
  fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
  expect(actions).toEqual([]);
  fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
  fireEvent.click(await screen.findByRole('button', { name: 'Confirm' }));
  expect(actions).toEqual(['delete']);
});

test('clear empties the selection', () => {
  const bar = renderBar(1);
  fireEvent.click(screen.getByRole('button', { name: 'Clear selection' }));
  expect(bar.cleared()).toBe(1);
});
