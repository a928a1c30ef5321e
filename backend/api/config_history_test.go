package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
)

type configVersion struct {
	ID        int64  `json:"id"`
	Admin     string `json:"admin"`
	CreatedAt string `json:"created_at"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// withTrojanPort is the running config with the trojan inbound on port.
func withTrojanPort(t *testing.T, e *env, tok string, port int) map[string]any {
	t.Helper()
	var cfg map[string]any
	e.do("GET", "/api/core/config", tok, nil).decode(t, &cfg)
	for _, ib := range cfg["inbounds"].([]any) {
		if m := ib.(map[string]any); m["protocol"] == "trojan" {
			m["port"] = port
		}
	}
	return cfg
}

func trojanPort(t *testing.T, raw []byte) float64 {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, ib := range cfg["inbounds"].([]any) {
		if m := ib.(map[string]any); m["protocol"] == "trojan" {
			return m["port"].(float64)
		}
	}
	t.Fatal("no trojan inbound")
	return 0
}

func TestCoreConfigHistory(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	history := func() []configVersion {
		t.Helper()
		r := e.do("GET", "/api/core/config/history", tok, nil)
		e.expect(r, 200, "history")
		var h []configVersion
		r.decode(t, &h)
		return h
	}
	if h := history(); len(h) != 0 {
		t.Fatalf("history before any save: %+v", h)
	}
	original := trojanPort(t, e.do("GET", "/api/core/config", tok, nil).body)

	e.expect(e.do("PUT", "/api/core/config", tok, withTrojanPort(t, e, tok, 21001)), 200, "first save")
	h := history()
	// The first save keeps the config it replaced.
	if len(h) != 2 || h[0].Admin != e.sudo.Username || h[1].Admin != "" || h[0].ID <= h[1].ID {
		t.Fatalf("history after the first save: %+v", h)
	}
	r := e.do("GET", fmt.Sprintf("/api/core/config/history/%d", h[0].ID), tok, nil)
	e.expect(r, 200, "one version")
	sum := sha256.Sum256(r.body)
	if hex.EncodeToString(sum[:]) != h[0].SHA256 || int64(len(r.body)) != h[0].Size || trojanPort(t, r.body) != 21001 {
		t.Fatalf("version %d: size %d sha %s, listed %+v", h[0].ID, len(r.body), hex.EncodeToString(sum[:]), h[0])
	}

	// Saving the same config again records nothing.
	e.expect(e.do("PUT", "/api/core/config", tok, withTrojanPort(t, e, tok, 21001)), 200, "same save")
	if got := len(history()); got != 2 {
		t.Fatalf("an unchanged save added to the history: %d entries", got)
	}

	// Restore the original: running again, recorded as a new entry.
	r = e.do("POST", fmt.Sprintf("/api/core/config/history/%d/restore", h[1].ID), tok, nil)
	e.expect(r, 200, "restore")
	if got := trojanPort(t, r.body); got != original {
		t.Fatalf("restore answered trojan port %v, want %v", got, original)
	}
	if got := trojanPort(t, e.do("GET", "/api/core/config", tok, nil).body); got != original {
		t.Fatalf("running trojan port %v after restore, want %v", got, original)
	}
	if h2 := history(); len(h2) != 3 || h2[0].SHA256 != h[1].SHA256 || h2[0].Admin != e.sudo.Username {
		t.Fatalf("history after restore: %+v", h2)
	}

	// Only the newest 50 are kept.
	for i := range 55 {
		e.expect(e.do("PUT", "/api/core/config", tok, withTrojanPort(t, e, tok, 22000+i)), 200, "save")
	}
	h = history()
	if len(h) != 50 {
		t.Fatalf("history holds %d, want 50", len(h))
	}
	if got := trojanPort(t, e.do("GET", fmt.Sprintf("/api/core/config/history/%d", h[49].ID), tok, nil).body); got != 22005 {
		t.Fatalf("oldest kept has trojan port %v, want 22005", got)
	}

	// Errors and access.
	e.expect(e.do("GET", "/api/core/config/history/999999", tok, nil), 404, "unknown version")
	e.expect(e.do("GET", "/api/core/config/history/abc", tok, nil), 422, "bad id")
	e.expect(e.do("POST", "/api/core/config/history/999999/restore", tok, nil), 404, "restore unknown")
	e.expect(e.do("GET", "/api/core/config/history", e.token(e.alice), nil), 403, "reseller")
	e.expect(e.do("POST", fmt.Sprintf("/api/core/config/history/%d/restore", h[0].ID), e.token(e.alice), nil), 403, "reseller restore")
}
