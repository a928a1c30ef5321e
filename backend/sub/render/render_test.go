package render

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
)

// TestStatusPlaceholders: a user who may not connect gets, in every format,
// a valid subscription with one entry that says why, pointing nowhere.
func TestStatusPlaceholders(t *testing.T) {
	ins := defaultInbounds(t)
	tests := []struct {
		name   string
		mutate func(u *model.User)
		remark string
	}{
		{"disabled", func(u *model.User) { u.Status = model.StatusDisabled }, "Disabled"},
		{"limited", func(u *model.User) { u.Status = model.StatusLimited }, "Data limit reached"},
		{"expired", func(u *model.User) { u.Status = model.StatusExpired }, "Expired"},
		// Still "active" in the database, but past its limits: the review
		// job has not run yet.
		{"active past expiry", func(u *model.User) { u.Expire = fixedNow.Add(-time.Minute).Unix() }, "Expired"},
		{"active over the limit", func(u *model.User) { u.DataLimit, u.UsedTraffic = 100, 100 }, "Data limit reached"},
	}
	for _, tt := range tests {
		for _, f := range Formats {
			t.Run(tt.name+"/"+string(f), func(t *testing.T) {
				u := testUser()
				tt.mutate(u)
				body, _, err := Render(f, Input{User: u, Inbounds: ins, DefaultAddress: panelAddress, Now: fixedNow})
				if err != nil {
					t.Fatal(err)
				}
				text := string(body)
				switch f {
				case V2Ray:
					raw, err := base64.StdEncoding.DecodeString(text)
					if err != nil {
						t.Fatal(err)
					}
					text = string(raw)
					if strings.Count(text, "\n") != 0 || !strings.HasPrefix(text, "ss://") || !strings.Contains(text, "@127.0.0.1:1#") {
						t.Fatalf("want one ss link to 127.0.0.1:1, got %s", text)
					}
					text = strings.ReplaceAll(text, "%20", " ")
				case Outline:
					var key struct {
						Server string `json:"server"`
						Port   int    `json:"server_port"`
					}
					if err := json.Unmarshal(body, &key); err != nil || key.Server != "127.0.0.1" || key.Port != 1 {
						t.Fatalf("outline key %s (%v)", body, err)
					}
					return // Outline's key has no name to show
				case Clash, ClashMeta:
					checkClash(t, f, body)
				}
				if !strings.Contains(text, tt.remark) {
					t.Fatalf("no %q in\n%s", tt.remark, body)
				}
				if strings.Contains(text, testUUID) {
					t.Fatal("real credentials in a placeholder subscription")
				}
			})
		}
	}
}

// TestOnHoldGetsRealEntries: on_hold users are on the nodes and connect.
func TestOnHoldGetsRealEntries(t *testing.T) {
	u := testUser()
	u.Status = model.StatusOnHold
	body, _, err := Render(ClashMeta, Input{User: u, Inbounds: defaultInbounds(t), DefaultAddress: panelAddress, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), testUUID) {
		t.Fatalf("on_hold user got no real entries:\n%s", body)
	}
}

func TestOutline(t *testing.T) {
	body, ctype, err := Render(Outline, Input{User: testUser(), Inbounds: defaultInbounds(t), DefaultAddress: panelAddress, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]any
	if err := json.Unmarshal(body, &key); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"server": panelAddress, "server_port": float64(20004), "password": testSSPass, "method": "aes-256-gcm"}
	for k, v := range want {
		if key[k] != v {
			t.Fatalf("%s = %v, want %v (ctype %s)", k, key[k], v, ctype)
		}
	}
	u := testUser()
	delete(u.Proxies, model.ProtoShadowsocks)
	_, _, err = Render(Outline, Input{User: u, Inbounds: defaultInbounds(t), DefaultAddress: panelAddress, Now: fixedNow})
	if !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("no shadowsocks: %v, want ErrNotFound", err)
	}
}

func TestRenderRejects(t *testing.T) {
	if _, _, err := Render("html", Input{User: testUser()}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("unknown format: %v", err)
	}
	if _, _, err := Render(V2Ray, Input{}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("no user: %v", err)
	}
}

// TestFormatFiltering pins what each format drops, counted over every combo.
func TestFormatFiltering(t *testing.T) {
	in := Input{User: testUser(), Inbounds: inboundsFor(t, combos()), DefaultAddress: panelAddress, Now: fixedNow}
	var all []sub.Entry
	sub.EachEntry(in.User, in.Inbounds, nil, panelAddress, sub.Options{Now: fixedNow}, func(e *sub.Entry) { all = append(all, *e) })
	count := func(keep func(e *sub.Entry) bool) int {
		n := 0
		for i := range all {
			if keep(&all[i]) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		f    Format
		want int
	}{
		{Clash, count(func(e *sub.Entry) bool { return clashSupports(e, false) })},
		{ClashMeta, count(func(e *sub.Entry) bool { return clashSupports(e, true) })},
		{SingBox, count(singBoxSupports)},
	}
	for _, tt := range tests {
		body, _, err := Render(tt.f, in)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if tt.f == SingBox {
			var cfg struct{ Outbounds []struct{ Type string } }
			if err := json.Unmarshal(body, &cfg); err != nil {
				t.Fatal(err)
			}
			for _, ob := range cfg.Outbounds {
				switch ob.Type {
				case "vless", "vmess", "trojan", "shadowsocks":
					got++
				case "selector", "urltest", "direct":
				default:
					t.Fatalf("outbound type %q", ob.Type)
				}
			}
		} else {
			var doc struct {
				Proxies []map[string]any `yaml:"proxies"`
			}
			if err := yaml.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			got = len(doc.Proxies)
		}
		if got != tt.want || got == 0 || got == len(all) {
			t.Fatalf("%s: %d proxies, want %d of %d", tt.f, got, tt.want, len(all))
		}
	}
	// Spot checks of the rules themselves.
	find := func(proto, network, security string) *sub.Entry {
		for i := range all {
			if e := &all[i]; e.Protocol == proto && e.Network == network && e.Security == security && e.HeaderType != "http" {
				return e
			}
		}
		t.Fatalf("no %s %s %s entry", proto, network, security)
		return nil
	}
	checks := []struct {
		e                 *sub.Entry
		clash, meta, sbox bool
	}{
		{find("vless", "tcp", "reality"), false, true, true},
		{find("vmess", "ws", "tls"), true, true, true},
		{find("vmess", "httpupgrade", "none"), false, true, true},
		{find("vless", "xhttp", "tls"), false, true, false},
		{find("vmess", "xhttp", "tls"), false, false, false},
		{find("vmess", "kcp", "none"), false, false, false},
		{find("trojan", "tcp", "none"), false, false, true},
		{find("trojan", "grpc", "tls"), true, true, true},
		{find("trojan", "tcp", "reality"), false, false, true},
	}
	for i := range all {
		if e := &all[i]; e.HeaderType == "http" && e.Protocol == "vmess" {
			if want := e.Security == "none"; singBoxSupports(e) != want {
				t.Errorf("sing-box vmess raw http header over %s: supported %v", e.Security, !want)
			}
		}
	}
	for _, c := range checks {
		if clashSupports(c.e, false) != c.clash || clashSupports(c.e, true) != c.meta || singBoxSupports(c.e) != c.sbox {
			t.Errorf("%s %s %s: clash %v meta %v sing-box %v", c.e.Protocol, c.e.Network, c.e.Security,
				clashSupports(c.e, false), clashSupports(c.e, true), singBoxSupports(c.e))
		}
	}
}

func TestSplitEarlyData(t *testing.T) {
	tests := []struct {
		in   string
		path string
		ed   int
	}{
		{"/ws", "/ws", 0},
		{"/ws?ed=2048", "/ws", 2048},
		{"/ws?a=1&ed=1024&b=2", "/ws?a=1&b=2", 1024},
		{"/ws?ed=x", "/ws?ed=x", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		if p, ed := splitEarlyData(tt.in); p != tt.path || ed != tt.ed {
			t.Errorf("splitEarlyData(%q) = %q, %d", tt.in, p, ed)
		}
	}
}

func TestUniqueNames(t *testing.T) {
	u := uniqueNames{"Proxy": {}}
	got := []string{u.take("a"), u.take("a"), u.take("Proxy"), u.take(""), u.take("a 2")}
	want := []string{"a", "a 2", "Proxy 2", "proxy", "a 2 2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}

func TestHostileRemarksStayValid(t *testing.T) {
	ins := defaultInbounds(t)
	hosts := map[string][]sub.Host{}
	for _, in := range ins {
		hosts[in.Tag] = []sub.Host{
			{Remark: "a\"b\\c\nd: e # f", Address: "x.example.com"},
			{Remark: "- [x]: {y}\r\n\u2028\x00\x7f\xff 'q' &anchor *alias !tag %p @ `", Address: "y.example.com"},
		}
	}
	in := Input{User: testUser(), Inbounds: ins, Hosts: hosts, DefaultAddress: panelAddress, Now: fixedNow}
	for _, f := range []Format{Clash, ClashMeta} {
		body, _, err := Render(f, in)
		if err != nil {
			t.Fatal(err)
		}
		checkClash(t, f, body)
	}
	for _, f := range []Format{SingBox, V2RayJSON} {
		body, _, err := Render(f, in)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(body) {
			t.Fatalf("%s: invalid JSON\n%s", f, body)
		}
	}
}

func TestLoadTemplates(t *testing.T) {
	t.Run("missing files use the built-ins", func(t *testing.T) {
		tp, err := LoadTemplates(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		a, _, _ := Render(ClashMeta, Input{User: testUser(), Inbounds: defaultInbounds(t), Now: fixedNow, Templates: tp})
		b, _, _ := Render(ClashMeta, Input{User: testUser(), Inbounds: defaultInbounds(t), Now: fixedNow})
		if string(a) != string(b) {
			t.Fatal("an empty template dir changed the output")
		}
	})
	t.Run("custom skeletons", func(t *testing.T) {
		dir := t.TempDir()
		write := func(name, text string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(ClashMetaTemplateFile, "mixed-port: 1234\nproxies:\n  - {name: old}\nrules:\n  - DOMAIN-SUFFIX,ir,DIRECT\n")
		write(ClashTemplateFile, "port: 7000\n")
		write(SingBoxTemplateFile, `{"log":{"level":"debug"},"outbounds":[{"type":"direct","tag":"direct"},{"type":"direct","tag":"ir-direct"},{"type":"selector","tag":"proxy","outbounds":["x"]}],"route":{"rules":[{"domain_suffix":["ir"],"outbound":"ir-direct"}]}}`)
		write(XrayTemplateFile, `{"log":{"loglevel":"debug"},"inbounds":[{"tag":"socks","protocol":"socks","listen":"127.0.0.1","port":10808},{"tag":"http","protocol":"http","listen":"127.0.0.1","port":10809}],"outbounds":[{"tag":"proxy","protocol":"freedom"},{"tag":"ir","protocol":"freedom"}],"routing":{"rules":[{"type":"field","domain":["domain:ir"],"outboundTag":"ir"}]}}`)
		tp, err := LoadTemplates(dir)
		if err != nil {
			t.Fatal(err)
		}
		in := Input{User: testUser(), Inbounds: defaultInbounds(t), DefaultAddress: panelAddress, Now: fixedNow, Templates: tp}

		meta, _, _ := Render(ClashMeta, in)
		checkClash(t, ClashMeta, meta)
		for _, want := range []string{"mixed-port: 1234", `"DOMAIN-SUFFIX,ir,DIRECT"`, `"MATCH,Proxy"`} {
			if !strings.Contains(string(meta), want) {
				t.Fatalf("clash-meta lacks %s:\n%s", want, meta)
			}
		}
		if strings.Contains(string(meta), "old") {
			t.Fatal("the template's proxies were kept")
		}
		plain, _, _ := Render(Clash, in)
		checkClash(t, Clash, plain)
		if !strings.Contains(string(plain), "port: 7000") {
			t.Fatalf("clash template ignored:\n%s", plain)
		}

		sb, _, _ := Render(SingBox, in)
		var cfg struct {
			Log       map[string]any
			Outbounds []struct{ Tag, Type string }
			Route     struct {
				Final string
				Rules []any
			}
		}
		if err := json.Unmarshal(sb, &cfg); err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, ob := range cfg.Outbounds {
			tags = append(tags, ob.Tag)
		}
		if cfg.Log["level"] != "debug" || cfg.Route.Final != "proxy" || len(cfg.Route.Rules) != 1 ||
			strings.Count(strings.Join(tags, ","), "proxy") != 1 || !strings.Contains(strings.Join(tags, ","), "ir-direct") {
			t.Fatalf("sing-box merge: %s", sb)
		}

		xj, _, _ := Render(V2RayJSON, in)
		var configs []struct {
			Outbounds []struct{ Tag, Protocol string }
		}
		if err := json.Unmarshal(xj, &configs); err != nil {
			t.Fatal(err)
		}
		got := configs[0].Outbounds
		if len(got) != 4 || got[0].Tag != "proxy" || got[0].Protocol == "freedom" || got[1].Tag != "direct" || got[2].Tag != "block" || got[3].Tag != "ir" {
			t.Fatalf("xray outbounds %+v", got)
		}
	})
	for _, name := range []string{ClashTemplateFile, ClashMetaTemplateFile, SingBoxTemplateFile, XrayTemplateFile} {
		t.Run("invalid "+name, func(t *testing.T) {
			dir := t.TempDir()
			bad := "{not: [valid"
			if strings.HasSuffix(name, ".yaml") {
				bad = "- a\n- b\n" // valid YAML, but not a mapping
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadTemplates(dir)
			if !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v, want ErrInvalid naming %s", err, name)
			}
		})
	}
}
