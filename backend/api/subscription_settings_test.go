package api_test

import "testing"

func TestSubscriptionRuleTester(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	format := func(body map[string]any) string {
		t.Helper()
		r := e.do("POST", "/api/subscription/settings/test", tok, body)
		e.expect(r, 200, "test rules")
		var out struct {
			Format string `json:"format"`
		}
		r.decode(t, &out)
		return out.Format
	}
	for ua, want := range map[string]string{
		"clash-verge/v1.3.8": "clash-meta",
		"v2rayNG/1.8.30":     "v2ray", // links until USE_CUSTOM_JSON_FOR_V2RAYNG
		"v2rayNG/1.8.20":     "v2ray",
		"sing-box 1.9":       "sing-box",
		"curl/8.0":           "v2ray",
	} {
		if got := format(map[string]any{"user_agent": ua}); got != want {
			t.Errorf("default rules: %q gets %s, want %s", ua, got, want)
		}
	}
	// Rules being edited are tried without being saved.
	edited := []map[string]any{{"pattern": "^curl/", "format": "clash"}}
	if got := format(map[string]any{"user_agent": "curl/8.0", "rules": edited}); got != "clash" {
		t.Fatalf("edited rules: curl gets %s", got)
	}
	if got := format(map[string]any{"user_agent": "curl/8.0"}); got != "v2ray" {
		t.Fatalf("trying rules saved them: curl gets %s", got)
	}
	// Saved rules are what the tester uses next.
	e.expect(e.do("PUT", "/api/subscription/settings", tok, map[string]any{"rules": edited}), 200, "saving rules")
	if got := format(map[string]any{"user_agent": "curl/8.0"}); got != "clash" {
		t.Fatalf("saved rules: curl gets %s", got)
	}
	// The answer names the rule that chose the format, so reordering the
	// draft changes both.
	match := func(body map[string]any) (string, *int) {
		t.Helper()
		r := e.do("POST", "/api/subscription/settings/test", tok, body)
		e.expect(r, 200, "test rules")
		var out struct {
			Format string `json:"format"`
			Rule   *int   `json:"rule"`
		}
		r.decode(t, &out)
		return out.Format, out.Rule
	}
	two := []map[string]any{{"pattern": "^Foo", "format": "sing-box"}, {"pattern": "Foo/2", "format": "clash"}}
	if f, i := match(map[string]any{"user_agent": "Foo/2.1", "rules": two}); f != "sing-box" || i == nil || *i != 0 {
		t.Fatalf("first of two matching rules: got %s rule %v, want sing-box rule 0", f, i)
	}
	two[0], two[1] = two[1], two[0]
	if f, i := match(map[string]any{"user_agent": "Foo/2.1", "rules": two}); f != "clash" || i == nil || *i != 0 {
		t.Fatalf("reordered: got %s rule %v, want clash rule 0", f, i)
	}
	if f, i := match(map[string]any{"user_agent": "Foo/1", "rules": two}); f != "sing-box" || i == nil || *i != 1 {
		t.Fatalf("second rule: got %s rule %v, want sing-box rule 1", f, i)
	}
	if f, i := match(map[string]any{"user_agent": "Bar/1", "rules": two}); f != "v2ray" || i != nil {
		t.Fatalf("no rule: got %s rule %v, want v2ray and null", f, i)
	}
	e.expect(e.do("POST", "/api/subscription/settings/test", tok, map[string]any{"user_agent": "x", "rules": []map[string]any{{"pattern": "([", "format": "clash"}}}), 400, "bad pattern")
	e.expect(e.do("POST", "/api/subscription/settings/test", tok, map[string]any{"user_agent": "x", "rules": []map[string]any{{"pattern": "x", "format": "nope"}}}), 400, "bad format")
	e.expect(e.do("POST", "/api/subscription/settings/test", tok, map[string]any{"user_agent": 5}), 422, "user_agent a number")
	e.expect(e.do("POST", "/api/subscription/settings/test", e.token(e.alice), map[string]any{"user_agent": "x"}), 403, "reseller")
}
