package api_test

import (
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/api"
)

// jsonClientUAs are a User-Agent of each client Marzban's USE_CUSTOM_JSON_*
// switches cover, by switch, recent enough to import Xray JSON.
var jsonClientUAs = map[string]string{
	"use_custom_json_for_v2rayn":    "v2rayN/7.10.5",
	"use_custom_json_for_v2rayng":   "v2rayNG/1.9.1",
	"use_custom_json_for_streisand": "Streisand/1.6.30",
	"use_custom_json_for_happ":      "Happ/1.63.1",
}

// isJSONSub tells an Xray JSON subscription from base64 links, and fails
// on anything else.
func isJSONSub(t *testing.T, r *response, ua string) bool {
	t.Helper()
	ct := r.header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json") && strings.Contains(string(r.body), `"outbounds"`):
		return true
	case strings.HasPrefix(ct, "text/plain"):
		if links := base64Links(t, r.body); len(links) != 2 {
			t.Errorf("UA %q: %d links, want 2", ua, len(links))
		}
		return false
	}
	t.Fatalf("UA %q: %s %.200s", ua, ct, r.body)
	return false
}

// Each switch off gives its client links (Marzban's default), on gives it
// Xray JSON, and touches no other client; use_custom_json_default turns
// all four on. Through PUT /api/subscription/settings and real fetches.
func TestCustomJSONSwitchesOverHTTP(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	path := subPath(e.createUser(e.alice, "switches"))
	check := func(on string) {
		t.Helper()
		for sw, ua := range jsonClientUAs {
			want := on == sw || on == "use_custom_json_default"
			r := e.fetchSubscription(path, ua)
			e.expect(r, 200, ua)
			if got := isJSONSub(t, r, ua); got != want {
				t.Errorf("switch %q on: %s gets JSON %v, want %v", on, ua, got, want)
			}
		}
		// Clients the switches do not cover keep their formats.
		r := e.fetchSubscription(path, "clash-verge/v1.7.7")
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/yaml") {
			t.Errorf("switch %q on: clash got %s", on, ct)
		}
		r = e.fetchSubscription(path, "curl/8.5")
		if isJSONSub(t, r, "curl/8.5") {
			t.Errorf("switch %q on: curl got JSON", on)
		}
	}
	check("") // all off: the defaults
	for _, on := range []string{"use_custom_json_for_v2rayn", "use_custom_json_for_v2rayng", "use_custom_json_for_streisand", "use_custom_json_for_happ", "use_custom_json_default"} {
		body := map[string]any{}
		for _, sw := range []string{"use_custom_json_default", "use_custom_json_for_v2rayn", "use_custom_json_for_v2rayng", "use_custom_json_for_streisand", "use_custom_json_for_happ"} {
			body[sw] = sw == on
		}
		r := e.do("PUT", "/api/subscription/settings", tok, body)
		e.expect(r, 200, "turning on "+on)
		var got map[string]any
		r.decode(t, &got)
		if got[on] != true {
			t.Fatalf("PUT answer: %s = %v", on, got[on])
		}
		check(on)
		// The rule tester says which switch decided.
		if on != "use_custom_json_default" {
			r = e.do("POST", "/api/subscription/settings/test", tok, map[string]any{"user_agent": jsonClientUAs[on]})
			e.expect(r, 200, "tester")
			var out struct {
				Format string  `json:"format"`
				Rule   *int    `json:"rule"`
				Switch *string `json:"switch"`
			}
			r.decode(t, &out)
			if out.Format != "v2ray-json" || out.Rule != nil || out.Switch == nil || *out.Switch != strings.ToUpper(on) {
				t.Errorf("tester with %s: %+v", on, out)
			}
		}
	}
	// Old clients get links even with the switch on, as in Marzban.
	e.expect(e.do("PUT", "/api/subscription/settings", tok, map[string]any{"use_custom_json_default": true}), 200, "all on")
	for _, ua := range []string{"v2rayN/6.39", "v2rayNG/1.8.20", "Happ/1.63.0"} {
		if isJSONSub(t, e.fetchSubscription(path, ua), ua) {
			t.Errorf("%s got JSON: older than the version that imports it", ua)
		}
	}
	// A switch that is not a boolean is refused and changes nothing.
	e.expect(e.do("PUT", "/api/subscription/settings", tok, map[string]any{"use_custom_json_for_happ": "yes"}), 422, "a string switch")
	if !isJSONSub(t, e.fetchSubscription(path, "Happ/1.63.1"), "Happ") {
		t.Error("a refused PUT changed the switches")
	}
}

// The environment variables win over the stored switches: GET shows the
// value in effect and names the variables, a PUT may repeat that value but
// not change it (400, nothing changed), and fetches follow the variable.
func TestCustomJSONEnvironmentWins(t *testing.T) {
	e := newEnv(t, func(o *api.Options) {
		o.CustomJSONEnv = map[string]bool{"USE_CUSTOM_JSON_FOR_HAPP": true, "USE_CUSTOM_JSON_FOR_V2RAYN": false}
	})
	tok := e.token(e.sudo)
	path := subPath(e.createUser(e.alice, "envwins"))
	if !isJSONSub(t, e.fetchSubscription(path, "Happ/1.63.1"), "Happ") {
		t.Fatal("USE_CUSTOM_JSON_FOR_HAPP=true: Happ got links")
	}
	r := e.do("GET", "/api/subscription/settings", tok, nil)
	e.expect(r, 200, "settings")
	var got struct {
		Happ   bool     `json:"use_custom_json_for_happ"`
		V2RayN bool     `json:"use_custom_json_for_v2rayn"`
		Env    []string `json:"custom_json_env"`
	}
	r.decode(t, &got)
	if !got.Happ || got.V2RayN || strings.Join(got.Env, ",") != "USE_CUSTOM_JSON_FOR_V2RAYN,USE_CUSTOM_JSON_FOR_HAPP" {
		t.Fatalf("GET: %+v", got)
	}
	// v2rayN is pinned off: turning it on is refused, naming the variable.
	r = e.do("PUT", "/api/subscription/settings", tok, map[string]any{"use_custom_json_for_v2rayn": true, "profile_title": "changed"})
	e.expect(r, 400, "changing a pinned switch")
	if !strings.Contains(string(r.body), "USE_CUSTOM_JSON_FOR_V2RAYN") {
		t.Errorf("refusal does not name the variable: %s", r.body)
	}
	if isJSONSub(t, e.fetchSubscription(path, "v2rayN/7.0"), "v2rayN") {
		t.Fatal("v2rayN got JSON against USE_CUSTOM_JSON_FOR_V2RAYN=false")
	}
	// A PUT that leaves the pinned switches out changes the rest.
	e.expect(e.do("PUT", "/api/subscription/settings", tok, map[string]any{"profile_title": "partial"}), 200, "a PUT without the switches")
	// Repeating what GET said (the dashboard sends everything back) is
	// fine, and an unpinned switch still changes.
	r = e.do("PUT", "/api/subscription/settings", tok, map[string]any{
		"use_custom_json_for_happ": true, "use_custom_json_for_v2rayn": false, "use_custom_json_for_streisand": true,
		"custom_json_env": got.Env,
	})
	e.expect(r, 200, "repeating pinned values")
	if !isJSONSub(t, e.fetchSubscription(path, "Streisand"), "Streisand") {
		t.Fatal("unpinned streisand switch did not take")
	}
}
