package render

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// combo is one inbound shape: protocol x transport x security.
type combo struct {
	proto     string // vless, vmess, trojan, shadowsocks
	transport string // raw, raw-http, ws, grpc, httpupgrade, xhttp, kcp
	security  string // none, tls, reality
	ss2022    bool
}

// name is the stable golden-file name of the combo.
func (c combo) name() string {
	p := c.proto
	if c.ss2022 {
		p = "shadowsocks2022"
	}
	return p + "-" + c.transport + "-" + c.security
}

// combos is every combination Xray accepts for a user protocol: REALITY
// only over raw, grpc and xhttp, Shadowsocks only over plain TCP. VMess over
// REALITY is included: Xray takes it, and every format must drop it.
func combos() []combo {
	var out []combo
	for _, proto := range []string{"vless", "vmess", "trojan"} {
		for _, tr := range []string{"raw", "raw-http", "ws", "grpc", "httpupgrade", "xhttp", "kcp"} {
			for _, sec := range []string{"none", "tls", "reality"} {
				if sec == "reality" && tr != "raw" && tr != "grpc" && tr != "xhttp" {
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
	testTrojanPass    = "tr0jan pass#&é"
	testSSPass        = "ss:pass/word+&"
	ss2022Method      = "2022-blake3-aes-128-gcm"
	ss2022ServerKey   = "AAECAwQFBgcICQoLDA0ODw=="
	realityPrivateKey = "SMaKHvrw5hAJsHjKvFCimo7MMlQXmbBbHUX3yCcsTGk"
)

func testUser() *model.User {
	return &model.User{
		ID: 7, Username: "alice", Status: model.StatusActive,
		Proxies: map[string]model.ProxySettings{
			model.ProtoVLESS:       {ID: testUUID, Flow: "xtls-rprx-vision"},
			model.ProtoVMess:       {ID: testUUID},
			model.ProtoTrojan:      {Password: testTrojanPass},
			model.ProtoShadowsocks: {Password: testSSPass, Method: "aes-256-gcm"},
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

// inboundsFor parses a server config with one inbound per combo.
func inboundsFor(t testing.TB, cs []combo) []xrayconf.Inbound {
	t.Helper()
	cert, key := pemLines(t, "../testdata/tls.crt"), pemLines(t, "../testdata/tls.key")
	var ins []any
	for i, c := range cs {
		ins = append(ins, map[string]any{
			"tag": c.name(), "protocol": c.proto, "listen": "0.0.0.0", "port": 20000 + i,
			"settings": serverSettings(c), "streamSettings": serverStream(c, cert, key),
		})
	}
	b, err := json.Marshal(map[string]any{"inbounds": ins})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := xrayconf.ParseInbounds(b)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

func serverSettings(c combo) map[string]any {
	switch c.proto {
	case "vless":
		return map[string]any{"clients": []any{}, "decryption": "none"}
	case "shadowsocks":
		if c.ss2022 {
			return map[string]any{"method": ss2022Method, "password": ss2022ServerKey, "network": "tcp,udp", "clients": []any{}}
		}
		return map[string]any{"network": "tcp,udp", "clients": []any{}}
	}
	return map[string]any{"clients": []any{}}
}

func serverStream(c combo, cert, key []string) map[string]any {
	s := map[string]any{"security": c.security}
	switch c.transport {
	case "raw":
		s["network"] = "raw"
	case "raw-http":
		s["network"] = "tcp"
		s["tcpSettings"] = map[string]any{"header": map[string]any{"type": "http",
			"request": map[string]any{"path": []string{"/h#1"}, "headers": map[string]any{"Host": []string{"h.test"}}}}}
	case "ws":
		s["network"] = "ws"
		s["wsSettings"] = map[string]any{"path": "/ws?ed=2048", "host": "ws.test"}
	case "grpc":
		s["network"] = "grpc"
		s["grpcSettings"] = map[string]any{"serviceName": "svc name", "multiMode": c.proto == "vless"}
	case "httpupgrade":
		s["network"] = "httpupgrade"
		s["httpupgradeSettings"] = map[string]any{"path": "/up/é", "host": "up.test"}
	case "xhttp":
		s["network"] = "xhttp"
		s["xhttpSettings"] = map[string]any{"path": "/x&y", "mode": "packet-up"}
	case "kcp":
		s["network"] = "kcp"
		s["finalmask"] = map[string]any{"udp": []any{
			map[string]any{"type": "mkcp-aes128gcm", "settings": map[string]any{"password": "kcp seed&1"}},
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
			"target": "127.0.0.1:8443", "serverNames": []string{"reality.test"},
			"privateKey": realityPrivateKey, "shortIds": []string{"6ba85179e30d4fc2", ""},
		}
	}
	return s
}

// caseHost is the host every golden case uses: variables in the remark, a
// uTLS fingerprint for the TLS cases.
var caseHost = sub.Host{Remark: "{USERNAME} {PROTOCOL} {TRANSPORT}", Address: "edge.example.com", Fingerprint: "chrome"}

const panelAddress = "panel.example.com"

// goldenCase is one subscription to render in every format.
type goldenCase struct {
	name  string
	input func(t testing.TB) Input
}

func goldenCases() []goldenCase {
	var out []goldenCase
	for _, c := range combos() {
		out = append(out, goldenCase{name: c.name(), input: func(t testing.TB) Input {
			ins := inboundsFor(t, []combo{c})
			return Input{User: testUser(), Inbounds: ins, Hosts: map[string][]sub.Host{ins[0].Tag: {caseHost}},
				DefaultAddress: panelAddress, Now: fixedNow}
		}})
	}
	out = append(out,
		goldenCase{name: "all", input: func(t testing.TB) Input {
			return Input{User: testUser(), Inbounds: inboundsFor(t, combos()), DefaultAddress: panelAddress, Now: fixedNow}
		}},
		goldenCase{name: "default-config", input: func(t testing.TB) Input {
			return Input{User: testUser(), Inbounds: defaultInbounds(t), DefaultAddress: panelAddress, Now: fixedNow}
		}},
		goldenCase{name: "host-extras", input: func(t testing.TB) Input {
			ins := inboundsFor(t, []combo{
				{proto: "vless", transport: "ws", security: "tls"}, {proto: "vmess", transport: "raw-http", security: "none"},
				{proto: "vless", transport: "xhttp", security: "tls"}, {proto: "vless", transport: "raw", security: "reality"},
				{proto: "trojan", transport: "httpupgrade", security: "tls"}, {proto: "vmess", transport: "kcp", security: "none"},
				{proto: "trojan", transport: "grpc", security: "tls"},
			})
			h := sub.Host{Remark: "{PROTOCOL} {TRANSPORT} extras", Address: "cdn.example.com", Fingerprint: "chrome", MuxEnable: true,
				FragmentSetting: "100-200,10-20,tlshello", NoiseSetting: "rand:10-20,10-16&str:hello", RandomUserAgent: true}
			hosts := map[string][]sub.Host{}
			for _, in := range ins {
				hosts[in.Tag] = []sub.Host{h}
			}
			return Input{User: testUser(), Inbounds: ins, Hosts: hosts, DefaultAddress: panelAddress, Now: fixedNow,
				Rand: func(int) int { return 0 }}
		}},
		goldenCase{name: "no-entries", input: func(t testing.TB) Input {
			u := testUser()
			u.Proxies = nil
			return Input{User: u, Inbounds: defaultInbounds(t), DefaultAddress: panelAddress, Now: fixedNow}
		}},
		goldenCase{name: "duplicate-remarks", input: func(t testing.TB) Input {
			ins := defaultInbounds(t)
			h := sub.Host{Remark: "Same", Address: "a.example.com"}
			hosts := map[string][]sub.Host{}
			for _, in := range ins {
				hosts[in.Tag] = []sub.Host{h, h}
			}
			return Input{User: testUser(), Inbounds: ins, Hosts: hosts, DefaultAddress: panelAddress, Now: fixedNow}
		}},
	)
	for _, s := range []model.Status{model.StatusDisabled, model.StatusLimited, model.StatusExpired, model.StatusOnHold} {
		out = append(out, goldenCase{name: "status-" + strings.ReplaceAll(string(s), "_", "-"), input: func(t testing.TB) Input {
			u := testUser()
			u.Status = s
			return Input{User: u, Inbounds: defaultInbounds(t), DefaultAddress: panelAddress, Now: fixedNow}
		}})
	}
	return out
}

func defaultInbounds(t testing.TB) []xrayconf.Inbound {
	t.Helper()
	ins, err := xrayconf.ParseInbounds(xrayconf.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return ins
}
