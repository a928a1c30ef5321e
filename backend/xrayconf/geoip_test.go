package xrayconf

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xtls/xray-core/infra/conf/serial"
)

// marzbanDefault is the shape of Marzban's default xray_config.json: a
// rule that blocks geoip:private.
const marzbanDefault = `{
  "log": {"loglevel": "warning"},
  "routing": {"rules": [
    {"ip": ["geoip:private"], "outboundTag": "BLOCK", "type": "field"},
    {"ip": ["1.2.3.4", "geoip:private"], "outboundTag": "BLOCK", "type": "field"},
    {"domain": ["example.com"], "outboundTag": "DIRECT", "type": "field"}
  ]},
  "inbounds": [{"tag": "Shadowsocks TCP", "listen": "0.0.0.0", "port": 1080, "protocol": "shadowsocks",
    "settings": {"clients": [], "network": "tcp,udp"}}],
  "outbounds": [{"protocol": "freedom", "tag": "DIRECT"}, {"protocol": "blackhole", "tag": "BLOCK"}]
}`

func TestExpandPrivateGeoIP(t *testing.T) {
	c, err := serial.DecodeJSONConfig(strings.NewReader(marzbanDefault))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Build(); err == nil || !strings.Contains(err.Error(), "geoip.dat") {
		t.Fatalf("Marzban's default config built without geoip.dat? %v", err)
	}
	out, n, err := ExpandPrivateGeoIP([]byte(marzbanDefault))
	if err != nil || n != 2 {
		t.Fatalf("expanded %d lists: %v", n, err)
	}
	if strings.Contains(string(out), "geoip:private") {
		t.Fatalf("geoip:private left in %s", out)
	}
	buildXray(t, out) // the node's own check
	var cfg struct {
		Routing struct {
			Rules []struct {
				IP []string `json:"ip"`
			} `json:"rules"`
		} `json:"routing"`
		Inbounds []struct {
			Port json.Number `json:"port"`
		} `json:"inbounds"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if r := cfg.Routing.Rules[1].IP; len(r) < 3 || r[0] != "1.2.3.4" || r[1] != "0.0.0.0/8" {
		t.Errorf("second rule's ips %v: want 1.2.3.4 then the private ranges", r)
	}
	if cfg.Inbounds[0].Port != "1080" {
		t.Errorf("port %q", cfg.Inbounds[0].Port)
	}
	plain := []byte(`{"inbounds": []}`)
	if got, n, err := ExpandPrivateGeoIP(plain); err != nil || n != 0 || string(got) != string(plain) {
		t.Errorf("a config without geoip:private changed: %s %d %v", got, n, err)
	}
}
