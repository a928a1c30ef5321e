package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/xtls/xray-core/infra/conf/serial"
	_ "github.com/xtls/xray-core/main/distro/all"
	"go.yaml.in/yaml/v3"

	"github.com/outpost-panel/outpost/backend/sub"
)

// TestXrayJSONBuilds feeds every v2ray-json config of every case to Xray's
// own config loader and builder.
func TestXrayJSONBuilds(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			in := gc.input(t)
			body, ctype, err := Render(V2RayJSON, in)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ctype, "application/json") {
				t.Fatalf("content type %q", ctype)
			}
			var configs []json.RawMessage
			if err := json.Unmarshal(body, &configs); err != nil {
				t.Fatalf("not a JSON array: %v", err)
			}
			if want := countEntries(in); len(configs) != want {
				t.Fatalf("%d configs for %d entries", len(configs), want)
			}
			for i, cfg := range configs {
				var shape struct {
					Remarks   string `json:"remarks"`
					Inbounds  []struct{ Port int }
					Outbounds []struct {
						Tag, Protocol string
						Settings      struct {
							Vnext []struct{ Users []map[string]any }
						}
					}
				}
				if err := json.Unmarshal(cfg, &shape); err != nil {
					t.Fatal(err)
				}
				if shape.Remarks == "" || len(shape.Inbounds) != 2 || shape.Inbounds[0].Port != 10808 || shape.Inbounds[1].Port != 10809 {
					t.Fatalf("config %d: remarks %q, inbounds %+v", i, shape.Remarks, shape.Inbounds)
				}
				var tags []string
				for _, ob := range shape.Outbounds {
					tags = append(tags, ob.Tag)
				}
				if len(tags) == 4 && tags[3] == dialerTag {
					tags = tags[:3] // the host's fragment/noise dialer
				}
				if !slices.Equal(tags, []string{"proxy", "direct", "block"}) {
					t.Fatalf("config %d: outbound tags %v, want proxy, direct, block", i, tags)
				}
				if p := shape.Outbounds[0]; p.Protocol == "vless" && p.Settings.Vnext[0].Users[0]["encryption"] != "none" {
					t.Fatalf("config %d: VLESS user without encryption none", i)
				}
				c, err := serial.DecodeJSONConfig(bytes.NewReader(cfg))
				if err != nil {
					t.Fatalf("config %d: xray decode: %v\n%s", i, err, cfg)
				}
				if _, err := c.Build(); err != nil {
					t.Fatalf("config %d: xray build: %v\n%s", i, err, cfg)
				}
			}
		})
	}
}

func countEntries(in Input) int {
	if e, ok := placeholder(in.User.Status); ok {
		_ = e
		return 1
	}
	n := 0
	sub.EachEntry(in.User, in.Inbounds, in.Hosts, in.DefaultAddress, sub.Options{Now: in.Now}, func(*sub.Entry) { n++ })
	return n
}

// clashKeys are the keys each Clash proxy type must and may carry, as
// mihomo spells them.
var (
	clashRequired = map[string][]string{
		"ss":     {"name", "type", "server", "port", "cipher", "password"},
		"vmess":  {"name", "type", "server", "port", "uuid", "alterId", "cipher"},
		"vless":  {"name", "type", "server", "port", "uuid"},
		"trojan": {"name", "type", "server", "port", "password"},
	}
	clashAllowed = []string{"name", "type", "server", "port", "udp", "cipher", "password", "uuid", "alterId", "flow",
		"tls", "servername", "sni", "alpn", "skip-cert-verify", "client-fingerprint", "fingerprint", "reality-opts",
		"network", "ws-opts", "grpc-opts", "http-opts", "xhttp-opts"}
	clashOpts = map[string][]string{
		"ws-opts":      {"path", "headers", "max-early-data", "early-data-header-name", "v2ray-http-upgrade"},
		"grpc-opts":    {"grpc-service-name"},
		"http-opts":    {"method", "path", "headers"},
		"xhttp-opts":   {"path", "host", "mode", "headers"},
		"reality-opts": {"public-key", "short-id"},
	}
)

// TestClashParsesBack reads every Clash and Clash Meta case with yaml.v3 and
// checks each proxy's keys, the groups and the rules.
func TestClashParsesBack(t *testing.T) {
	for _, f := range []Format{Clash, ClashMeta} {
		for _, gc := range goldenCases() {
			t.Run(string(f)+"/"+gc.name, func(t *testing.T) {
				body, _, err := Render(f, gc.input(t))
				if err != nil {
					t.Fatal(err)
				}
				checkClash(t, f, body)
			})
		}
	}
}

func checkClash(t *testing.T, f Format, body []byte) {
	t.Helper()
	var doc struct {
		Proxies []map[string]any `yaml:"proxies"`
		Groups  []struct {
			Name    string   `yaml:"name"`
			Type    string   `yaml:"type"`
			Proxies []string `yaml:"proxies"`
		} `yaml:"proxy-groups"`
		Rules []string `yaml:"rules"`
	}
	if err := yaml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("yaml: %v\n%s", err, body)
	}
	names := map[string]bool{"DIRECT": true, "REJECT": true}
	for _, p := range doc.Proxies {
		typ, _ := p["type"].(string)
		req, ok := clashRequired[typ]
		if !ok {
			t.Fatalf("proxy type %q", typ)
		}
		if f == Clash && typ == "vless" {
			t.Fatal("vless in plain clash")
		}
		for _, k := range req {
			if _, ok := p[k]; !ok {
				t.Fatalf("%s proxy without %q: %v", typ, k, p)
			}
		}
		for k, v := range p {
			if !slices.Contains(clashAllowed, k) {
				t.Fatalf("%s proxy has unknown key %q", typ, k)
			}
			if allowed, ok := clashOpts[k]; ok {
				for sk := range v.(map[string]any) {
					if !slices.Contains(allowed, sk) {
						t.Fatalf("%s.%s unknown", k, sk)
					}
				}
			}
		}
		if typ == "trojan" && (p["servername"] != nil || p["tls"] != nil) {
			t.Fatal("trojan must use sni, not servername/tls")
		}
		if f == Clash && (p["reality-opts"] != nil || p["client-fingerprint"] != nil) {
			t.Fatalf("meta-only keys in plain clash: %v", p)
		}
		if n := p["network"]; n == "kcp" || (f == Clash && n == "xhttp") {
			t.Fatalf("network %v in %s", n, f)
		}
		if port, ok := p["port"].(int); !ok || port <= 0 {
			t.Fatalf("port %v", p["port"])
		}
		name := p["name"].(string)
		if names[name] {
			t.Fatalf("duplicate proxy name %q", name)
		}
		names[name] = true
	}
	groupNames := map[string]bool{}
	for _, g := range doc.Groups {
		groupNames[g.Name] = true
	}
	for _, g := range doc.Groups {
		if len(g.Proxies) == 0 {
			t.Fatalf("empty group %q", g.Name)
		}
		for _, p := range g.Proxies {
			if !names[p] && !groupNames[p] {
				t.Fatalf("group %q lists unknown %q", g.Name, p)
			}
		}
	}
	if len(doc.Groups) != 2 || doc.Groups[0].Type != "select" || doc.Groups[1].Type != "url-test" {
		t.Fatalf("groups %+v", doc.Groups)
	}
	if n := len(doc.Rules); n == 0 || doc.Rules[n-1] != "MATCH,"+clashSelectGroup {
		t.Fatalf("rules do not end with MATCH: %v", doc.Rules)
	}
}

// TestSingBoxShape checks what sing-box's loader refuses: duplicate tags,
// groups naming missing or no outbounds, transports it lacks.
func TestSingBoxShape(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			body, _, err := Render(SingBox, gc.input(t))
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Outbounds []struct {
					Type      string   `json:"type"`
					Tag       string   `json:"tag"`
					Outbounds []string `json:"outbounds"`
					Transport *struct {
						Type string `json:"type"`
					} `json:"transport"`
					TLS *struct {
						Reality *struct{ Enabled bool } `json:"reality"`
						UTLS    *struct{ Enabled bool } `json:"utls"`
					} `json:"tls"`
				} `json:"outbounds"`
				Route struct {
					Final string `json:"final"`
				} `json:"route"`
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			if err := dec.Decode(&cfg); err != nil {
				t.Fatalf("json: %v", err)
			}
			tags := map[string]bool{}
			for _, ob := range cfg.Outbounds {
				if tags[ob.Tag] {
					t.Fatalf("duplicate tag %q", ob.Tag)
				}
				tags[ob.Tag] = true
				if ob.Transport != nil && !slices.Contains([]string{"ws", "grpc", "httpupgrade", "http"}, ob.Transport.Type) {
					t.Fatalf("transport %q", ob.Transport.Type)
				}
				if ob.TLS != nil && ob.TLS.Reality != nil && (ob.TLS.UTLS == nil || !ob.TLS.UTLS.Enabled) {
					t.Fatalf("%s: reality without utls", ob.Tag)
				}
			}
			for _, ob := range cfg.Outbounds {
				if ob.Type == "selector" || ob.Type == "urltest" {
					if len(ob.Outbounds) == 0 {
						t.Fatalf("empty group %q", ob.Tag)
					}
					for _, o := range ob.Outbounds {
						if !tags[o] {
							t.Fatalf("group %q lists unknown %q", ob.Tag, o)
						}
					}
				}
			}
			if !tags[cfg.Route.Final] || !tags["direct"] {
				t.Fatalf("route.final %q or direct missing", cfg.Route.Final)
			}
		})
	}
}

// TestV2RayIsTheLinks: the base64 body is exactly sub.Links joined by "\n".
func TestV2RayIsTheLinks(t *testing.T) {
	for _, gc := range goldenCases() {
		if strings.HasPrefix(gc.name, "status-") && gc.name != "status-on-hold" {
			continue
		}
		t.Run(gc.name, func(t *testing.T) {
			in := gc.input(t)
			body, _, err := Render(V2Ray, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := base64.StdEncoding.DecodeString(string(body))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Join(sub.LinksWith(in.User, in.Inbounds, in.Hosts, in.DefaultAddress, sub.Options{Now: in.Now}), "\n")
			if string(got) != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
