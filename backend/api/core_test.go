package api_test

import (
	"context"
	"os"
	"path/filepath"
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

// A config that builds but that no node can start (Xray's core refuses it
// when it creates the instance) is a 400 naming the problem, and changes
// nothing. Checking it creates no file on the panel.
func TestCoreConfigRefusesWhatNodesRefuse(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	get := func() map[string]any {
		r := e.do("GET", "/api/core/config", tok, nil)
		e.expect(r, 200, "GET config")
		var cfg map[string]any
		r.decode(t, &cfg)
		return cfg
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "access.log")

	dup := get()
	dup["outbounds"] = append(dup["outbounds"].([]any), map[string]any{"tag": "DIRECT", "protocol": "freedom"})
	access := get()
	access["log"] = map[string]any{"loglevel": "warning", "access": missing}
	errorLog := get()
	errorLog["log"] = map[string]any{"loglevel": "warning", "error": missing}
	for _, tc := range []struct {
		name   string
		cfg    map[string]any
		detail string
	}{
		{"duplicate outbound tag", dup, "DIRECT"},
		{"access log in a missing directory", access, missing},
		{"error log in a missing directory", errorLog, missing},
	} {
		before := e.snapshot()
		r := e.do("PUT", "/api/core/config", tok, tc.cfg)
		e.expect(r, 400, tc.name)
		if d := r.detail(); !strings.Contains(d, tc.detail) {
			t.Errorf("%s: detail %q does not name %q", tc.name, d, tc.detail)
		}
		e.assertUnchanged(before, tc.name)
	}

	// A log file in a directory that exists is fine, and the panel does not
	// create it: only nodes write Xray's logs.
	ok := get()
	path := filepath.Join(dir, "access.log")
	ok["log"] = map[string]any{"loglevel": "warning", "access": path}
	e.expect(e.do("PUT", "/api/core/config", tok, ok), 200, "access log in an existing directory")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("validating the config touched %s: %v", path, err)
	}
}

type configError struct {
	Detail  string `json:"detail"`
	Inbound string `json:"inbound"`
	Path    string `json:"path"`
}

// TestCoreConfigCheck: POST /api/core/config/check validates as PUT does
// and stores nothing: 200 {ok: true} for a config PUT would take, 422 for
// one it would refuse, naming the inbound at fault (tag and path) whether
// Xray or Outpost's inbound rules refused it. PUT's 400 names it too.
func TestCoreConfigCheck(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	ctx := context.Background()
	running := string(e.do("GET", "/api/core/config", tok, nil).body)
	edited := func(index int, f func(map[string]any)) (map[string]any, string) {
		var cfg map[string]any
		e.do("GET", "/api/core/config", tok, nil).decode(t, &cfg)
		ib := cfg["inbounds"].([]any)[index].(map[string]any)
		f(ib)
		return cfg, ib["tag"].(string)
	}
	unchanged := func(before snapshot, what string) {
		t.Helper()
		e.assertUnchanged(before, what)
		if got := string(e.do("GET", "/api/core/config", tok, nil).body); got != running {
			t.Fatalf("%s changed the running config", what)
		}
		if h := e.do("GET", "/api/core/config/history", tok, nil); string(h.body) != "[]" {
			t.Fatalf("%s recorded history: %s", what, h.body)
		}
	}

	feedBefore, err := e.st.Feed().Last(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := e.snapshot()
	valid, _ := edited(2, func(ib map[string]any) { ib["port"] = 21002 })
	r := e.do("POST", "/api/core/config/check", tok, valid)
	e.expect(r, 200, "check a valid config")
	if string(r.body) != `{"ok":true}` {
		t.Fatalf("check answered %s", r.body)
	}
	unchanged(before, "checking a valid config")
	if feedAfter, _ := e.st.Feed().Last(ctx); feedAfter != feedBefore {
		t.Fatalf("check published to the feed: %d -> %d", feedBefore, feedAfter)
	}

	xrayRefuses, tag2 := edited(2, func(ib map[string]any) { ib["protocol"] = "nonsense" })
	outpostRefuses, tag1 := edited(1, func(ib map[string]any) { ib["port"] = 70000 })
	for _, tc := range []struct {
		name     string
		cfg      any
		tag      string
		path     string
		inDetail string
	}{
		{"unknown protocol (Xray's builder)", xrayRefuses, tag2, "inbounds[2]", "nonsense"},
		{"port out of range (Outpost's inbound rules)", outpostRefuses, tag1, "inbounds[1]", "no usable port"},
		{"bad outbound", `{"outbounds":[{"protocol":"freedom","settings":{"domainStrategy":42}}]}`, "", "", "outbound"},
		{"malformed JSON", `{"inbounds":[`, "", "", ""},
	} {
		before := e.snapshot()
		r := e.do("POST", "/api/core/config/check", tok, tc.cfg)
		e.expect(r, 422, "check: "+tc.name)
		var got configError
		r.decode(t, &got)
		if got.Inbound != tc.tag || got.Path != tc.path || !strings.Contains(got.Detail, tc.inDetail) {
			t.Errorf("check %s: %s, want inbound %q at %q and %q in the detail", tc.name, r.body, tc.tag, tc.path, tc.inDetail)
		}
		unchanged(before, "check: "+tc.name)
		if tc.path == "" {
			continue
		}
		r = e.do("PUT", "/api/core/config", tok, tc.cfg)
		e.expect(r, 400, "PUT: "+tc.name)
		var put configError
		r.decode(t, &put)
		if put != got {
			t.Errorf("PUT %s answered %s, check %+v", tc.name, r.body, got)
		}
		unchanged(before, "PUT: "+tc.name)
	}
	e.expect(e.do("POST", "/api/core/config/check", e.token(e.alice), valid), 403, "reseller")
}
