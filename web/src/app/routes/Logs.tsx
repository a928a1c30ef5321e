import { Button, Group, NativeSelect, Paper, Text, TextInput } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { Page } from '../../components/PageState';
import { useNodes } from '../../features/nodes/api';
import { loadToken } from '../../lib/session';

/** Lines kept on screen; older ones scroll away. */
const keepLines = 1000;

/** Marzban's close codes of the log socket (backend/api/logs.go). */
const closeReasons: Partial<Record<number, string>> = {
  4400: 'logs.closed4400',
  4403: 'logs.closed4403',
  4404: 'logs.closed4404',
};

/**
 * Live Xray log lines of every node, or of one (WS /api/core/logs, lines
 * batched each second). Nodes send lines only while somebody watches, so
 * nothing streams until Watch is pressed. Pause keeps the socket and
 * holds new lines back; the filter only hides lines.
 */
export function LogsPage() {
  const { t } = useTranslation();
  const nodes = useNodes();
  const [watching, setWatching] = useState(false);
  const [paused, setPaused] = useState(false);
  // A node's own log, linked from the Nodes page as /logs?node=<id>.
  const [search] = useSearchParams();
  const [nodeID, setNodeID] = useState(search.get('node') ?? '');
  const [filter, setFilter] = useState('');
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState<string | null>(null);
  const held = useRef<string[]>([]);
  const pausedRef = useRef(paused);
  const box = useRef<HTMLPreElement>(null);

  useEffect(() => {
    pausedRef.current = paused;
    if (!paused && held.current.length > 0) {
      const batch = held.current;
      held.current = [];
      setLines((old) => [...old, ...batch].slice(-keepLines));
    }
  }, [paused]);

  useEffect(() => {
    if (!watching) {
      return;
    }
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const params = new URLSearchParams({ token: loadToken() ?? '', interval: '1' });
    if (nodeID !== '') {
      params.set('node_id', nodeID);
    }
    const ws = new WebSocket(`${scheme}://${window.location.host}/api/core/logs?${params.toString()}`);
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
  }, [watching, nodeID, t]);

  useEffect(() => {
    const el = box.current;
    if (el && !paused) {
      el.scrollTop = el.scrollHeight;
    }
  }, [lines, paused]);

  const shown = filter === '' ? lines : lines.filter((l) => l.toLowerCase().includes(filter.toLowerCase()));
  return (
    <Page title={t('nav.logs')}>
      <Group gap="xs" align="flex-end" wrap="wrap">
        <NativeSelect
          label={t('logs.node')}
          value={nodeID}
          onChange={(e) => {
            setNodeID(e.currentTarget.value);
          }}
          data={[{ value: '', label: t('logs.allNodes') }, ...(nodes.data ?? []).map((n) => ({ value: String(n.id), label: n.name }))]}
        />
        <TextInput
          label={t('logs.filter')}
          value={filter}
          onChange={(e) => {
            setFilter(e.currentTarget.value);
          }}
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
        <pre className="log-lines" ref={box} role="log" aria-label={t('logs.lines')} tabIndex={0}>
          {shown.length === 0 ? (watching ? t('logs.noLines') : t('logs.pressWatch')) : shown.join('\n')}
        </pre>
      </Paper>
    </Page>
  );
}
