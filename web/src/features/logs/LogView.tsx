import { Button, Group, Paper, Text, TextInput } from '@mantine/core';
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { loadToken } from '../../lib/session';

/** Marzban's close codes of the log sockets (backend/api/logs.go). */
const closeReasons: Partial<Record<number, string>> = {
  4400: 'logs.closed4400',
  4403: 'logs.closed4403',
  4404: 'logs.closed4404',
};

/**
 * Live Xray log lines from one of the panel's log sockets (path, e.g.
 * /api/core/logs or /api/node/{id}/logs, with params added to the token;
 * lines come batched each second). The socket is open while this is
 * mounted and watching: nodes send lines only while somebody watches.
 * Pause keeps the socket and holds new lines back; the filter only hides
 * lines. controls go before the filter (the Logs page's node choice); a
 * change of path or params reopens the socket.
 */
export function LogView({
  path,
  params = {},
  watchAtStart = false,
  keepLines = 1000,
  className = 'log-lines',
  controls,
}: {
  path: string;
  params?: Record<string, string>;
  watchAtStart?: boolean;
  keepLines?: number;
  className?: string;
  controls?: ReactNode;
}) {
  const { t } = useTranslation();
  const [watching, setWatching] = useState(watchAtStart);
  const [paused, setPaused] = useState(false);
  const [filter, setFilter] = useState('');
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState<string | null>(null);
  const held = useRef<string[]>([]);
  const pausedRef = useRef(paused);
  const box = useRef<HTMLPreElement>(null);
  const query = new URLSearchParams(params).toString();

  useEffect(() => {
    pausedRef.current = paused;
    if (!paused && held.current.length > 0) {
      const batch = held.current;
      held.current = [];
      setLines((old) => [...old, ...batch].slice(-keepLines));
    }
  }, [paused, keepLines]);

  useEffect(() => {
    if (!watching) {
      return;
    }
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const q = new URLSearchParams(query);
    q.set('token', loadToken() ?? '');
    q.set('interval', '1');
    const ws = new WebSocket(`${scheme}://${window.location.host}${path}?${q.toString()}`);
    let stopped = false;
    ws.onopen = () => {
      setStatus(t('logs.watchingStatus'));
    };
    ws.onmessage = (e: MessageEvent<string>) => {
      const batch = e.data.split('\n');
      if (pausedRef.current) {
        held.current = [...held.current, ...batch].slice(-keepLines);
        return;
      }
      setLines((old) => [...old, ...batch].slice(-keepLines));
    };
    ws.onclose = (e) => {
      if (stopped) {
        return;
      }
      setWatching(false);
      setStatus(t('logs.stoppedBecause', { reason: t(closeReasons[e.code] ?? 'logs.closedOther') }));
    };
    return () => {
      stopped = true;
      ws.close();
    };
  }, [watching, path, query, keepLines, t]);

  useEffect(() => {
    const el = box.current;
    if (el && !paused) {
      el.scrollTop = el.scrollHeight;
    }
  }, [lines, paused]);

  const needle = filter.toLowerCase();
  const shown = needle === '' ? lines : lines.filter((l) => l.toLowerCase().includes(needle));
  return (
    <>
      <Group gap="xs" align="flex-end" wrap="wrap">
        {controls}
        <TextInput
          label={t('logs.filter')}
          value={filter}
          onChange={(e) => {
            setFilter(e.currentTarget.value);
          }}
          style={{ flex: '1 1 10rem' }}
        />
        <Button
          onClick={() => {
            setStatus(watching ? t('logs.stopped') : null);
            setPaused(false);
            setWatching(!watching);
          }}
        >
          {watching ? t('logs.stop') : t('logs.watch')}
        </Button>
        <Button
          variant="default"
          disabled={!watching}
          aria-pressed={paused}
          onClick={() => {
            setPaused(!paused);
          }}
        >
          {paused ? t('logs.resume') : t('logs.pause')}
        </Button>
        <Button
          variant="default"
          onClick={() => {
            setLines([]);
          }}
        >
          {t('logs.clear')}
        </Button>
      </Group>
      {status !== null && (
        <Text size="sm" c="dimmed" role="status">
          {status}
        </Text>
      )}
      <Paper withBorder p={0}>
        <pre className={className} ref={box} role="log" aria-label={t('logs.lines')} tabIndex={0}>
          {shown.length === 0 ? (watching ? t('logs.noLines') : t('logs.pressWatch')) : shown.join('\n')}
        </pre>
      </Paper>
    </>
  );
}
