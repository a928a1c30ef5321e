package xrayconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Nodes ship no geoip.dat or geosite.dat, so a config that names
// "geoip:private" (Marzban's default config does, to keep users off the
// server's own network) does not build there. ExpandPrivateGeoIP spells it
// out as the address ranges the default config blocks. Other geoip: and
// geosite: entries need the data files next to the binaries (or in
// XRAY_LOCATION_ASSET) and are left alone.

var privateRanges = sync.OnceValues(func() ([]any, error) {
	var cfg struct {
		Routing struct {
			Rules []struct {
				IP []string `json:"ip"`
			} `json:"rules"`
		} `json:"routing"`
	}
	if err := json.Unmarshal(DefaultConfig(), &cfg); err != nil || len(cfg.Routing.Rules) == 0 || len(cfg.Routing.Rules[0].IP) == 0 {
		return nil, fmt.Errorf("the default config's first routing rule lists no private ranges (%v)", err)
	}
	out := make([]any, len(cfg.Routing.Rules[0].IP))
	for i, r := range cfg.Routing.Rules[0].IP {
		out[i] = r
	}
	return out, nil
})

// ExpandPrivateGeoIP replaces "geoip:private" in the ip lists of raw's
// routing rules with the private address ranges and reports how many
// lists it changed; raw comes back as it was when there were none.
func ExpandPrivateGeoIP(raw []byte) ([]byte, int, error) {
	if !bytes.Contains(raw, []byte("geoip:private")) {
		return raw, 0, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var cfg map[string]any
	if err := dec.Decode(&cfg); err != nil {
		return nil, 0, fmt.Errorf("invalid xray config: %w", err)
	}
	routing, _ := cfg["routing"].(map[string]any)
	rules, _ := routing["rules"].([]any)
	ranges, err := privateRanges()
	if err != nil {
		return nil, 0, err
	}
	changed := 0
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		ips, _ := rule["ip"].([]any)
		i := slices.Index(ips, any("geoip:private"))
		if i < 0 {
			continue
		}
		rule["ip"] = slices.Concat(ips[:i], ranges, ips[i+1:])
		changed++
	}
	if changed == 0 {
		return raw, 0, nil
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, 0, err
	}
	return out, changed, nil
}
