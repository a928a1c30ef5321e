package xraycore_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// TestCheckRefusesWhatTheEngineRefuses: configs that build but that a real
// engine refuses to start are refused by Check too, without a file created
// or a port bound; a config the engine runs passes Check, and Check leaves
// a running engine serving.
func TestCheckRefusesWhatTheEngineRefuses(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS)
	u := xraytest.TestUser(1, "u")
	s.apply(s.config, u)
	socks := s.client(xraytest.TagVLESS, u)
	if err := xraycore.Check(s.config); err != nil {
		t.Fatalf("Check of the running config: %v", err)
	}

	dir := t.TempDir()
	edit := func(f func(map[string]any)) []byte {
		var cfg map[string]any
		if err := json.Unmarshal(s.config, &cfg); err != nil {
			t.Fatal(err)
		}
		f(cfg)
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	missing := filepath.Join(dir, "missing", "x.log")
	for name, cfg := range map[string][]byte{
		"duplicate outbound tag": edit(func(c map[string]any) {
			c["outbounds"] = append(c["outbounds"].([]any), map[string]any{"tag": "direct", "protocol": "freedom"})
		}),
		"access log in a missing directory": edit(func(c map[string]any) {
			c["log"] = map[string]any{"access": missing}
		}),
		"error log in a missing directory": edit(func(c map[string]any) {
			c["log"] = map[string]any{"error": missing}
		}),
	} {
		if err := xraycore.Validate(cfg); err != nil {
			t.Fatalf("%s: Validate already refuses it (%v): the case tests nothing", name, err)
		}
		if _, err := s.engine.Apply(cfg, []protocol.User{u}); err == nil {
			t.Fatalf("%s: the engine runs it; Check must not refuse it", name)
		}
		err := xraycore.Check(cfg)
		if !errors.Is(err, xraycore.ErrInvalidConfig) {
			t.Errorf("%s: Check = %v, want ErrInvalidConfig", name, err)
		}
	}

	logged := filepath.Join(dir, "access.log")
	ok := edit(func(c map[string]any) { c["log"] = map[string]any{"access": logged} })
	if err := xraycore.Check(ok); err != nil {
		t.Fatalf("Check of a log file in an existing directory: %v", err)
	}
	if _, err := os.Stat(logged); !os.IsNotExist(err) {
		t.Fatalf("Check created %s (%v); only a running core may", logged, err)
	}
	// The running engine still serves, through its own outbounds.
	s.mustRoundTrip(socks, "after Check")
}
