package api_test

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
)

// deviceOf fetches username's subscription from a device with hwid and
// returns the id the registry gave it.
func (e *env) deviceOf(username, hwid string) int64 {
	e.t.Helper()
	r := e.do("GET", "/api/user/"+username, e.token(e.sudo), nil)
	var u map[string]any
	r.decode(e.t, &u)
	path := subPath(u)
	e.expect(e.get(path, map[string]string{"User-Agent": "Happ/3.1", "X-Hwid": hwid, "X-Device-Model": "Pixel 9"}), 200, "fetch from "+hwid)
	var list devicesList
	e.do("GET", "/api/user/"+username+"/devices", e.token(e.sudo), nil).decode(e.t, &list)
	for _, d := range list.Devices {
		if d.HWID == hwid {
			return d.ID
		}
	}
	e.t.Fatalf("device %s of %s not registered: %+v", hwid, username, list)
	return 0
}

type devicesList struct {
	Limit    int64  `json:"limit"`
	OwnLimit *int64 `json:"own_limit"`
	Devices  []struct {
		ID         int64  `json:"id"`
		HWID       string `json:"hwid"`
		Name       string `json:"name"`
		Model      string `json:"model"`
		FetchCount int64  `json:"fetch_count"`
		Refused    bool   `json:"refused"`
	} `json:"devices"`
}

// TestDeviceLimitConcurrentFetches: new devices fetching at once never take
// more slots than the limit, on both engines.
func TestDeviceLimitConcurrentFetches(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			u := e.createUser(e.alice, "racer")
			e.expect(e.do("PUT", "/api/user/racer", e.token(e.alice), map[string]any{"hwid_device_limit": 3}), 200, "set limit")
			path := subPath(u)
			const n = 12
			served := make([]bool, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.get(path+"/v2ray", map[string]string{"X-Hwid": "race-" + string(rune('a'+i))})
					served[i] = r.status == 200 && !strings.Contains(string(base64Body(t, r.body)), "@127.0.0.1:1#")
				}()
			}
			wg.Wait()
			got := 0
			for _, ok := range served {
				if ok {
					got++
				}
			}
			if got != 3 {
				var list devicesList
				e.do("GET", "/api/user/racer/devices", e.token(e.alice), nil).decode(t, &list)
				t.Fatalf("%d of %d new devices served real configs under a limit of 3: %+v", got, n, list)
			}
			var list devicesList
			e.do("GET", "/api/user/racer/devices", e.token(e.alice), nil).decode(t, &list)
			accepted, refused := 0, 0
			for _, d := range list.Devices {
				if d.Refused {
					refused++
				} else {
					accepted++
				}
			}
			if accepted != 3 || refused != 9 || list.Limit != 3 {
				t.Fatalf("registry after the race: %d accepted, %d refused, limit %d", accepted, refused, list.Limit)
			}
		})
	}
}

func TestDevicesAPIBadInputAndOwnership(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "owned")
	id := e.deviceOf("owned", "hw-1")
	before := e.snapshot()
	for _, c := range []struct {
		method, path, token string
		body                any
		status              int
	}{
		{"PUT", "/api/user/owned/devices/abc", e.token(e.alice), map[string]any{"name": "x"}, 422},
		{"PUT", "/api/user/owned/devices/-1", e.token(e.alice), map[string]any{"name": "x"}, 422},
		{"PUT", "/api/user/owned/devices/999", e.token(e.alice), map[string]any{"name": "x"}, 404},
		{"PUT", "/api/user/owned/devices/" + itoa(id), e.token(e.alice), map[string]any{"name": strings.Repeat("n", 65)}, 400},
		{"PUT", "/api/user/owned/devices/" + itoa(id), e.token(e.alice), map[string]any{"name": 5}, 422},
		{"PUT", "/api/user/owned/devices/" + itoa(id), e.token(e.bob), map[string]any{"name": "x"}, 403},
		{"DELETE", "/api/user/owned/devices/" + itoa(id), e.token(e.bob), nil, 403},
		{"GET", "/api/user/owned/devices", e.token(e.bob), nil, 403},
		{"PUT", "/api/user/owned", e.token(e.alice), map[string]any{"hwid_device_limit": 257}, 422},
		{"PUT", "/api/user/owned", e.token(e.alice), map[string]any{"hwid_device_limit": -1}, 422},
	} {
		r := e.do(c.method, c.path, c.token, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), "detail") {
			t.Errorf("%s %s: %d %s, want %d with a detail", c.method, c.path, r.status, r.body, c.status)
		}
	}
	e.assertUnchanged(before, "refused device calls")
	e.expect(e.do("PUT", "/api/user/owned/devices/"+itoa(id), e.token(e.alice), map[string]any{"name": "Kitchen tablet"}), 200, "rename")
	var list devicesList
	e.do("GET", "/api/user/owned/devices", e.token(e.sudo), nil).decode(t, &list)
	if len(list.Devices) != 1 || list.Devices[0].Name != "Kitchen tablet" || list.Devices[0].Model != "Pixel 9" {
		t.Fatalf("after rename: %+v", list)
	}
	// An x-hwid no client sends is refused, not stored.
	long := e.get(subPath(map[string]any{"subscription_url": e.userURL("owned")})+"/v2ray", map[string]string{"X-Hwid": strings.Repeat("h", 129)})
	if !strings.Contains(string(base64Body(t, long.body)), "@127.0.0.1:1#") {
		t.Fatalf("an over-long x-hwid got real configs")
	}
}

func (e *env) userURL(name string) string {
	e.t.Helper()
	var u map[string]any
	e.do("GET", "/api/user/"+name, e.token(e.sudo), nil).decode(e.t, &u)
	return u["subscription_url"].(string)
}

// base64Body is a v2ray subscription decoded (the body itself when it is
// not base64, so a check on it still fails loudly).
func base64Body(t *testing.T, body []byte) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(string(body))
	if err != nil {
		return body
	}
	return raw
}
