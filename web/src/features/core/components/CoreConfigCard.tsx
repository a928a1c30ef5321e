import { getCoreConfig, getHosts, putCoreConfig, putHosts } from '../api';
import { JsonEditorCard } from './JsonEditorCard';

interface CardProps {
  token: string;
  onUnauthorized: () => void;
}

/** The Xray config every node runs (sudo). */
export function CoreConfigCard({ token, onUnauthorized }: CardProps) {
  return (
    <JsonEditorCard
      title="Core config"
      label="Xray config (JSON)"
      help="The Xray config every node runs; users are added by the panel. Xray's own builder checks it before it is saved. Nodes apply it with their next update, rebuilding only the inbounds that changed."
      savedText="Saved. Nodes apply it with their next update."
      token={token}
      load={getCoreConfig}
      save={putCoreConfig}
      onUnauthorized={onUnauthorized}
    />
  );
}

/** Hosts: how subscription links reach each inbound (sudo). */
export function HostsCard({ token, onUnauthorized }: CardProps) {
  return (
    <JsonEditorCard
      title="Hosts"
      label="Hosts (JSON)"
      help="Per inbound tag, the addresses (and SNI, host, path, port...) subscription links use, one link per host; variables such as {SERVER_IP} and {USERNAME} are filled in. A tag set to [] gives no links; a tag left out uses the default host."
      savedText="Saved. Subscriptions use the new hosts from the next fetch."
      token={token}
      load={getHosts}
      save={putHosts}
      onUnauthorized={onUnauthorized}
    />
  );
}
