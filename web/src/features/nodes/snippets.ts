// Ready-to-paste ways to run a node against this panel: the bare command,
// a systemd unit with its environment file, and a docker compose service.
// Flags and variables are bin/node's own (nodes/cmd/node/main.go):
// --panel / NODE_PANEL_URL, --token / NODE_TOKEN, --state-dir /
// NODE_STATE_DIR, --panel-cert-sha256 / NODE_PANEL_CERT_SHA256.

import { certificatePin, nodeCommand, type NodeSettings } from './api';

export interface NodeSnippets {
  command: string;
  systemd: string;
  compose: string;
}

/** Where both the unit and the container keep the node's state. */
const stateDir = '/var/lib/outpost-node';

export function nodeSnippets(token: string, settings: NodeSettings | undefined, origin = window.location.origin): NodeSnippets {
  const pin = certificatePin(settings);
  const command = nodeCommand(token, settings, origin);
  const env: [string, string][] = [
    ['NODE_PANEL_URL', origin],
    ['NODE_TOKEN', token],
    ['NODE_STATE_DIR', stateDir],
    ...(pin ? ([['NODE_PANEL_CERT_SHA256', pin]] as [string, string][]) : []),
  ];
  const systemd = `# As root, with bin/node installed as /usr/local/bin/outpost-node.
# The token goes in a root-only file, not in the world-readable unit.
install -d -m 0700 /etc/outpost
umask 077
cat > /etc/outpost/node.env <<'ENV'
${env.map(([k, v]) => `${k}=${v}`).join('\n')}
ENV
cat > /etc/systemd/system/outpost-node.service <<'UNIT'
[Unit]
Description=Outpost node agent (Xray)
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=/etc/outpost/node.env
ExecStart=/usr/local/bin/outpost-node
# The node serves from its last-known-good state without the panel,
# so restarting it is always right.
Restart=always
RestartSec=2s
LimitNOFILE=1048576
# ${stateDir}: last-known-good config and the usage journal.
StateDirectory=outpost-node
StateDirectoryMode=0700
DynamicUser=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload && systemctl enable --now outpost-node`;
  const compose = `# compose.yaml in a checkout of the Outpost source (the image is built
# from deploy/Dockerfile.node); then: docker compose up -d --build
services:
  outpost-node:
    build:
      context: .
      dockerfile: deploy/Dockerfile.node
    image: outpost-node
    restart: always
    # Xray's ports come from the panel's core config at run time.
    network_mode: host
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    environment:
${env.map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n')}
    volumes:
      - node-state:${stateDir}
volumes:
  node-state:`;
  return { command, systemd, compose };
}
