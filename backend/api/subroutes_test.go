package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/sub"
)

// subPath is the /sub/{token} path of a user created through the API.
func subPath(u map[string]any) string {
	s := u["subscription_url"].(string)
	return s[strings.Index(s, "/sub/"):]
}

func (e *env) get(path string, headers map[string]string) *response {
	e.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

// base64Links decodes a v2ray body into its links.
func base64Links(t *testing.T, body []byte) []string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(string(body))
	if err != nil {
		t.Fatalf("body is not base64: %v: %.200s", err, body)
	}
	if len(raw) == 0 {
		return nil
	}
	return strings.Split(string(raw), "\n")
}

func TestSubscriptionHeadersFollowSettings(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(e.alice, "heads")
	path := subPath(u)
	sudo := e.token(e.sudo)

	r := e.get(path, nil)
	e.expect(r, 200, "default fetch")
	for h, want := range map[string]string{
		"Subscription-Userinfo":   "upload=0; download=0; total=0; expire=0",
		"Profile-Update-Interval": "12",
		"Profile-Title":           "base64:" + base64.StdEncoding.EncodeToString([]byte("heads")),
		"Content-Disposition":     `attachment; filename="heads"`,
		"Profile-Web-Page-Url":    "http://example.com" + path,
		"Support-Url":             "",
		"Cache-Control":           "no-store",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("default %s: %q, want %q", h, got, want)
		}
	}

	r = e.do("PUT", "/api/subscription/settings", sudo, map[string]any{
		"profile_update_interval": 6,
		"profile_title":           "Outpost ✈ {USERNAME}",
		"support_url":             "https://t.me/support",
		"profile_web_page_url":    "https://panel.example/me",
	})
	e.expect(r, 200, "PUT settings")
	r = e.get(path, nil)
	e.expect(r, 200, "fetch after settings")
	for h, want := range map[string]string{
		"Profile-Update-Interval": "6",
		"Profile-Title":           "base64:" + base64.StdEncoding.EncodeToString([]byte("Outpost ✈ heads")),
		"Support-Url":             "https://t.me/support",
		"Profile-Web-Page-Url":    "https://panel.example/me",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("configured %s: %q, want %q", h, got, want)
		}
	}
}

func TestSubscriptionFormatSelection(t *testing.T) {
	e := newEnv(t)
	path := subPath(e.createUser(e.alice, "formats"))
	for _, c := range []struct {
		ua, accept   string
		contentType  string
		bodyContains string
	}{
		{"", "", "text/plain", ""},
		{"curl/8.5", "", "text/plain", ""},
		{"v2rayN/6.30", "", "text/plain", ""},
		// Marzban's defaults: links until a USE_CUSTOM_JSON_* switch is on
		// (TestCustomJSONSwitchesOverHTTP).
		{"v2rayN/6.50", "", "text/plain", ""},
		{"v2rayNG/1.8.29", "", "text/plain", ""},
		{"Happ/1.63.1", "", "text/plain", ""},
		{"Streisand/1.6", "", "text/plain", ""},
		{"clash-verge/v1.7.7", "", "text/yaml", "proxies:"},
		{"mihomo/1.18", "", "text/yaml", "proxies:"},
		{"ClashForAndroid/2.5", "", "text/yaml", "proxies:"},
		{"SFA/1.10.0", "", "application/json", `"outbounds"`},
		{"HiddifyNext/2.0", "", "application/json", `"outbounds"`},
		{"Mozilla/5.0", "text/html,application/xhtml+xml", "text/html", `<html lang="en"`},
	} {
		r := e.get(path, map[string]string{"User-Agent": c.ua, "Accept": c.accept})
		e.expect(r, 200, c.ua)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, c.contentType) {
			t.Errorf("UA %q: content type %q, want %s", c.ua, ct, c.contentType)
		}
		if c.bodyContains == "" {
			if links := base64Links(t, r.body); len(links) != 2 {
				t.Errorf("UA %q: %d links, want 2 (vless, trojan)", c.ua, len(links))
			}
		} else if !strings.Contains(string(r.body), c.bodyContains) {
			t.Errorf("UA %q: body lacks %q: %.300s", c.ua, c.bodyContains, r.body)
		}
	}

	// The page speaks the browser's language, right to left for Persian,
	// and is not a download.
	r := e.get(path, map[string]string{"Accept": "text/html", "Accept-Language": "fa-IR,fa;q=0.9,en;q=0.5"})
	e.expect(r, 200, "persian page")
	if !strings.Contains(string(r.body), `<html lang="fa" dir="rtl">`) {
		t.Errorf("page not in Persian: %.200s", r.body)
	}
	if cd := r.header.Get("Content-Disposition"); cd != "" {
		t.Errorf("page sent as attachment %q", cd)
	}

	// Forced client types ignore the User-Agent.
	for f, want := range map[string]string{
		"v2ray": "text/plain", "v2ray-json": "application/json", "clash": "text/yaml",
		"clash-meta": "text/yaml", "sing-box": "application/json",
	} {
		r := e.get(path+"/"+f, map[string]string{"User-Agent": "SFA/1.10.0", "Accept": "text/html"})
		e.expect(r, 200, f)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("%s: content type %q, want %s", f, ct, want)
		}
		if r.header.Get("Subscription-Userinfo") == "" {
			t.Errorf("%s: no subscription-userinfo", f)
		}
	}
	// This user has no Shadowsocks: no Outline key to give.
	e.expect(e.get(path+"/outline", nil), 404, "outline without shadowsocks")
	// An unknown client type is a path validation error, Marzban's 422,
	// naming the types there are.
	for _, bad := range []string{"V2RAY", "xray", "clash-meta2", "..", "%00", "info2", "usage2", "sing-box%20"} {
		r := e.get(path+"/"+bad, nil)
		e.expect(r, 422, "client type "+bad)
		if d := r.detail(); !strings.HasPrefix(d, "client_type: ") || !strings.Contains(d, "clash-meta") {
			t.Errorf("client type %s: detail %q", bad, d)
		}
	}
	// A bad token is 404 whatever follows it: nothing to probe.
	bogus := "/sub/" + sub.MakeToken("formats", e.clock.Now(), "not-the-secret")
	for _, p := range []string{bogus + "/xray", bogus + "/clash", bogus + "/info", bogus + "/usage"} {
		e.expect(e.get(p, nil), 404, "bad token "+p)
	}
	// The fixed sub-paths stay what they are.
	e.expect(e.get(path+"/info", nil), 200, "info")
	e.expect(e.get(path+"/usage", nil), 200, "usage")
}

func TestSubscriptionInfoAndUsage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.createUser(e.alice, "infouser")
	path := subPath(u)
	note := "private note"
	if _, err := e.st.ModifyUser(ctx, nil, "infouser", state.UserInput{Note: &note}); err != nil {
		t.Fatal(err)
	}

	r := e.get(path+"/info", nil)
	e.expect(r, 200, "info")
	var info map[string]any
	r.decode(t, &info)
	for _, k := range []string{"username", "proxies", "status", "used_traffic", "links", "subscription_url", "expire", "data_limit", "created_at"} {
		if _, ok := info[k]; !ok {
			t.Errorf("info lacks %s: %s", k, r.body)
		}
	}
	for _, k := range []string{"admin", "note", "inbounds", "excluded_inbounds", "auto_delete_in_days"} {
		if _, ok := info[k]; ok {
			t.Errorf("info shows admin-only %s: %s", k, r.body)
		}
	}
	if strings.Contains(string(r.body), note) || strings.Contains(string(r.body), "alice") {
		t.Errorf("info leaks admin data: %s", r.body)
	}
	if fmt.Sprint(info["links"]) != fmt.Sprint(u["links"]) {
		t.Errorf("info links %v, want %v", info["links"], u["links"])
	}

	// Usage per node, in the window asked for.
	nodeID := e.createNodeForUsage("edge-1")
	userID := e.userID("infouser")
	at := e.clock.Now()
	if _, err := e.db.ApplyUsage(ctx, nodeID, 0, 0, 1, at, []store.UserTraffic{{UserID: userID, Up: 100, Down: 900}}); err != nil {
		t.Fatal(err)
	}
	r = e.get(path+"/usage", nil)
	e.expect(r, 200, "usage")
	var usage struct {
		Username string `json:"username"`
		Usages   []struct {
			NodeID      int64  `json:"node_id"`
			NodeName    string `json:"node_name"`
			UsedTraffic int64  `json:"used_traffic"`
		} `json:"usages"`
	}
	r.decode(t, &usage)
	if usage.Username != "infouser" || len(usage.Usages) != 1 || usage.Usages[0].NodeID != nodeID ||
		usage.Usages[0].NodeName != "edge-1" || usage.Usages[0].UsedTraffic != 1000 {
		t.Errorf("usage %s", r.body)
	}
	later := at.Add(2 * time.Hour).Format("2006-01-02T15:04:05")
	r = e.get(path+"/usage?start="+later, nil)
	e.expect(r, 400, "start after end")
	r = e.get(path+"/usage?start="+at.Add(time.Hour).Format("2006-01-02T15:04:05")+"&end="+later, nil)
	e.expect(r, 200, "usage in a later window")
	r.decode(t, &usage)
	if len(usage.Usages) != 0 {
		t.Errorf("usage outside the window: %s", r.body)
	}
	e.expect(e.get(path+"/usage?start=yesterday", nil), 422, "bad start")
}

func (e *env) createNodeForUsage(name string) int64 {
	e.t.Helper()
	n := &model.Node{Name: name, Address: "10.0.0.1", Port: 62050, APIPort: 62051, UsageCoefficient: 1}
	if _, err := e.st.CreateNode(context.Background(), n); err != nil {
		e.t.Fatal(err)
	}
	return n.ID
}

func (e *env) userID(name string) int64 {
	e.t.Helper()
	u, err := e.st.User(context.Background(), nil, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

// Users who may not connect still get a subscription that imports, with
// entries saying why.
func TestSubscriptionPlaceholders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		setup func(name string)
		want  string
	}{
		{"disabled", func(name string) {
			s := model.StatusDisabled
			if _, err := e.st.ModifyUser(ctx, nil, name, state.UserInput{Status: &s}); err != nil {
				t.Fatal(err)
			}
		}, "Disabled"},
		{"limited", func(name string) {
			limit := int64(500)
			if _, err := e.st.ModifyUser(ctx, nil, name, state.UserInput{DataLimit: &limit}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.ApplyUsage(ctx, e.createNodeForUsage("n-"+name), 0, 0, 1, e.clock.Now(),
				[]store.UserTraffic{{UserID: e.userID(name), Down: 1000}}); err != nil {
				t.Fatal(err)
			}
		}, "Data limit"},
		{"expired", func(name string) {
			exp := e.clock.Now().Add(time.Hour).Unix()
			if _, err := e.st.ModifyUser(ctx, nil, name, state.UserInput{Expire: &exp}); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(2 * time.Hour)
		}, "Expired"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := subPath(e.createUser(e.alice, "ph_"+c.name))
			c.setup("ph_" + c.name)
			r := e.get(path, nil)
			e.expect(r, 200, c.name)
			links := base64Links(t, r.body)
			if len(links) != 1 {
				t.Fatalf("%d links, want one placeholder: %v", len(links), links)
			}
			if !strings.Contains(links[0], strings.ReplaceAll(c.want, " ", "%20")) {
				t.Errorf("placeholder %q does not say %q", links[0], c.want)
			}
			for _, f := range []string{"clash", "clash-meta", "sing-box", "v2ray-json", "outline"} {
				r := e.get(path+"/"+f, nil)
				e.expect(r, 200, c.name+" "+f)
				if !strings.Contains(string(r.body), c.want) && f != "outline" {
					t.Errorf("%s: body does not say %q: %.300s", f, c.want, r.body)
				}
			}
		})
	}
}

func TestSubscriptionRevokedToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := subPath(e.createUser(e.alice, "revoked"))
	e.expect(e.get(old, nil), 200, "before revocation")

	e.clock.Advance(time.Minute)
	revokedAt := e.clock.Now()
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByUsername("revoked")
		if err != nil {
			return err
		}
		u.SubRevokedAt = &revokedAt
		return tx.UpdateUser(u)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, old + "/info", old + "/usage", old + "/clash"} {
		r := e.get(p, nil)
		e.expect(r, 404, "revoked "+p)
		if r.header.Get("Subscription-Userinfo") != "" {
			t.Errorf("%s: a refusal carries subscription headers", p)
		}
	}
	fresh := "/sub/" + sub.MakeToken("revoked", sub.IssueTime(e.clock.Now(), &revokedAt), e.secrets.Subscription)
	e.expect(e.get(fresh, nil), 200, "token issued after the revocation")
}

func TestSubscriptionFetchesAreBatched(t *testing.T) {
	var subs *state.Subscriptions
	e := newEnv(t, func(o *api.Options) {
		subs = state.NewSubscriptions(o.State, nil)
		o.Subscriptions = subs
	})
	ctx := context.Background()
	paths := map[string]string{}
	for _, name := range []string{"batch_a", "batch_b", "batch_c"} {
		paths[name] = subPath(e.createUser(e.alice, name))
	}
	lastAgent := func(name string) (*time.Time, string) {
		u, err := e.st.User(ctx, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		return u.SubUpdatedAt, u.SubLastUserAgent
	}
	for i := range 30 {
		for name, p := range paths {
			e.expect(e.get(p, map[string]string{"User-Agent": fmt.Sprintf("client-%s/%d", name, i)}), 200, "fetch")
		}
	}
	// No write yet: one pending record per user, the latest.
	if n := subs.Pending(); n != 3 {
		t.Errorf("pending %d, want 3", n)
	}
	if at, ua := lastAgent("batch_a"); at != nil || ua != "" {
		t.Errorf("fetch written before the flush: %v %q", at, ua)
	}
	// Viewing the page or info is not a client fetch.
	e.expect(e.get(paths["batch_a"]+"/info", nil), 200, "info")

	if err := subs.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := subs.Pending(); n != 0 {
		t.Errorf("pending after flush %d", n)
	}
	for name := range paths {
		at, ua := lastAgent(name)
		if at == nil || !at.Equal(e.clock.Now().Truncate(time.Second)) || ua != "client-"+name+"/29" {
			t.Errorf("%s after flush: %v %q", name, at, ua)
		}
	}
	// A flush with nothing pending writes nothing and succeeds.
	if err := subs.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Run flushes on its own and once more when stopped.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); subs.Run(runCtx, time.Hour) }()
	e.expect(e.get(paths["batch_b"], map[string]string{"User-Agent": "at-shutdown/1"}), 200, "fetch")
	stop()
	<-done
	if _, ua := lastAgent("batch_b"); ua != "at-shutdown/1" {
		t.Errorf("shutdown flush lost the fetch: %q", ua)
	}
}

func TestSubscriptionSettingsCRUD(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	path := subPath(e.createUser(e.alice, "rules"))

	e.expect(e.do("GET", "/api/subscription/settings", e.token(e.alice), nil), 403, "non-sudo GET")
	e.expect(e.do("PUT", "/api/subscription/settings", e.token(e.alice), map[string]any{}), 403, "non-sudo PUT")

	r := e.do("GET", "/api/subscription/settings", sudo, nil)
	e.expect(r, 200, "GET settings")
	var got map[string]any
	r.decode(t, &got)
	if got["profile_update_interval"] != float64(12) || len(got["rules"].([]any)) < 4 {
		t.Errorf("default settings %s", r.body)
	}
	defaults := string(r.body)

	settingsNow := func() string {
		r := e.do("GET", "/api/subscription/settings", sudo, nil)
		e.expect(r, 200, "GET settings")
		return string(r.body)
	}
	for _, c := range []struct {
		name   string
		body   any
		status int
	}{
		{"bad regex", map[string]any{"rules": []any{map[string]any{"pattern": "([a-", "format": "clash"}}}, 400},
		{"unknown format", map[string]any{"rules": []any{map[string]any{"pattern": "^x", "format": "xray"}}}, 400},
		{"empty pattern", map[string]any{"rules": []any{map[string]any{"pattern": "", "format": "clash"}}}, 400},
		{"rule with unknown field", map[string]any{"rules": []any{map[string]any{"pattern": "^x", "format": "clash", "prio": 1}}}, 422},
		{"rules not a list", map[string]any{"rules": "clash"}, 422},
		{"zero interval", map[string]any{"profile_update_interval": 0}, 422},
		{"huge interval", map[string]any{"profile_update_interval": 1 << 40}, 422},
		{"interval as string", map[string]any{"profile_update_interval": "12"}, 422},
		{"relative support url", map[string]any{"support_url": "/help"}, 400},
		{"support url with quote", map[string]any{"support_url": "https://x.example/\"a"}, 400},
		{"title with newline", map[string]any{"profile_title": "a\nb"}, 400},
		{"unknown field", map[string]any{"colour": "red"}, 422},
		{"not an object", "[]", 422},
	} {
		before := settingsNow()
		r := e.do("PUT", "/api/subscription/settings", sudo, c.body)
		e.expect(r, c.status, c.name)
		if after := settingsNow(); after != before {
			t.Errorf("%s changed the settings:\n%s\n%s", c.name, before, after)
		}
	}

	// Rules decide the format; saved rules are what GET shows.
	rules := []map[string]any{{"pattern": "^MyClient", "format": "sing-box"}}
	r = e.do("PUT", "/api/subscription/settings", sudo, map[string]any{"rules": rules})
	e.expect(r, 200, "PUT rules")
	r.decode(t, &got)
	if fmt.Sprint(got["rules"]) != "[map[format:sing-box pattern:^MyClient]]" || got["profile_update_interval"] != float64(12) {
		t.Errorf("after PUT rules: %s", r.body)
	}
	r = e.get(path, map[string]string{"User-Agent": "MyClient/1.0"})
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !strings.Contains(string(r.body), `"outbounds"`) {
		t.Errorf("custom rule: content type %q", ct)
	}
	r = e.get(path, map[string]string{"User-Agent": "clash-verge/1.0"})
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("rule removed but still applied: %q", ct)
	}
	// null restores the defaults.
	r = e.do("PUT", "/api/subscription/settings", sudo, map[string]any{"rules": nil})
	e.expect(r, 200, "PUT null rules")
	if now := settingsNow(); now != defaults {
		t.Errorf("null rules: %s, want the defaults %s", now, defaults)
	}
}

func TestHostsCRUD(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	u := e.createUser(e.alice, "hostuser")
	path := subPath(u)

	e.expect(e.do("GET", "/api/hosts", e.token(e.alice), nil), 403, "non-sudo GET")
	e.expect(e.do("PUT", "/api/hosts", e.token(e.alice), map[string]any{}), 403, "non-sudo PUT")

	r := e.do("GET", "/api/hosts", sudo, nil)
	e.expect(r, 200, "GET hosts")
	var hosts map[string][]map[string]any
	r.decode(t, &hosts)
	if len(hosts) != 4 || len(hosts["VLESS TCP"]) != 1 || hosts["VLESS TCP"][0]["address"] != "{SERVER_IP}" {
		t.Fatalf("default hosts %s", r.body)
	}
	defaults := string(r.body)

	// The defaults written back change no link.
	linksBefore := base64Links(t, e.get(path, nil).body)
	e.expect(e.do("PUT", "/api/hosts", sudo, []byte(defaults)), 200, "PUT defaults back")
	if got := base64Links(t, e.get(path, nil).body); fmt.Sprint(got) != fmt.Sprint(linksBefore) {
		t.Errorf("defaults written back changed links:\n%v\n%v", got, linksBefore)
	}

	full := map[string]any{
		"remark": "CDN {USERNAME}", "address": "cdn1.example,cdn2.example", "port": 443, "sni": "sni.example",
		"host": "h.example", "path": "/p", "security": "tls", "alpn": "h2,http/1.1", "fingerprint": "chrome",
		"allowinsecure": false, "is_disabled": false, "mux_enable": true, "fragment_setting": "100-200,10-20,tlshello",
		"noise_setting": "rand:10-20,10-16", "random_user_agent": true, "use_sni_as_host": false,
	}
	put := map[string]any{
		"VLESS TCP":  []any{full, map[string]any{"remark": "off", "address": "x.example", "is_disabled": true}},
		"Trojan TCP": []any{},
	}
	r = e.do("PUT", "/api/hosts", sudo, put)
	e.expect(r, 200, "PUT hosts")
	r = e.do("GET", "/api/hosts", sudo, nil)
	r.decode(t, &hosts)
	if len(hosts["VLESS TCP"]) != 2 || hosts["VLESS TCP"][0]["mux_enable"] != true || hosts["VLESS TCP"][0]["port"] != float64(443) ||
		hosts["VLESS TCP"][1]["security"] != "inbound_default" || len(hosts["Trojan TCP"]) != 0 ||
		hosts["VMess WS"][0]["address"] != "{SERVER_IP}" {
		t.Errorf("hosts after PUT %s", r.body)
	}
	// The subscription follows at once: one VLESS link through the CDN
	// (the disabled host gives none), none for Trojan.
	links := base64Links(t, e.get(path, nil).body)
	if len(links) != 1 || !strings.Contains(links[0], ":443?") || !strings.Contains(links[0], "sni=sni.example") ||
		!strings.Contains(links[0], "#CDN%20hostuser") || !strings.Contains(links[0], "@cdn") {
		t.Errorf("links with hosts %v", links)
	}

	// Fields share links cannot carry reach the formats that can.
	if r := e.get(path+"/v2ray-json", nil); !strings.Contains(string(r.body), `"mux":{"enabled":true`) {
		t.Errorf("mux_enable did not reach the Xray JSON: %.400s", r.body)
	}

	good := func(mut func(h map[string]any)) map[string]any {
		h := map[string]any{}
		for k, v := range full {
			h[k] = v
		}
		mut(h)
		return map[string]any{"VLESS TCP": []any{h}}
	}
	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{"remark": "r", "address": "a.example"}
	}
	for _, c := range []struct {
		name   string
		body   any
		status int
	}{
		{"unknown tag", map[string]any{"NOPE": []any{}}, 400},
		{"missing remark", good(func(h map[string]any) { delete(h, "remark") }), 400},
		{"blank address", good(func(h map[string]any) { h["address"] = " " }), 400},
		{"port zero", good(func(h map[string]any) { h["port"] = 0 }), 400},
		{"port too big", good(func(h map[string]any) { h["port"] = 70000 }), 422},
		{"port as string", good(func(h map[string]any) { h["port"] = "443" }), 422},
		{"security", good(func(h map[string]any) { h["security"] = "reality" }), 400},
		{"alpn", good(func(h map[string]any) { h["alpn"] = "h2,spdy" }), 400},
		{"alpn duplicate", good(func(h map[string]any) { h["alpn"] = "h2,h2" }), 400},
		{"fingerprint", good(func(h map[string]any) { h["fingerprint"] = "netscape" }), 400},
		{"fragment", good(func(h map[string]any) { h["fragment_setting"] = "1,2" }), 400},
		{"noise", good(func(h map[string]any) { h["noise_setting"] = "laser:1,2" }), 400},
		{"noise empty item", good(func(h map[string]any) { h["noise_setting"] = "rand:1-2&" }), 400},
		{"empty sni entry", good(func(h map[string]any) { h["sni"] = "a.example,,b.example" }), 400},
		{"address with path", good(func(h map[string]any) { h["address"] = "a.example/x" }), 400},
		{"control char in remark", good(func(h map[string]any) { h["remark"] = "a\x00b" }), 422},
		{"huge remark", good(func(h map[string]any) { h["remark"] = strings.Repeat("r", 300) }), 400},
		{"pinned not hex", good(func(h map[string]any) { h["pinned_peer_cert_sha256"] = "zz" }), 400},
		{"unknown field", good(func(h map[string]any) { h["colour"] = "red" }), 422},
		{"list not an array", map[string]any{"VLESS TCP": "x"}, 422},
		{"too many hosts", map[string]any{"VLESS TCP": many}, 400},
		{"not an object", "[]", 422},
	} {
		before := e.do("GET", "/api/hosts", sudo, nil).body
		r := e.do("PUT", "/api/hosts", sudo, c.body)
		e.expect(r, c.status, c.name)
		if after := e.do("GET", "/api/hosts", sudo, nil).body; string(after) != string(before) {
			t.Errorf("%s changed hosts:\n%s\n%s", c.name, before, after)
		}
	}

	// An empty body resets every inbound to the default host.
	e.expect(e.do("PUT", "/api/hosts", sudo, map[string]any{}), 200, "reset")
	if got := string(e.do("GET", "/api/hosts", sudo, nil).body); got != defaults {
		t.Errorf("after reset %s, want %s", got, defaults)
	}
}

// Whatever a client sends as its User-Agent, the answer is a 4xx or a
// correct subscription, never a 500.
func TestSubscriptionHostileUserAgents(t *testing.T) {
	e := newEnv(t)
	path := subPath(e.createUser(e.alice, "hostile"))
	addr := e.listen()
	for _, ua := range []string{
		strings.Repeat("A", 3000),
		strings.Repeat("clash", 600),
		"\x00\x01\x02\xff\xfe binary",
		"v2rayN/99999999999999999999999999.1",
		"v2rayNG/1.8.29.1.1.1.1.1.1.1.1.1.1.1",
		"Happ/",
		"مرورگر/۱.۰ 客户端 🚀",
		"((((((((((((((((((((a*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)",
		strings.Repeat("\xc3", 500),
		"sing-box " + strings.Repeat("x", 2000),
	} {
		status, body := rawGet(t, addr, path, ua)
		if status >= 500 || status == 0 {
			t.Errorf("UA %.40q: status %d", ua, status)
		}
		if status == 200 && len(body) == 0 {
			t.Errorf("UA %.40q: empty subscription", ua)
		}
	}
	// An oversized header is refused before any handler runs.
	if status, _ := rawGet(t, addr, path, strings.Repeat("B", 64<<10)); status != 431 && status != 400 && status != 0 {
		t.Errorf("64 KiB User-Agent: status %d, want 431", status)
	}
	// The stored agent is bounded and valid UTF-8.
	u, err := e.st.User(context.Background(), nil, "hostile")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.SubLastUserAgent) > 256 || !utf8.ValidString(u.SubLastUserAgent) {
		t.Errorf("stored agent %q", u.SubLastUserAgent)
	}
}

// With the lookup cache on (as the panel runs), repeated fetches reuse the
// rendered body, and changes still reach subscriptions: node-visible ones
// through the change feed, hosts and settings on this replica at once.
func TestSubscriptionWithLookupCache(t *testing.T) {
	var subs *state.Subscriptions
	e := newEnv(t, func(o *api.Options) {
		subs = state.NewSubscriptions(o.State, nil)
		subs.CacheLookups(time.Hour) // only invalidation can refresh a view
		o.Subscriptions = subs
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); subs.Run(ctx, time.Hour) }()
	defer func() { stop(); <-done }()

	path := subPath(e.createUser(e.alice, "cached"))
	first := e.get(path+"/v2ray", nil)
	e.expect(first, 200, "first fetch")
	if again := e.get(path+"/v2ray", nil); string(again.body) != string(first.body) {
		t.Errorf("cached fetch differs")
	}
	if n := len(base64Links(t, first.body)); n != 2 {
		t.Fatalf("%d links", n)
	}

	sudo := e.token(e.sudo)
	e.expect(e.do("PUT", "/api/hosts", sudo, map[string]any{"Trojan TCP": []any{}}), 200, "hosts")
	if n := len(base64Links(t, e.get(path+"/v2ray", nil).body)); n != 1 {
		t.Errorf("after removing trojan's hosts: %d links, want 1", n)
	}
	e.expect(e.do("PUT", "/api/subscription/settings", sudo, map[string]any{"profile_update_interval": 3}), 200, "settings")
	if got := e.get(path, nil).header.Get("Profile-Update-Interval"); got != "3" {
		t.Errorf("profile-update-interval %q after the change", got)
	}

	status := model.StatusDisabled
	if _, err := e.st.ModifyUser(context.Background(), nil, "cached", state.UserInput{Status: &status}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		links := base64Links(t, e.get(path+"/v2ray", nil).body)
		if len(links) == 1 && strings.Contains(links[0], "Disabled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("disabled user still served %v", links)
		}
		time.Sleep(time.Millisecond)
	}
}

// Operators' templates in TemplatesDir shape the Xray JSON; a template that
// does not parse leaves the built-in skeletons, and the panel still serves.
func TestSubscriptionTemplates(t *testing.T) {
	for _, c := range []struct {
		name, file, text, want string
	}{
		{"override", "xray.json", `{"log":{"loglevel":"error"},"routing":{"rules":[]}}`, `"loglevel":"error"`},
		{"broken", "xray.json", `{"log":`, `"outbounds"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, func(o *api.Options) { o.TemplatesDir = dir })
			r := e.get(subPath(e.createUser(e.alice, "templated"))+"/v2ray-json", nil)
			e.expect(r, 200, "v2ray-json")
			if !strings.Contains(string(r.body), c.want) {
				t.Errorf("body lacks %s: %.300s", c.want, r.body)
			}
			if c.name == "broken" && strings.Contains(string(r.body), `"loglevel":"error"`) {
				t.Errorf("broken template used")
			}
		})
	}
}
