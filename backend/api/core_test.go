package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/nodes/xraycore"
)

func TestCoreInfoAndInbounds(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.alice)

	r := e.do("GET", "/api/core", tok, nil)
	e.expect(r, 200, "GET /api/core")
	var core map[string]any
	r.decode(t, &core)
	if core["version"] != xraycore.Version() || core["started"] != true {
		t.Errorf("core %s", r.body)
	}

	r = e.do("GET", "/api/inbounds", tok, nil)
	e.expect(r, 200, "GET /api/inbounds")
	var grouped map[string][]map[string]any
	r.decode(t, &grouped)
	for proto, tag := range map[string]string{"vless": "VLESS TCP", "vmess": "VMess WS", "trojan": "Trojan TCP", "shadowsocks": "Shadowsocks TCP"} {
		if len(grouped[proto]) != 1 || grouped[proto][0]["tag"] != tag {
			t.Errorf("%s: %v", proto, grouped[proto])
		}
	}
	if ws := grouped["vmess"][0]; ws["network"] != "ws" || ws["port"] != float64(20002) {
		t.Errorf("vmess inbound %v", ws)
	}
}

func TestCoreConfig(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)

	r := e.do("GET", "/api/core/config", tok, nil)
	e.expect(r, 200, "GET config")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	var cfg map[string]any
	r.decode(t, &cfg)

	// Move the trojan inbound to another port and drop the vmess one.
	var kept []any
	for _, ib := range cfg["inbounds"].([]any) {
		m := ib.(map[string]any)
		switch m["protocol"] {
		case "vmess":
			continue
		case "trojan":
			m["port"] = 21003
		}
		kept = append(kept, m)
	}
	cfg["inbounds"] = kept
	r = e.do("PUT", "/api/core/config", tok, cfg)
	e.expect(r, 200, "PUT config")

	r = e.do("GET", "/api/inbounds", tok, nil)
	var grouped map[string][]map[string]any
	r.decode(t, &grouped)
	if _, ok := grouped["vmess"]; ok || grouped["trojan"][0]["port"] != float64(21003) {
		t.Errorf("inbounds after PUT: %s", r.body)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"port out of range", `{"inbounds":[{"tag":"x","protocol":"vless","port":70000,"settings":{"clients":[],"decryption":"none"}}]}`, 400, ""},
		{"unknown protocol", `{"inbounds":[{"tag":"x","protocol":"nonsense","port":1000}]}`, 400, ""},
		{"bad outbound", `{"outbounds":[{"protocol":"freedom","settings":{"domainStrategy":42}}]}`, 400, ""},
		{"malformed JSON", `{"inbounds":[`, 422, ""},
		{"array", `[]`, 422, ""},
		{"string", `"config"`, 422, ""},
		{"empty", ``, 422, ""},
		{"trailing data", `{} {}`, 422, ""},
	} {
		before := e.snapshot()
		r := e.do("PUT", "/api/core/config", tok, tc.body)
		e.expect(r, tc.status, tc.name)
		e.assertUnchanged(before, tc.name)
	}

	// Xray's own words reach the client.
	r = e.do("PUT", "/api/core/config", tok, `{"inbounds":[{"tag":"x","protocol":"nonsense","port":1000}]}`)
	if d := r.detail(); !strings.Contains(strings.ToLower(d), "nonsense") {
		t.Errorf("detail %q does not carry Xray's message", d)
	}
}

// GET after PUT returns what was stored, as JSON the client can PUT again.
func TestCoreConfigRoundTrip(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	ctx := context.Background()
	r := e.do("GET", "/api/core/config", tok, nil)
	before := e.snapshot()
	feedBefore, err := e.st.Feed().Last(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put := e.do("PUT", "/api/core/config", tok, r.body)
	e.expect(put, 200, "PUT back what GET returned")
	if string(put.body) != string(r.body) {
		t.Fatalf("PUT answered %s, want the stored config %s", put.body, r.body)
	}
	// Same config: nothing published for nodes.
	if feedAfter, err := e.st.Feed().Last(ctx); err != nil || feedAfter != feedBefore {
		t.Fatalf("feed moved from %d to %d (%v) for an identical config", feedBefore, feedAfter, err)
	}
	if after := e.snapshot(); after.Config != before.Config {
		t.Fatal("identical config changed the stored text")
	}
}
