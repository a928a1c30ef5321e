package render

// Built-in skeletons. Private and special-purpose ranges go direct with
// explicit CIDRs rather than geoip:private / GEOIP,private: those need a
// geo database the client may not ship, and a config that fails to load
// is worse than one without geo rules.

const builtinClashRules = `rules:
  - IP-CIDR,10.0.0.0/8,DIRECT,no-resolve
  - IP-CIDR,100.64.0.0/10,DIRECT,no-resolve
  - IP-CIDR,127.0.0.0/8,DIRECT,no-resolve
  - IP-CIDR,169.254.0.0/16,DIRECT,no-resolve
  - IP-CIDR,172.16.0.0/12,DIRECT,no-resolve
  - IP-CIDR,192.168.0.0/16,DIRECT,no-resolve
  - IP-CIDR6,fc00::/7,DIRECT,no-resolve
  - IP-CIDR6,fe80::/10,DIRECT,no-resolve
  - MATCH,Proxy
`

const builtinClash = `mixed-port: 7890
allow-lan: false
mode: rule
log-level: warning
ipv6: true
` + builtinClashRules

const builtinClashMeta = `mixed-port: 7890
allow-lan: false
mode: rule
log-level: warning
ipv6: true
unified-delay: true
tcp-concurrent: true
dns:
  enable: true
  ipv6: true
  enhanced-mode: fake-ip
  fake-ip-range: 198.18.0.1/16
  default-nameserver:
    - 1.1.1.1
    - 8.8.8.8
  nameserver:
    - https://1.1.1.1/dns-query
    - https://8.8.8.8/dns-query
` + builtinClashRules

const builtinSingBox = `{
  "log": {"level": "warn", "timestamp": true},
  "dns": {
    "servers": [
      {"type": "tls", "tag": "dns-remote", "server": "1.1.1.1", "detour": "proxy"},
      {"type": "local", "tag": "dns-local"}
    ],
    "final": "dns-remote"
  },
  "inbounds": [
    {"type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"], "auto_route": true, "strict_route": true, "stack": "system"},
    {"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": 2080}
  ],
  "outbounds": [
    {"type": "direct", "tag": "direct"}
  ],
  "route": {
    "rules": [
      {"action": "sniff"},
      {"protocol": "dns", "action": "hijack-dns"},
      {"ip_is_private": true, "outbound": "direct"}
    ],
    "final": "proxy",
    "auto_detect_interface": true,
    "default_domain_resolver": "dns-local"
  }
}`

const builtinXray = `{
  "log": {"loglevel": "warning"},
  "dns": {"servers": ["1.1.1.1", "8.8.8.8"]},
  "inbounds": [
    {"tag": "socks", "protocol": "socks", "listen": "127.0.0.1", "port": 10808,
     "settings": {"auth": "noauth", "udp": true},
     "sniffing": {"enabled": true, "destOverride": ["http", "tls", "quic"], "routeOnly": true}},
    {"tag": "http", "protocol": "http", "listen": "127.0.0.1", "port": 10809,
     "sniffing": {"enabled": true, "destOverride": ["http", "tls"], "routeOnly": true}}
  ],
  "outbounds": [
    {"tag": "direct", "protocol": "freedom"},
    {"tag": "block", "protocol": "blackhole"}
  ],
  "routing": {
    "domainStrategy": "AsIs",
    "rules": [
      {"type": "field", "outboundTag": "direct", "ip": ["10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10", "::1/128"]}
    ]
  }
}`
