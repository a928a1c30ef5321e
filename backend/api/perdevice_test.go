package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/state"
)

type perDeviceList struct {
	PerDevice bool `json:"per_device"`
	Devices   []struct {
		ID          int64  `json:"id"`
		HWID        string `json:"hwid"`
		Refused     bool   `json:"refused"`
		UsedTraffic int64  `json:"used_traffic"`
		Credential  string `json:"credential"`
	} `json:"devices"`
}

func (e *env) perDeviceList(username string) perDeviceList {
	e.t.Helper()
	var list perDeviceList
	r := e.do("GET", "/api/user/"+username+"/devices", e.token(e.sudo), nil)
	e.expect(r, 200, "devices of "+username)
	r.decode(e.t, &list)
	return list
}

// credentialOf is the credential the devices list shows for hwid.
func (l perDeviceList) credentialOf(t *testing.T, hwid string) string {
	t.Helper()
	for _, d := range l.Devices {
		if d.HWID == hwid {
			return d.Credential
		}
	}
	t.Fatalf("no device %s in %+v", hwid, l)
	return ""
}

// TestPerDeviceSubscriptions: in the credentials-per-device mode every
// format a device fetches carries that device's credentials, two devices
// get different ones, the user's own reach no client, and the limit's
// placeholder still works.
func TestPerDeviceSubscriptions(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(e.alice, "pdev")
	proxies := u["proxies"].(map[string]any)
	ownUUID := proxies["vless"].(map[string]any)["id"].(string)
	ownTrojan := proxies["trojan"].(map[string]any)["password"].(string)
	path := subPath(u)

	r := e.do("PUT", "/api/user/pdev", e.token(e.alice), map[string]any{"per_device_credentials": true})
	e.expect(r, 200, "mode on")
	var m map[string]any
	r.decode(t, &m)
	if m["per_device_credentials"] != true || m["per_device_active"] != true {
		t.Fatalf("user after mode on: per_device_credentials %v, per_device_active %v", m["per_device_credentials"], m["per_device_active"])
	}
	if entry := e.newestAudit(); !strings.Contains(string(entry.Before)+string(entry.After), "per_device_credentials") {
		t.Fatalf("the audit entry does not show the mode: %s -> %s", entry.Before, entry.After)
	}

	fetch := func(suffix, hwid string, headers map[string]string) string {
		t.Helper()
		h := map[string]string{"User-Agent": "Happ/3.1", "X-Hwid": hwid}
		for k, v := range headers {
			h[k] = v
		}
		r := e.get(path+suffix, h)
		e.expect(r, 200, "fetch "+suffix+" from "+hwid)
		return string(r.body)
	}
	a := string(base64Body(t, []byte(fetch("/v2ray", "hw-a", nil))))
	b := string(base64Body(t, []byte(fetch("/v2ray", "hw-b", nil))))
	list := e.perDeviceList("pdev")
	credA, credB := list.credentialOf(t, "hw-a"), list.credentialOf(t, "hw-b")
	if !list.PerDevice || credA == "" || credB == "" || credA == credB || credA == ownUUID {
		t.Fatalf("devices list: per_device %v, credentials %q %q (user's %q)", list.PerDevice, credA, credB, ownUUID)
	}
	var renamed map[string]any
	for _, d := range list.Devices {
		if d.HWID == "hw-a" {
			r := e.do("PUT", fmt.Sprintf("/api/user/pdev/devices/%d", d.ID), e.token(e.alice), map[string]any{"name": "A"})
			e.expect(r, 200, "rename")
			r.decode(t, &renamed)
		}
	}
	if renamed["credential"] != credA || renamed["used_traffic"] != float64(0) {
		t.Fatalf("renamed device: %v", renamed)
	}
	if !strings.Contains(a, "vless://"+credA+"@") || !strings.Contains(b, "vless://"+credB+"@") || strings.Contains(a, credB) {
		t.Fatalf("links do not carry their device's UUID:\nA %s\nB %s", a, b)
	}
	for name, body := range map[string]string{"A": a, "B": b} {
		if strings.Contains(body, ownUUID) || strings.Contains(body, ownTrojan) {
			t.Fatalf("device %s got the user's own credentials: %s", name, body)
		}
	}
	// Every format, forced or picked by User-Agent, and /info.
	for _, c := range []struct{ suffix, ua string }{
		{"", "Happ/3.1"}, {"", "v2rayNG/1.9"}, {"/clash-meta", ""}, {"/clash", ""}, {"/sing-box", ""},
		{"/v2ray-json", ""}, {"", "sing-box 1.11"}, {"", "clash-verge/2"}, {"/info", ""},
	} {
		h := map[string]string{}
		if c.ua != "" {
			h["User-Agent"] = c.ua
		}
		body := fetch(c.suffix, "hw-a", h)
		decoded := string(base64Body(t, []byte(body)))
		for _, s := range []string{body, decoded} {
			if strings.Contains(s, ownUUID) || strings.Contains(s, ownTrojan) {
				t.Fatalf("%s (%s) carries the user's own credentials: %s", c.suffix, c.ua, s)
			}
			if strings.Contains(s, credB) {
				t.Fatalf("%s (%s) as device A carries device B's credentials", c.suffix, c.ua)
			}
		}
		if c.suffix != "/clash" && !strings.Contains(body+decoded, credA) {
			t.Fatalf("%s (%s) does not carry device A's UUID: %s", c.suffix, c.ua, body)
		}
	}
	// The page in a browser shows no links at all, and says why.
	page := e.get(path, map[string]string{"Accept": "text/html", "User-Agent": "Mozilla/5.0"})
	e.expect(page, 200, "page")
	if strings.Contains(string(page.body), ownUUID) || strings.Contains(string(page.body), credA) ||
		strings.Contains(string(page.body), "vless://") || !strings.Contains(string(page.body), "import the subscription link") {
		t.Fatalf("the page in the mode: %s", page.body)
	}

	// Past the limit: the placeholder, no credentials of anybody's.
	e.expect(e.do("PUT", "/api/user/pdev", e.token(e.alice), map[string]any{"hwid_device_limit": 2}), 200, "limit 2")
	c := string(base64Body(t, []byte(fetch("/v2ray", "hw-c", nil))))
	if !strings.Contains(c, "@127.0.0.1:1#") || strings.Contains(c, ownUUID) || strings.Contains(c, credA) {
		t.Fatalf("a device past the limit got %s", c)
	}

	// Turning the mode off serves the user's own credentials again.
	e.expect(e.do("PUT", "/api/user/pdev", e.token(e.alice), map[string]any{"per_device_credentials": false}), 200, "mode off")
	if off := string(base64Body(t, []byte(fetch("/v2ray", "hw-a", nil)))); !strings.Contains(off, ownUUID) {
		t.Fatalf("mode off: %s", off)
	}
	if l := e.perDeviceList("pdev"); l.PerDevice || l.credentialOf(t, "hw-a") != "" {
		t.Fatalf("devices list with the mode off: %+v", l)
	}
}

// TestPerDeviceFullRegistryGetsThePlaceholder: an unlimited user whose
// registry is full serves a new device without listing it; in the mode
// that device has no credentials, so it gets the placeholder.
func TestPerDeviceFullRegistryGetsThePlaceholder(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(e.alice, "full")
	ownUUID := u["proxies"].(map[string]any)["vless"].(map[string]any)["id"].(string)
	e.expect(e.do("PUT", "/api/user/full", e.token(e.alice), map[string]any{"per_device_credentials": true, "hwid_device_limit": 0}), 200, "mode on")
	path := subPath(u) + "/v2ray"
	for i := range 256 {
		e.expect(e.get(path, map[string]string{"X-Hwid": fmt.Sprintf("dev-%03d", i)}), 200, "fill")
	}
	body := string(base64Body(t, e.get(path, map[string]string{"X-Hwid": "one-too-many"}).body))
	if !strings.Contains(body, "@127.0.0.1:1#") || strings.Contains(body, ownUUID) {
		t.Fatalf("the 257th device of an unlimited user in the mode got %s", body)
	}
	if l := e.perDeviceList("full"); len(l.Devices) != 256 {
		t.Fatalf("%d devices listed, want 256", len(l.Devices))
	}
}

// TestPerDeviceSettingsAndTemplates: the global default and the template
// field, their audit entries, and non-boolean values refused with 422
// changing nothing.
func TestPerDeviceSettingsAndTemplates(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	e.createUser(e.alice, "follower")
	before := e.snapshot()
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/user/follower", map[string]any{"per_device_credentials": "yes"}},
		{"PUT", "/api/user/follower", map[string]any{"per_device_credentials": 1}},
		{"POST", "/api/user", map[string]any{"username": "nope", "proxies": map[string]any{"vless": map[string]any{}}, "per_device_credentials": "on"}},
		{"PUT", "/api/subscription/settings", map[string]any{"per_device_credentials": "true"}},
		{"POST", "/api/user_template", map[string]any{"name": "t", "per_device_credentials": 0}},
	} {
		r := e.do(c.method, c.path, sudo, c.body)
		if r.status != 422 || r.detail() == "" {
			t.Errorf("%s %s %v: %d %s, want 422 with a detail", c.method, c.path, c.body, r.status, r.body)
		}
	}
	e.assertUnchanged(before, "non-boolean per_device_credentials")
	var set map[string]any
	e.do("GET", "/api/subscription/settings", sudo, nil).decode(t, &set)
	if set["per_device_credentials"] != false {
		t.Fatalf("settings after refused bodies: %v", set["per_device_credentials"])
	}

	e.expect(e.do("PUT", "/api/subscription/settings", sudo, map[string]any{"per_device_credentials": true}), 200, "default on")
	entry := e.newestAudit()
	if entry.Action == "" || !strings.Contains(string(entry.After), `"per_device_credentials":true`) {
		t.Fatalf("settings audit: %s %s -> %s", entry.Action, entry.Before, entry.After)
	}
	var u map[string]any
	e.do("GET", "/api/user/follower", sudo, nil).decode(t, &u)
	if u["per_device_credentials"] != nil || u["per_device_active"] != true {
		t.Fatalf("a follower under the default: own %v, active %v", u["per_device_credentials"], u["per_device_active"])
	}

	r := e.do("POST", "/api/user_template", sudo, map[string]any{"name": "pd", "per_device_credentials": false})
	e.expect(r, 200, "template")
	var tpl map[string]any
	r.decode(t, &tpl)
	if tpl["per_device_credentials"] != false {
		t.Fatalf("template: %v", tpl)
	}
	if entry := e.newestAudit(); !strings.Contains(string(entry.After), `"per_device_credentials":false`) {
		t.Fatalf("template audit: %s", entry.After)
	}
	r = e.do("PUT", fmt.Sprintf("/api/user_template/%v", tpl["id"]), sudo, map[string]any{"per_device_credentials": nil})
	e.expect(r, 200, "template back on the default")
	r.decode(t, &tpl)
	if _, ok := tpl["per_device_credentials"]; !ok || tpl["per_device_credentials"] != nil {
		t.Fatalf("template after null: %v", tpl)
	}
	list, err := e.st.AuditEntries(context.Background(), audit.Filter{Limit: 1})
	if err != nil || len(list) != 1 || !strings.Contains(string(list[0].Before), "per_device_credentials") {
		t.Fatalf("template modify audit: %+v %v", list, err)
	}
}

// TestPerDeviceWithLookupCache: with the lookup, body and known-device
// caches on (as the panel runs), one device's body never goes to another.
func TestPerDeviceWithLookupCache(t *testing.T) {
	var subs *state.Subscriptions
	e := newEnv(t, func(o *api.Options) {
		subs = state.NewSubscriptions(o.State, nil)
		subs.CacheLookups(time.Hour)
		o.Subscriptions = subs
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); subs.Run(ctx, time.Hour) }()
	defer func() { stop(); <-done }()

	u := e.createUser(e.alice, "cached_pd")
	e.expect(e.do("PUT", "/api/user/cached_pd", e.token(e.alice), map[string]any{"per_device_credentials": true}), 200, "mode on")
	path := subPath(u) + "/v2ray"
	bodies := map[string]string{}
	for range 3 {
		for _, hw := range []string{"hw-a", "hw-b"} {
			body := string(base64Body(t, e.get(path, map[string]string{"X-Hwid": hw}).body))
			if prev, ok := bodies[hw]; ok && prev != body {
				t.Fatalf("%s got another body on a cached fetch", hw)
			}
			bodies[hw] = body
		}
	}
	list := e.perDeviceList("cached_pd")
	for _, hw := range []string{"hw-a", "hw-b"} {
		other := map[string]string{"hw-a": "hw-b", "hw-b": "hw-a"}[hw]
		if !strings.Contains(bodies[hw], list.credentialOf(t, hw)) || strings.Contains(bodies[hw], list.credentialOf(t, other)) {
			t.Fatalf("%s's body carries the wrong device's credentials: %s", hw, bodies[hw])
		}
	}
}

// TestPerDeviceConcurrentNewDevices: in the mode, new devices fetching at
// once still never take more slots than the limit (each admission is a
// node change holding the revision), on both engines, and every admitted
// device got credentials of its own.
func TestPerDeviceConcurrentNewDevices(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			u := e.createUser(e.alice, "racer_pd")
			e.expect(e.do("PUT", "/api/user/racer_pd", e.token(e.alice), map[string]any{"hwid_device_limit": 3, "per_device_credentials": true}), 200, "limit and mode")
			path := subPath(u) + "/v2ray"
			const n = 12
			bodies := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.get(path, map[string]string{"X-Hwid": fmt.Sprintf("race-%02d", i)})
					if r.status == 200 {
						bodies[i] = string(base64Body(t, r.body))
					}
				}()
			}
			wg.Wait()
			list := e.perDeviceList("racer_pd")
			served := 0
			for i, body := range bodies {
				if body == "" || strings.Contains(body, "@127.0.0.1:1#") {
					continue
				}
				served++
				if cred := list.credentialOf(t, fmt.Sprintf("race-%02d", i)); cred == "" || !strings.Contains(body, cred) {
					t.Errorf("device %d was served links without its credential %q", i, cred)
				}
			}
			admitted := 0
			for _, d := range list.Devices {
				if !d.Refused {
					admitted++
				}
			}
			if served != 3 || admitted != 3 {
				t.Fatalf("%d devices served, %d admitted under a limit of 3", served, admitted)
			}
		})
	}
}
