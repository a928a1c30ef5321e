import { NativeSelect } from '@mantine/core';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { Page } from '../../components/PageState';
import { LogView } from '../../features/logs/LogView';
import { useNodes } from '../../features/nodes/api';

/**
 * Live Xray log lines of every node, or of one (WS /api/core/logs).
 * Nothing streams until Watch is pressed.
 */
export function LogsPage() {
  const { t } = useTranslation();
  const nodes = useNodes();
  // A node's own log, linked from the Nodes page as /logs?node=<id>.
  const [search] = useSearchParams();
  const [nodeID, setNodeID] = useState(search.get('node') ?? '');
  return (
    <Page title={t('nav.logs')}>
      <LogView
        path="/api/core/logs"
        params={nodeID === '' ? {} : { node_id: nodeID }}
        controls={
          <NativeSelect
            label={t('logs.node')}
            value={nodeID}
            onChange={(e) => {
              setNodeID(e.currentTarget.value);
            }}
            data={[{ value: '', label: t('logs.allNodes') }, ...(nodes.data ?? []).map((n) => ({ value: String(n.id), label: n.name }))]}
          />
        }
      />
    </Page>
  );
}
