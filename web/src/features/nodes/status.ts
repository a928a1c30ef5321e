import type { TFunction } from 'i18next';
import { formatCount, formatDuration } from '../../lib/format';
import type { PanelNode } from './api';

/** "Connected", or "Offline for 12 min, serving revision 4,812 of 4,820":
 * how long since the panel last heard the node, and what it still serves
 * against what the panel is at. */
export function liveStatus(t: TFunction, n: PanelNode, now: Date): string {
  const revisions = { applied: formatCount(n.applied_revision), current: formatCount(Math.max(n.panel_revision, n.applied_revision)) };
  if (n.status === 'connected') {
    return n.applied_revision < n.panel_revision ? t('nodes.connectedBehind', revisions) : t('nodes.status.connected');
  }
  if (n.status === 'disabled') {
    return t('nodes.status.disabled');
  }
  if (n.last_seen === null) {
    return t('nodes.neverConnected');
  }
  const since = now.getTime() - new Date(n.last_seen).getTime();
  return t('nodes.offlineFor', { duration: formatDuration(since), ...revisions });
}
