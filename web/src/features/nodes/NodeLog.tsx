import { LogView } from '../logs/LogView';

/**
 * One node's live Xray log (WS /api/node/{id}/logs). It watches from the
 * start: closing the node view closes the socket, and the node stops
 * streaming when nobody watches.
 */
export function NodeLog({ nodeID }: { nodeID: number }) {
  return <LogView path={`/api/node/${String(nodeID)}/logs`} watchAtStart keepLines={500} className="log-lines node-log" />;
}
