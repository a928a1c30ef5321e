package sub

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// combo is one inbound shape the link tests cover.
type combo struct {
	proto     string // vless, vmess, trojan, shadowsocks
	transport string // raw, raw-http, ws, grpc, httpupgrade, xhttp, kcp
	security  string // none, tls, reality
	ss2022    bool
}

func (c combo) tag() string {
	t := c.proto + " " + c.transport + " " + c.security
	if c.ss2022 {
		t += " 2022"
	}
	return t
}

// network is the share-link word for the transport.
func (c combo) network() string {
	switch c.transport {
	case "raw", "raw-http":
		return "tcp"
	}
	return c.transport
}

var (
	transports = []string{"raw", "raw-http", "ws", "grpc", "httpupgrade", "xhttp", "kcp"}
	securities = []string{"none", "tls", "reality"}
)

// linkable lists every combination Xray accepts and a share link can
// describe, in a fixed order. Xray allows REALITY only over raw, xhttp and
// grpc (and an http header would break it); the vmess JSON has no REALITY
// fields; SIP002 describes shadowsocks over plain TCP only.
func linkable() []combo {
	var out []combo
	for _, proto := range []string{"vless", "vmess", "trojan"} {
		for _, tr := range transports {
			for _, sec := range securities {
				if sec == "reality" && (proto == "vmess" || (tr != "raw" && tr != "grpc" && tr != "xhttp")) {
					continue
				}
				out = append(out, combo{proto: proto, transport: tr, security: sec})
			}
		}
	}
	return append(out,
		combo{proto: "shadowsocks", transport: "raw", security: "none"},
		combo{proto: "shadowsocks", transport: "raw", security: "none", ss2022: true})
}

const (
	testUUID          = "b831381d-6324-4d53-ad4f-8cda48b30811"
	testFlow          = "xtls-rprx-vision"
	testTrojanPass    = "tr0jan pass#&é"
	testSSPass        = "ss:pass/word+&"
	testSSMethod      = "aes-256-gcm"
	ss2022Method      = "2022-blake3-aes-128-gcm"
	ss2022ServerKey   = "AAECAwQFBgcICQoLDA0ODw=="
	realityPrivateKey = "SMaKHvrw5hAJsHjKvFCimo7MMlQXmbBbHUX3yCcsTGk"
	realitySNI        = "reality.test"
	realityShortID    = "6ba85179e30d4fc2"
	tlsSNI            = "tls.test" // the DNS name in testdata/tls.crt
	// SHA-256 of testdata/tls.crt in DER form (openssl x509 -outform der | sha256sum).
	testCertSHA256 = "fd4aa8a0784e932df9f70ab4e77e4c9c131a11c60e27227b68580b911cee9eb1"
)

func testUser() *model.User {
	return &model.User{
		ID:       7,
		Username: "alice",
		Status:   model.StatusActive,
		Proxies: map[string]model.ProxySettings{
			model.ProtoVLESS:       {ID: testUUID, Flow: testFlow},
			model.ProtoVMess:       {ID: testUUID},
			model.ProtoTrojan:      {Password: testTrojanPass},
			model.ProtoShadowsocks: {Password: testSSPass, Method: testSSMethod},
		},
	}
}

func pemLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// serverConfig is an Xray server config with one inbound per combo. port
// gives each inbound's port; withUsers puts u in every inbound the way a
// node does; realityTarget is where REALITY forwards probes.
func serverConfig(t testing.TB, combos []combo, port func(i int, c combo) int, u *model.User, realityTarget string) []byte {
	t.Helper()
	cert, key := pemLines(t, "testdata/tls.crt"), pemLines(t, "testdata/tls.key")
	var inbounds []any
	for i, c := range combos {
		inbounds = append(inbounds, map[string]any{
			"tag":            c.tag(),
			"protocol":       c.proto,
			"listen":         "127.0.0.1",
			"port":           port(i, c),
			"settings":       serverSettings(c, u),
			"streamSettings": serverStream(c, cert, key, realityTarget),
		})
	}
	cfg := map[string]any{
		"log":       map[string]any{"loglevel": "error", "access": "none"},
		"inbounds":  inbounds,
		"outbounds": []any{map[string]any{"protocol": "freedom", "tag": "direct"}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func serverSettings(c combo, u *model.User) map[string]any {
	var clients []any
	email := model.EmailFor(u.ID, u.Username)
	switch c.proto {
	case "vless":
		cl := map[string]any{"id": u.Proxies["vless"].ID, "email": email}
		if (c.transport == "raw") && c.security != "none" {
			cl["flow"] = u.Proxies["vless"].Flow
		}
		return map[string]any{"clients": append(clients, cl), "decryption": "none"}
	case "vmess":
		return map[string]any{"clients": append(clients, map[string]any{"id": u.Proxies["vmess"].ID, "email": email})}
	case "trojan":
		return map[string]any{"clients": append(clients, map[string]any{"password": u.Proxies["trojan"].Password, "email": email})}
	}
	ss := u.Proxies["shadowsocks"]
	if c.ss2022 {
		return map[string]any{"method": ss2022Method, "password": ss2022ServerKey, "network": "tcp,udp",
			"clients": append(clients, map[string]any{"password": xrayconf.SS2022UserKey(ss2022Method, ss.Password), "email": email})}
	}
	return map[string]any{"network": "tcp,udp",
		"clients": append(clients, map[string]any{"password": ss.Password, "method": ss.Method, "email": email})}
}

// Transport values chosen to need escaping in links. The ws path has no
// space or non-ASCII: Xray re-encodes a ws path with its early-data query
// and then no longer matches what its own server decodes.
const (
	wsPath      = "/ws?ed=2048"
	huPath      = "/up/é"
	xhttpPath   = "/x&y"
	grpcService = "svc name"
	httpPath    = "/h#1"
	httpHost    = "h.test"
	kcpSeed     = "kcp seed&1"
)

func serverStream(c combo, cert, key []string, realityTarget string) map[string]any {
	s := map[string]any{"security": c.security}
	switch c.transport {
	case "raw":
		s["network"] = "raw"
	case "raw-http":
		s["network"] = "tcp"
		s["tcpSettings"] = map[string]any{"header": map[string]any{"type": "http",
			"request": map[string]any{"path": []string{httpPath}, "headers": map[string]any{"Host": []string{httpHost}}}}}
	case "ws":
		s["network"] = "ws"
		s["wsSettings"] = map[string]any{"path": wsPath, "host": "ws.test"}
	case "grpc":
		s["network"] = "grpc"
		s["grpcSettings"] = map[string]any{"serviceName": grpcService, "multiMode": c.proto == "vless"}
	case "httpupgrade":
		s["network"] = "httpupgrade"
		s["httpupgradeSettings"] = map[string]any{"path": huPath, "host": "up.test"}
	case "xhttp":
		s["network"] = "xhttp"
		s["xhttpSettings"] = map[string]any{"path": xhttpPath, "mode": "packet-up"}
	case "kcp":
		s["network"] = "kcp"
		s["finalmask"] = map[string]any{"udp": []any{
			map[string]any{"type": "mkcp-aes128gcm", "settings": map[string]any{"password": kcpSeed}},
			map[string]any{"type": "header-wechat"},
		}}
	}
	switch c.security {
	case "tls":
		tls := map[string]any{"certificates": []any{map[string]any{"certificate": cert, "key": key}}}
		switch c.transport {
		case "ws", "httpupgrade":
			tls["alpn"] = []string{"http/1.1"}
		case "grpc":
			tls["alpn"] = []string{"h2"}
		case "xhttp":
			tls["alpn"] = []string{"h2", "http/1.1"}
		}
		s["tlsSettings"] = tls
	case "reality":
		s["realitySettings"] = map[string]any{
			"target":      realityTarget,
			"serverNames": []string{realitySNI},
			"privateKey":  realityPrivateKey,
			"shortIds":    []string{realityShortID, ""},
		}
	}
	return s
}

func mustParse(t testing.TB, cfg []byte) []xrayconf.Inbound {
	t.Helper()
	ins, err := xrayconf.ParseInbounds(cfg)
	if err != nil {
		t.Fatalf("ParseInbounds: %v", err)
	}
	return ins
}

func fixedPorts(i int, _ combo) int { return 30000 + i }

func describe(c combo) string { return fmt.Sprintf("%+v", c) }
