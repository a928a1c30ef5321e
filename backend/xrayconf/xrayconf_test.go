package xrayconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xtls/xray-core/core"
	"github.com/xtls/xray-core/infra/conf/serial"
	_ "github.com/xtls/xray-core/main/distro/all"
	"golang.org/x/crypto/curve25519"

	"github.com/outpost-panel/outpost/backend/model"
)

// buildXray runs Xray's own decoder and builder, the check the node applies
// before it runs a config.
func buildXray(t *testing.T, cfg []byte) *core.Config {
	t.Helper()
	c, err := serial.DecodeJSONConfig(bytes.NewReader(cfg))
	if err != nil {
		t.Fatalf("xray decode: %v\n%s", err, cfg)
	}
	pb, err := c.Build()
	if err != nil {
		t.Fatalf("xray build: %v\n%s", err, cfg)
	}
	return pb
}

func TestDefaultConfigBuildsAndParses(t *testing.T) {
	cfg := DefaultConfig()
	pb := buildXray(t, cfg)
	// core.New wires every feature (router, DNS for IPIfNonMatch, ...)
	// without binding ports.
	inst, err := core.New(pb)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	_ = inst.Close()

	ins, err := ParseInbounds(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		tag, proto, network string
		port                int
	}{
		{"VLESS TCP", "vless", NetTCP, 20001},
		{"VMess WS", "vmess", NetWS, 20002},
		{"Trojan TCP", "trojan", NetTCP, 20003},
		{"Shadowsocks TCP", "shadowsocks", NetTCP, 20004},
	}
	if len(ins) != len(want) {
		t.Fatalf("got %d inbounds, want %d", len(ins), len(want))
	}
	for i, w := range want {
		in := ins[i]
		if in.Tag != w.tag || in.Protocol != w.proto || in.Network != w.network || in.Port != w.port ||
			in.Security != SecurityNone || in.Listen != "0.0.0.0" || !in.AcceptsUsers {
			t.Errorf("inbound %d = %+v, want %+v", i, in, w)
		}
	}
	if ins[1].Path != "/vmess" {
		t.Errorf("vmess path = %q", ins[1].Path)
	}
	if ins[3].SSNetwork != "tcp,udp" || ins[3].Method != "" {
		t.Errorf("shadowsocks network/method = %q/%q", ins[3].SSNetwork, ins[3].Method)
	}

	// The default must also build once the node has put users in it.
	var doc map[string]any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	clients := map[string]map[string]any{
		"vless":       {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "1.alice"},
		"vmess":       {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "1.alice"},
		"trojan":      {"password": "secret", "email": "1.alice"},
		"shadowsocks": {"password": "secret", "method": DefaultSSMethod, "email": "1.alice"},
	}
	for _, ib := range doc["inbounds"].([]any) {
		m := ib.(map[string]any)
		settings := m["settings"].(map[string]any)
		settings["clients"] = []any{clients[m["protocol"].(string)]}
	}
	withUsers, _ := json.Marshal(doc)
	buildXray(t, withUsers)
}

func TestDefaultConfigRoutingUsesNoAssets(t *testing.T) {
	// geoip:/geosite: need .dat files nodes do not ship.
	if bytes.Contains(DefaultConfig(), []byte("geoip:")) || bytes.Contains(DefaultConfig(), []byte("geosite:")) {
		t.Fatal("default config refers to geo assets")
	}
	a, b := DefaultConfig(), DefaultConfig()
	a[0] = 'x'
	if b[0] == 'x' {
		t.Fatal("DefaultConfig shares its bytes between calls")
	}
}

type testCert struct {
	certLines, keyLines []string
}

func loadTestCert(t *testing.T) testCert {
	t.Helper()
	crt, err := os.ReadFile("testdata/tls.crt")
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile("testdata/tls.key")
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certLines: strings.Split(strings.TrimSpace(string(crt)), "\n"),
		keyLines:  strings.Split(strings.TrimSpace(string(key)), "\n"),
	}
}

// testdata/tls.crt is self-signed; `openssl x509 -outform der | sha256sum`.
const testCertSHA256 = "fd4aa8a0784e932df9f70ab4e77e4c9c131a11c60e27227b68580b911cee9eb1"

const realityPrivateKey = "SMaKHvrw5hAJsHjKvFCimo7MMlQXmbBbHUX3yCcsTGk"

func richConfig(t *testing.T) []byte {
	t.Helper()
	c := loadTestCert(t)
	certJSON, _ := json.Marshal(c.certLines)
	keyJSON, _ := json.Marshal(c.keyLines)
	tlsSettings := `{"certificates":[{"certificate":` + string(certJSON) + `,"key":` + string(keyJSON) + `}],"alpn":"h2,http/1.1"}`
	return []byte(`{
  // comments are allowed, as in Xray
  "log": {"loglevel": "error"},
  "inbounds": [
    {"tag": "api", "protocol": "dokodemo-door", "listen": "127.0.0.1", "port": 62789, "settings": {"address": "127.0.0.1"}},
    {"protocol": "socks", "port": 1080, "listen": "127.0.0.1"},
    /* vless over tls: flow allowed */
    {"tag": "vless-tls", "protocol": "VLESS", "port": "8443", "unknownField": {"x": 1},
     "settings": {"clients": [], "decryption": "none"},
     "streamSettings": {"network": "raw", "security": "tls", "tlsSettings": ` + tlsSettings + `}},
    {"tag": "vless-reality", "protocol": "vless", "port": 443,
     "settings": {"clients": [], "decryption": "none"},
     "streamSettings": {"network": "tcp", "security": "reality", "realitySettings": {
        "target": "127.0.0.1:8443", "serverNames": ["reality.test", "other.test"],
        "privateKey": "` + realityPrivateKey + `", "shortIds": ["6ba85179e30d4fc2", ""], "spiderX": "/s"}}},
    {"tag": "vmess-http", "protocol": "vmess", "port": "2000-2010,3000",
     "settings": {"clients": []},
     "streamSettings": {"network": "tcp", "tcpSettings": {"header": {"type": "http",
        "request": {"path": ["/a", "/b"], "headers": {"Host": ["h1.test", "h2.test"]}}}}}},
    {"tag": "trojan-ws", "protocol": "trojan", "port": 2053,
     "settings": {"clients": []},
     "streamSettings": {"network": "websocket", "wsSettings": {"path": "/ws?ed=2048", "headers": {"host": "ws.test"}}}},
    {"tag": "vless-grpc", "protocol": "vless", "port": 2054,
     "settings": {"clients": [], "decryption": "none"},
     "streamSettings": {"network": "grpc", "grpcSettings": {"serviceName": "svc", "authority": "auth.test", "multiMode": true}}},
    {"tag": "vless-hu", "protocol": "vless", "port": 2055,
     "settings": {"clients": [], "decryption": "none"},
     "streamSettings": {"network": "httpupgrade", "httpupgradeSettings": {"path": "/up", "host": "up.test"}}},
    {"tag": "vless-xhttp", "protocol": "vless", "port": 2056,
     "settings": {"clients": [], "decryption": "none"},
     "streamSettings": {"network": "xhttp", "xhttpSettings": {"path": "/x", "host": "x.test", "mode": "packet-up"}}},
    {"tag": "vmess-kcp", "protocol": "vmess", "port": 2057,
     "settings": {"clients": []},
     "streamSettings": {"network": "kcp", "finalmask": {"udp": [
        {"type": "mkcp-aes128gcm", "settings": {"password": "seed#1"}}, {"type": "header-wechat"}]}}},
    {"tag": "ss-2022", "protocol": "shadowsocks", "port": 2058,
     "settings": {"method": "2022-blake3-aes-128-gcm", "password": "AAECAwQFBgcICQoLDA0ODw==", "clients": [], "network": ["tcp", "udp"]}},
    {"tag": "ss-chacha-2022", "protocol": "shadowsocks", "port": 2059,
     "settings": {"method": "2022-blake3-chacha20-poly1305", "password": "AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8="}},
    {"tag": "vless-unix", "protocol": "vless", "listen": "/run/xray/vless.sock",
     "settings": {"clients": [], "decryption": "none"},
     "streamSettings": {"network": "ws", "wsSettings": {"path": "/u"}}}
  ],
  "outbounds": [{"protocol": "freedom"}]
}`)
}

func TestRichConfigBuildsInXray(t *testing.T) {
	// The fixture must be a config Xray accepts, or the parse test below
	// proves nothing about real configs.
	buildXray(t, richConfig(t))
}

func TestParseInbounds(t *testing.T) {
	ins, err := ParseInbounds(richConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string]Inbound{}
	for _, in := range ins {
		byTag[in.Tag] = in
	}
	if len(ins) != 13 {
		t.Fatalf("got %d inbounds, want 13", len(ins))
	}
	pub := RealityPublicKey(realityPrivateKey)
	tests := []struct {
		tag  string
		want Inbound
	}{
		{"api", Inbound{Tag: "api", Protocol: "dokodemo-door", Listen: "127.0.0.1", Port: 62789, Network: NetTCP, Security: SecurityNone, HeaderType: "none"}},
		{"vless-tls", Inbound{Tag: "vless-tls", Protocol: "vless", Port: 8443, Network: NetTCP, Security: SecurityTLS, HeaderType: "none",
			SNI: []string{"tls.test"}, ALPN: []string{"h2", "http/1.1"}, PinnedPeerCertSHA256: testCertSHA256, FlowAllowed: true, AcceptsUsers: true,
			CertificatesNotAfter: []time.Time{time.Date(2126, 11, 2, 1, 23, 51, 0, time.UTC)}}},
		{"vless-reality", Inbound{Tag: "vless-reality", Protocol: "vless", Port: 443, Network: NetTCP, Security: SecurityReality, HeaderType: "none",
			PublicKey: pub, ShortIDs: []string{"6ba85179e30d4fc2", ""}, ServerNames: []string{"reality.test", "other.test"}, SpiderX: "/s",
			FlowAllowed: true, AcceptsUsers: true}},
		{"vmess-http", Inbound{Tag: "vmess-http", Protocol: "vmess", Port: 2000, Network: NetTCP, Security: SecurityNone, HeaderType: "http",
			Path: "/a,/b", Host: "h1.test,h2.test", AcceptsUsers: true}},
		{"trojan-ws", Inbound{Tag: "trojan-ws", Protocol: "trojan", Port: 2053, Network: NetWS, Security: SecurityNone,
			Path: "/ws?ed=2048", Host: "ws.test", AcceptsUsers: true}},
		{"vless-grpc", Inbound{Tag: "vless-grpc", Protocol: "vless", Port: 2054, Network: NetGRPC, Security: SecurityNone,
			ServiceName: "svc", Authority: "auth.test", MultiMode: true, AcceptsUsers: true}},
		{"vless-hu", Inbound{Tag: "vless-hu", Protocol: "vless", Port: 2055, Network: NetHTTPUpgrade, Security: SecurityNone,
			Path: "/up", Host: "up.test", AcceptsUsers: true}},
		{"vless-xhttp", Inbound{Tag: "vless-xhttp", Protocol: "vless", Port: 2056, Network: NetXHTTP, Security: SecurityNone,
			Path: "/x", Host: "x.test", Mode: "packet-up", AcceptsUsers: true}},
		{"vmess-kcp", Inbound{Tag: "vmess-kcp", Protocol: "vmess", Port: 2057, Network: NetKCP, Security: SecurityNone,
			HeaderType: "wechat-video", Seed: "seed#1", AcceptsUsers: true}},
		{"ss-2022", Inbound{Tag: "ss-2022", Protocol: "shadowsocks", Port: 2058, Network: NetTCP, Security: SecurityNone, HeaderType: "none",
			Method: "2022-blake3-aes-128-gcm", Password: "AAECAwQFBgcICQoLDA0ODw==", SSNetwork: "tcp,udp", AcceptsUsers: true}},
		{"ss-chacha-2022", Inbound{Tag: "ss-chacha-2022", Protocol: "shadowsocks", Port: 2059, Network: NetTCP, Security: SecurityNone, HeaderType: "none",
			Method: "2022-blake3-chacha20-poly1305", Password: "AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8="}},
		{"vless-unix", Inbound{Tag: "vless-unix", Protocol: "vless", Listen: "/run/xray/vless.sock", Network: NetWS, Security: SecurityNone,
			Path: "/u", AcceptsUsers: true}},
	}
	for _, tc := range tests {
		t.Run(tc.tag, func(t *testing.T) {
			got, ok := byTag[tc.tag]
			if !ok {
				t.Fatalf("missing")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// Config order is kept.
	if ins[2].Tag != "vless-tls" || ins[12].Tag != "vless-unix" {
		t.Errorf("order not kept: %s ... %s", ins[2].Tag, ins[12].Tag)
	}
}

func TestParseInboundsErrors(t *testing.T) {
	tests := []struct {
		name, cfg string
		wantErr   string // "" means no error
	}{
		{"broken json", `{"inbounds": [`, "decoding core config"},
		{"not an array", `{"inbounds": {}}`, "decoding core config"},
		{"user inbound without tag", `{"inbounds": [{"protocol": "vless", "port": 1}]}`, "without a tag"},
		{"user inbound without port", `{"inbounds": [{"tag": "a", "protocol": "trojan"}]}`, "no usable port"},
		{"port out of range", `{"inbounds": [{"tag": "a", "protocol": "vmess", "port": 70000}]}`, "no usable port"},
		{"env port", `{"inbounds": [{"tag": "a", "protocol": "vmess", "port": "env:PORT"}]}`, "no usable port"},
		{"duplicate tags", `{"inbounds": [{"tag": "a", "protocol": "vmess", "port": 1}, {"tag": "a", "protocol": "socks", "port": 2}]}`, `duplicate tag "a"`},
		{"wrong type in a known field", `{"inbounds": [{"tag": "a", "protocol": "vmess", "port": 1, "streamSettings": {"network": 5}}]}`, "inbound #0"},
		{"other protocol without tag or port", `{"inbounds": [{"protocol": "tun"}, {"protocol": "dokodemo-door"}]}`, ""},
		{"unix socket without port", `{"inbounds": [{"tag": "a", "protocol": "vless", "listen": "@xray"}]}`, ""},
		{"no inbounds", `{"log": {}}`, ""},
		{"unknown fields everywhere", `{"x": [1,{}], "inbounds": [{"tag": "a", "protocol": "vless", "port": 1, "y": null,
			"settings": {"z": true}, "streamSettings": {"network": "ws", "wsSettings": {"w": 1}, "futureSettings": {}}}]}`, ""},
		{"hash and slash inside strings are not comments", `{"inbounds": [{"tag": "a#b//c/*d*/", "protocol": "vless", "port": 1}]}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInbounds([]byte(tc.cfg))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if !errors.Is(err, model.ErrInvalid) {
				t.Errorf("error %v does not wrap model.ErrInvalid", err)
			}
		})
	}
	ins, err := ParseInbounds([]byte(`{"inbounds": [{"tag": "a#b//c/*d*/", "protocol": "vless", "port": 1}]}`))
	if err != nil || ins[0].Tag != "a#b//c/*d*/" {
		t.Fatalf("tag mangled: %+v %v", ins, err)
	}
}

func TestRealityPublicKey(t *testing.T) {
	// Checked against x/crypto's independent X25519.
	for range 20 {
		var priv [32]byte
		_, _ = rand.Read(priv[:])
		want, err := curve25519.X25519(priv[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		got := RealityPublicKey(base64.RawURLEncoding.EncodeToString(priv[:]))
		if got != base64.RawURLEncoding.EncodeToString(want) {
			t.Fatalf("public key mismatch for %x", priv)
		}
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(make([]byte, 32)), base64.RawURLEncoding.EncodeToString(make([]byte, 31))} {
		if got := RealityPublicKey(bad); got != "" {
			t.Errorf("RealityPublicKey(%q) = %q, want empty", bad, got)
		}
	}
}

func TestMldsa65VerifyAcceptedByXray(t *testing.T) {
	seed := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	cfg := `{"inbounds": [{"tag": "r", "protocol": "vless", "port": 443, "settings": {"clients": [], "decryption": "none"},
	  "streamSettings": {"network": "raw", "security": "reality", "realitySettings": {"target": "127.0.0.1:8443",
	  "serverNames": ["a.test"], "privateKey": "` + realityPrivateKey + `", "shortIds": [""], "mldsa65Seed": "` + seed + `"}}}]}`
	buildXray(t, []byte(cfg))
	ins, err := ParseInbounds([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	verify := ins[0].Mldsa65Verify
	if raw, err := base64.RawURLEncoding.DecodeString(verify); err != nil || len(raw) != 1952 {
		t.Fatalf("verify key %q: %d bytes, %v", verify, len(raw), err)
	}
	// A client holding it must build.
	client := `{"outbounds": [{"protocol": "vless", "settings": {"address": "127.0.0.1", "port": 443,
	  "id": "b831381d-6324-4d53-ad4f-8cda48b30811", "encryption": "none"},
	  "streamSettings": {"network": "raw", "security": "reality", "realitySettings": {"serverName": "a.test",
	  "fingerprint": "chrome", "password": "` + ins[0].PublicKey + `", "shortId": "", "mldsa65Verify": "` + verify + `"}}}]}`
	buildXray(t, []byte(client))
}

func TestCASignedCertificateIsNotPinned(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"*.wild.test", "a.test", "b.test"}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pemLines, _ := json.Marshal(strings.Split(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))), "\n"))
	cfg := `{"inbounds": [{"tag": "t", "protocol": "trojan", "port": 443, "settings": {"clients": []},
	  "streamSettings": {"security": "tls", "tlsSettings": {"certificates": [{"certificate": ` + string(pemLines) + `}]}}}]}`
	ins, err := ParseInbounds([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if ins[0].PinnedPeerCertSHA256 != "" {
		t.Errorf("CA-issued certificate pinned: %s", ins[0].PinnedPeerCertSHA256)
	}
	if want := []string{"a.test", "b.test"}; !reflect.DeepEqual(ins[0].SNI, want) {
		t.Errorf("SNI = %v, want %v", ins[0].SNI, want)
	}

	// An explicit serverName wins over certificate names, and an explicit
	// pin is kept as written.
	cfg = strings.Replace(cfg, `"tlsSettings": {`, `"tlsSettings": {"serverName": "named.test", "pinnedPeerCertSha256": "ab:cd", `, 1)
	ins, err = ParseInbounds([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ins[0].SNI, []string{"named.test"}) || ins[0].PinnedPeerCertSHA256 != "ab:cd" {
		t.Errorf("SNI %v pin %q", ins[0].SNI, ins[0].PinnedPeerCertSHA256)
	}
}

func TestLegacyKCPFields(t *testing.T) {
	cfg := `{"inbounds": [{"tag": "k", "protocol": "vmess", "port": 1, "streamSettings": {"network": "mkcp",
	  "kcpSettings": {"seed": "old", "header": {"type": "srtp"}}}}]}`
	ins, err := ParseInbounds([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if ins[0].Network != NetKCP || ins[0].Seed != "old" || ins[0].HeaderType != "srtp" {
		t.Errorf("got %+v", ins[0])
	}
}

func TestGrouped(t *testing.T) {
	ins, err := ParseInbounds(richConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	g := Grouped(ins)
	got, err := json.Marshal(g["vless"][0])
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"tag":"vless-tls","protocol":"vless","network":"tcp","tls":"tls","port":8443}`; string(got) != want {
		t.Errorf("vless[0] = %s, want %s", got, want)
	}
	var tags []string
	for _, s := range g["vless"] {
		tags = append(tags, s.Tag)
	}
	if want := []string{"vless-tls", "vless-reality", "vless-grpc", "vless-hu", "vless-xhttp", "vless-unix"}; !reflect.DeepEqual(tags, want) {
		t.Errorf("vless tags = %v, want %v", tags, want)
	}
	if len(g["socks"]) != 0 {
		t.Errorf("untagged socks inbound listed: %v", g["socks"])
	}
	if len(g["dokodemo-door"]) != 1 || len(g["shadowsocks"]) != 2 || len(g["vmess"]) != 2 || len(g["trojan"]) != 1 {
		t.Errorf("grouping = %v", g)
	}
	if g["vless"][1].TLS != "reality" {
		t.Errorf("reality inbound tls = %q", g["vless"][1].TLS)
	}
}

func TestCanonical(t *testing.T) {
	base := []byte(`{"log":{"loglevel":"warning"},"inbounds":[{"port":1,"tag":"a & b <c>","n":1.50}]}`)
	want := `{"inbounds":[{"n":1.50,"port":1,"tag":"a & b <c>"}],"log":{"loglevel":"warning"}}`
	got, err := Canonical(base)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("Canonical = %s\nwant        %s", got, want)
	}
	same := []string{
		"{\n  \"inbounds\": [ { \"tag\": \"a & b <c>\", \"port\": 1, \"n\": 1.50 } ],\n  \"log\": {\"loglevel\": \"warning\"}\n}\n",
		"// header\n{\"log\":{\"loglevel\":\"warning\"}, # note\n /* block\n comment */ \"inbounds\":[{\"port\":1,\"tag\":\"a & b <c>\",\"n\":1.50}]}",
	}
	for _, s := range same {
		c, err := Canonical([]byte(s))
		if err != nil {
			t.Fatalf("Canonical(%q): %v", s, err)
		}
		if string(c) != want {
			t.Errorf("Canonical(%q) = %s, want %s", s, c, want)
		}
	}
	differ := []string{
		`{"log":{"loglevel":"warning"},"inbounds":[{"port":2,"tag":"a & b <c>","n":1.50}]}`,
		`{"log":{"loglevel":"warning"},"inbounds":[{"port":1,"tag":"a & b <c>","n":1.5}]}`,
		`{"log":{"loglevel":"warning"},"inbounds":[{"port":1,"tag":"a & b <c> ","n":1.50}]}`,
	}
	for _, s := range differ {
		c, err := Canonical([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		if string(c) == want {
			t.Errorf("Canonical(%s) equals the base form", s)
		}
	}
	for _, bad := range []string{``, `{`, `{} {}`, `[]`, `"x"`, `{"a":1}x`} {
		if _, err := Canonical([]byte(bad)); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("Canonical(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
	// Canonical output of the default config still builds.
	c, err := Canonical(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	buildXray(t, c)
}

func TestSS2022UserKey(t *testing.T) {
	valid16 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
	valid32 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	tests := []struct {
		method, password string
		keep             bool
		keyLen           int
	}{
		{"2022-blake3-aes-128-gcm", valid16, true, 16},
		{"2022-blake3-aes-128-gcm", valid32, false, 16},
		{"2022-blake3-aes-256-gcm", valid32, true, 32},
		{"2022-blake3-aes-256-gcm", "marzban-random-password", false, 32},
		{"2022-BLAKE3-AES-128-GCM", "x", false, 16},
		{"chacha20-ietf-poly1305", "plain", true, 0},
	}
	for _, tc := range tests {
		got := SS2022UserKey(tc.method, tc.password)
		if tc.keep != (got == tc.password) {
			t.Errorf("SS2022UserKey(%s, %s) = %s, keep=%v", tc.method, tc.password, got, tc.keep)
		}
		if tc.keyLen > 0 {
			raw, err := base64.StdEncoding.DecodeString(got)
			if err != nil || len(raw) != tc.keyLen {
				t.Errorf("SS2022UserKey(%s, %s) = %s: %d bytes, %v", tc.method, tc.password, got, len(raw), err)
			}
			if again := SS2022UserKey(tc.method, tc.password); again != got {
				t.Errorf("not deterministic")
			}
		}
	}
	// Xray accepts a derived key as a user key of a multi-user inbound.
	key := SS2022UserKey("2022-blake3-aes-256-gcm", "free form")
	cfg := `{"inbounds": [{"tag": "s", "protocol": "shadowsocks", "port": 1, "settings": {"method": "2022-blake3-aes-256-gcm",
	  "password": "` + valid32 + `", "clients": [{"password": "` + key + `", "email": "1.a"}]}}]}`
	inst, err := core.New(buildXray(t, []byte(cfg)))
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	_ = inst.Close()
}

func TestUserProtocol(t *testing.T) {
	for _, p := range model.Protocols {
		if !UserProtocol(p) {
			t.Errorf("UserProtocol(%s) = false", p)
		}
	}
	for _, p := range []string{"socks", "http", "dokodemo-door", "VLESS", ""} {
		if UserProtocol(p) {
			t.Errorf("UserProtocol(%q) = true", p)
		}
	}
}

// TestParseInboundsErrorNamesInbound: an error one inbound causes says
// which (index and tag), so the API can point at it; a config that does
// not decode names none.
func TestParseInboundsErrorNamesInbound(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		index     int
		tag       string
	}{
		{"port out of range", `{"inbounds": [{"tag": "a", "protocol": "vmess", "port": 1}, {"tag": "b", "protocol": "vmess", "port": 70000}]}`, 1, "b"},
		{"no tag", `{"inbounds": [{"tag": "a", "protocol": "vmess", "port": 1}, {"protocol": "vless", "port": 2}]}`, 1, ""},
		{"duplicate tag", `{"inbounds": [{"tag": "a", "protocol": "vmess", "port": 1}, {"tag": "a", "protocol": "socks", "port": 2}]}`, 1, "a"},
	} {
		_, err := ParseInbounds([]byte(tc.cfg))
		var ie *InboundError
		if !errors.As(err, &ie) || ie.InboundIndex() != tc.index || ie.InboundTag() != tc.tag || !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%s: %v (%+v), want inbound %d %q wrapping ErrInvalid", tc.name, err, ie, tc.index, tc.tag)
		}
	}
	var ie *InboundError
	if _, err := ParseInbounds([]byte(`{"inbounds": [`)); err == nil || errors.As(err, &ie) {
		t.Errorf("broken JSON: %v blames an inbound", err)
	}
}
