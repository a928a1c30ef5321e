package xrayconf

// defaultConfig is usable as is on a fresh server: one inbound per protocol
// the panel manages, on unprivileged ports so the node needs no extra
// capabilities, no TLS so it needs no certificate. Clients arrays are empty:
// the node puts users in at run time.
//
// The routing blocks private and special-purpose address ranges (so users
// cannot reach the node's own services or its LAN) with explicit CIDRs rather
// than geoip:private: nodes ship no geoip.dat and Build would fail on it.
// IPIfNonMatch resolves a domain that no domain rule matched and checks the
// IP rules again, so "localhost" or a name pointing at 10.0.0.1 is blocked too.
const defaultConfig = `{
  "log": {
    "loglevel": "warning"
  },
  "inbounds": [
    {
      "tag": "VLESS TCP",
      "protocol": "vless",
      "listen": "0.0.0.0",
      "port": 20001,
      "settings": {
        "clients": [],
        "decryption": "none"
      },
      "streamSettings": {
        "network": "raw",
        "security": "none"
      },
      "sniffing": {
        "enabled": true,
        "destOverride": ["http", "tls"]
      }
    },
    {
      "tag": "VMess WS",
      "protocol": "vmess",
      "listen": "0.0.0.0",
      "port": 20002,
      "settings": {
        "clients": []
      },
      "streamSettings": {
        "network": "ws",
        "security": "none",
        "wsSettings": {
          "path": "/vmess"
        }
      },
      "sniffing": {
        "enabled": true,
        "destOverride": ["http", "tls"]
      }
    },
    {
      "tag": "Trojan TCP",
      "protocol": "trojan",
      "listen": "0.0.0.0",
      "port": 20003,
      "settings": {
        "clients": []
      },
      "streamSettings": {
        "network": "raw",
        "security": "none"
      },
      "sniffing": {
        "enabled": true,
        "destOverride": ["http", "tls"]
      }
    },
    {
      "tag": "Shadowsocks TCP",
      "protocol": "shadowsocks",
      "listen": "0.0.0.0",
      "port": 20004,
      "settings": {
        "clients": [],
        "network": "tcp,udp"
      },
      "sniffing": {
        "enabled": true,
        "destOverride": ["http", "tls"]
      }
    }
  ],
  "outbounds": [
    {
      "tag": "DIRECT",
      "protocol": "freedom"
    },
    {
      "tag": "BLOCK",
      "protocol": "blackhole"
    }
  ],
  "routing": {
    "domainStrategy": "IPIfNonMatch",
    "rules": [
      {
        "type": "field",
        "outboundTag": "BLOCK",
        "ip": [
          "0.0.0.0/8",
          "10.0.0.0/8",
          "100.64.0.0/10",
          "127.0.0.0/8",
          "169.254.0.0/16",
          "172.16.0.0/12",
          "192.0.0.0/24",
          "192.0.2.0/24",
          "192.168.0.0/16",
          "198.18.0.0/15",
          "198.51.100.0/24",
          "203.0.113.0/24",
          "224.0.0.0/4",
          "240.0.0.0/4",
          "::/128",
          "::1/128",
          "fc00::/7",
          "fe80::/10",
          "ff00::/8"
        ]
      },
      {
        "type": "field",
        "outboundTag": "BLOCK",
        "protocol": ["bittorrent"]
      }
    ]
  }
}
`

// DefaultConfig is the Xray JSON a new panel starts with: a useful default an
// operator can use as is on a fresh server. Each call returns a fresh copy.
func DefaultConfig() []byte { return []byte(defaultConfig) }
