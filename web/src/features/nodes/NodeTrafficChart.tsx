import { BarChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { Text } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { PageLoading } from '../../components/PageState';
import { formatBytes, formatDate } from '../../lib/format';
import { useNow } from '../../lib/useNow';
import { useNodesDaily } from './api';

/** One node's up- and downlink per UTC day over the last week, from
 * GET /api/nodes/usage per day. Its own chunk: loaded when a node is opened. */
export default function NodeTrafficChart({ nodeID }: { nodeID: number }) {
  const { t } = useTranslation();
  const days = useNodesDaily(7, useNow(60_000));
  if (days.some((d) => d.isPending)) {
    return <PageLoading />;
  }
  const failed = days.find((d) => d.isError);
  if (failed) {
    return (
      <Text c="red" size="sm" role="alert">
        {failed.error.message}
      </Text>
    );
  }
  const data = days.map((d) => {
    const u = d.data?.usages.find((x) => x.node_id === nodeID);
    const day = d.data?.day ?? '';
    return { day: formatDate(Date.parse(`${day}T00:00:00Z`) / 1000), up: u?.uplink ?? 0, down: u?.downlink ?? 0 };
  });
  return (
    <BarChart
      h={180}
      data={data}
      dataKey="day"
      type="stacked"
      series={[
        { name: 'up', label: t('nodes.uplink'), color: 'indigo.6' },
        { name: 'down', label: t('nodes.downlink'), color: 'teal.6' },
      ]}
      valueFormatter={formatBytes}
      yAxisProps={{ tickFormatter: formatBytes, width: 70 }}
    />
  );
}
