package render

import (
	"errors"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/model"
)

func TestSelectDefaultRules(t *testing.T) {
	sel, err := NewSelector(DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	garbage := strings.Repeat("\xff\x00<script>ä(((", 800) // ~10 KB
	tests := []struct {
		ua   string
		want Format
	}{
		// Marzban's defaults: the four Xray JSON clients get links until a
		// USE_CUSTOM_JSON_* switch is on (TestCustomJSONSwitches).
		{"v2rayN/6.42", V2Ray},
		{"v2rayN/7.10.5", V2Ray},
		{"v2rayNG/1.8.30", V2Ray},
		{"v2rayNG/1.10.0", V2Ray},
		{"Happ/1.63.1", V2Ray},
		{"Happ/2.0.1/ios", V2Ray},
		{"Streisand", V2Ray},
		{"streisand/1.6.30", V2Ray},
		{"clash-verge/v1.7", ClashMeta},
		{"clash-verge/v2.0.3 Clash Verge Rev", ClashMeta},
		{"ClashMetaForAndroid/2.10", ClashMeta},
		{"Clash.Meta/1.18", ClashMeta},
		{"FlClash/v0.8.80 clash-verge Platform/android", ClashMeta},
		{"FlClashX/0.1.0", ClashMeta},
		{"clash-nyanpasu/v1.6.1", ClashMeta},
		{"ClashX Meta/v1.4.5", ClashMeta},
		{"mihomo/1.18", ClashMeta},
		{"mihomo.party/v1.5.12 (clash.meta)", ClashMeta},
		{"Stash/2.4", Clash},
		{"ClashX/1.95", Clash},
		{"ClashForWindows/0.20.39", Clash},
		{"clash", Clash},
		{"SFA/1.9", SingBox},
		{"SFI/1.9.3 (iOS 17)", SingBox},
		{"SFM/1.10.0", SingBox},
		{"SFT/1.10.0", SingBox},
		{"Hiddify/2.5 (HiddifyNext)", SingBox},
		{"HiddifyNext/2.5.7", SingBox},
		{"sing-box 1.10", SingBox},
		{"sing-box/1.12.0", SingBox},
		{"Mozilla/5.0 singbox-client", SingBox},
		{"Karing/1.0.32.426", SingBox},
		{"karing", SingBox},
		{"Shadowrocket/2070 CFNetwork/1496.0.7 Darwin/23.5.0", V2Ray},
		{"Outline/1.12", Outline},
		{"SS/1.0", Outline},
		{"SSR", Outline},
		{"SSconf", Outline},
		{"Shadowsocks/5.0", Outline},
		{"curl/8.5.0", V2Ray},
		{"Wget/1.21", V2Ray},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0", V2Ray},
		{"okhttp/4.12.0", V2Ray},
		{"NekoBox/Android/1.3.3", V2Ray},
		{"", V2Ray},
		{garbage, V2Ray},
		{"клиент/1.0 客户端 🚀", V2Ray},
		{"\u202eSFA", V2Ray},
		{"v2rayN/6.", V2Ray},
		{strings.Repeat("a", 600) + "sing-box", V2Ray}, // past the 512-byte cut
		{"sing-box" + strings.Repeat("a", 10000), SingBox},
	}
	for _, tt := range tests {
		name := tt.ua
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if got := sel.Select(tt.ua); got != tt.want {
				t.Fatalf("Select(%.80q) = %s, want %s", tt.ua, got, tt.want)
			}
		})
	}
}

func TestNilSelectorDefaultsToV2Ray(t *testing.T) {
	var s *Selector
	if got := s.Select("clash-verge/v1.7"); got != V2Ray {
		t.Fatalf("%s", got)
	}
	empty, err := NewSelector(nil)
	if err != nil || empty.Select("SFA/1.9") != V2Ray {
		t.Fatalf("%v", err)
	}
}

func TestCustomRulesOrder(t *testing.T) {
	sel, err := NewSelector([]Rule{{Pattern: `^SFA`, Format: V2RayJSON}, {Pattern: `^SF`, Format: SingBox}})
	if err != nil {
		t.Fatal(err)
	}
	if got := sel.Select("SFA/1.9"); got != V2RayJSON {
		t.Fatalf("first match must win, got %s", got)
	}
	if got := sel.Select("SFI/1.9"); got != SingBox {
		t.Fatalf("got %s", got)
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		msg   string // "" means valid
	}{
		{"defaults", DefaultRules(), ""},
		{"none", nil, ""},
		{"bad regex", []Rule{{Pattern: `^(clash`, Format: Clash}}, "rule 1: pattern"},
		{"look-ahead is not RE2", []Rule{{Pattern: `^(?=x)`, Format: Clash}}, "rule 1: pattern"},
		{"unknown format", []Rule{{Pattern: `x`, Format: "clash-verge"}}, `unknown format "clash-verge"`},
		{"empty pattern", []Rule{{Pattern: ``, Format: Clash}}, "empty pattern"},
		{"min version without group", []Rule{{Pattern: `^v2rayN/`, Format: V2RayJSON, MinVersion: "6.40"}}, "capture group"},
		{"bad min version", []Rule{{Pattern: `^v2rayN/(\S+)`, Format: V2RayJSON, MinVersion: "6.x"}}, "not a dotted version"},
		{"second rule named", []Rule{{Pattern: `a`, Format: Clash}, {Pattern: `(`, Format: Clash}}, "rule 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRules(tt.rules)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want ErrInvalid mentioning %q", err, tt.msg)
			}
			if _, err := NewSelector(tt.rules); !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("NewSelector accepted invalid rules: %v", err)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range Formats {
		if got, ok := ParseFormat(string(f)); !ok || got != f {
			t.Fatalf("ParseFormat(%q) = %q, %v", f, got, ok)
		}
	}
	for _, s := range []string{"", "html", "V2RAY", "sing_box", "clash-meta "} {
		if _, ok := ParseFormat(s); ok {
			t.Fatalf("ParseFormat(%q) accepted", s)
		}
	}
}

func FuzzSelect(f *testing.F) {
	sel, err := NewSelector(DefaultRules())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"v2rayN/6.40", "Happ/1.63.1", "", "v2rayNG/1.8.", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		if _, ok := ParseFormat(string(sel.Select(ua))); !ok {
			t.Fatalf("Select(%q) gave an unknown format", ua)
		}
	})
}

// TestCustomJSONSwitches: each of Marzban's USE_CUSTOM_JSON_* switches
// sends its client Xray JSON from the version that imports it, links
// before that and while off; Default turns all four on; a switch decides
// before the rules, and no switch touches another client.
func TestCustomJSONSwitches(t *testing.T) {
	base, err := NewSelector(DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	type ua struct {
		ua   string
		json bool // JSON when its switch is on
	}
	clients := map[string][]ua{
		"USE_CUSTOM_JSON_FOR_V2RAYN": {{"v2rayN/6.40", true}, {"v2rayN/6.42", true}, {"v2rayN/7.10.5", true},
			{"v2rayN/99999999999999999999999.1", true}, {"v2rayN/6.39", false}, {"v2rayN/6.9", false}, {"v2rayN/6.", false}},
		"USE_CUSTOM_JSON_FOR_V2RAYNG": {{"v2rayNG/1.8.29", true}, {"v2rayNG/1.8.30", true}, {"v2rayNG/1.10.0", true},
			{"v2rayNG/2", true}, {"v2rayNG/1.8.20", false}, {"v2rayNG/1.8.", false}},
		"USE_CUSTOM_JSON_FOR_STREISAND": {{"Streisand", true}, {"streisand/1.6.30", true}},
		"USE_CUSTOM_JSON_FOR_HAPP":      {{"Happ/1.63.1", true}, {"Happ/2.0.1/ios", true}, {"Happ/1.63.0", false}},
	}
	others := []ua{{"clash-verge/v1.7", false}, {"SFA/1.9", false}, {"Outline/1.12", false}, {"curl/8.5.0", false}, {"", false}}
	others = append(others, ua{"NekoBox/Android/1.3.3", false})
	for _, on := range CustomJSONVars {
		var sw CustomJSON
		*sw.Switch(on) = true
		sel := base.WithCustomJSON(sw)
		for client, uas := range clients {
			for _, u := range uas {
				want := V2Ray
				if u.json && (on == client || on == "USE_CUSTOM_JSON_DEFAULT") {
					want = V2RayJSON
				}
				d := sel.Explain(u.ua)
				if d.Format != want {
					t.Errorf("%s on: %q got %s, want %s", on, u.ua, d.Format, want)
				}
				if want == V2RayJSON && (d.Switch != client || d.Rule != -1) {
					t.Errorf("%s on: %q decided by switch %q rule %d, want switch %s", on, u.ua, d.Switch, d.Rule, client)
				}
				if got := base.Select(u.ua); got != V2Ray {
					t.Errorf("all off: %q got %s, want v2ray links", u.ua, got)
				}
			}
		}
		for _, u := range others {
			if got, want := sel.Select(u.ua), base.Select(u.ua); got != want {
				t.Errorf("%s on: %q got %s, want %s as without switches", on, u.ua, got, want)
			}
		}
	}
	// The switch comes before the rules: a rule sending v2rayN links does
	// not hold against USE_CUSTOM_JSON_FOR_V2RAYN, and without the switch
	// a rule can still send JSON.
	rules := []Rule{{Pattern: `^v2rayN`, Format: V2Ray}, {Pattern: `^Happ`, Format: V2RayJSON}}
	sel, err := NewSelector(rules)
	if err != nil {
		t.Fatal(err)
	}
	if got := sel.WithCustomJSON(CustomJSON{V2RayN: true}).Select("v2rayN/7.0"); got != V2RayJSON {
		t.Errorf("switch under a rule: %s", got)
	}
	if f, i := sel.WithCustomJSON(CustomJSON{V2RayN: true}).Match("Happ/1.0.0"); f != V2RayJSON || i != 1 {
		t.Errorf("rule without a switch: %s by rule %d", f, i)
	}
	var nilSel *Selector
	if got := nilSel.WithCustomJSON(CustomJSON{Default: true}).Select("Streisand"); got != V2RayJSON {
		t.Errorf("nil selector with Default: %s", got)
	}
}
