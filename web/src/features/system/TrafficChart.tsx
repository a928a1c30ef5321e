// The overview's traffic chart: its own chunk (recharts is large), loaded
// by Overview.tsx with React.lazy so the first page's JS stays small.

import { AreaChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { useTranslation } from 'react-i18next';
import { formatBytes } from '../../lib/format';

export interface ChartPoint {
  label: string;
  up: number;
  down: number;
}

/** Up- and downlink per bucket; summary is the chart's accessible name. */
export default function TrafficChart({ data, summary }: { data: ChartPoint[]; summary: string }) {
  const { t } = useTranslation();
  return (
    <div role="img" aria-label={summary} data-chart-points={data.length}>
      <AreaChart
        h={220}
        data={data}
        dataKey="label"
        type="stacked"
        curveType="monotone"
        withDots={data.length <= 31}
        series={[
          { name: 'up', label: t('overview.uplink'), color: 'indigo.6' },
          { name: 'down', label: t('overview.downlink'), color: 'teal.6' },
        ]}
        valueFormatter={formatBytes}
        yAxisProps={{ tickFormatter: formatBytes, width: 70 }}
        withLegend
      />
    </div>
  );
}
