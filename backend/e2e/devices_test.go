package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDeviceLimitThroughPanel: through the real panel binary, devices up
// to a user's hwid_device_limit get real configs and the next one the
// "device limit reached" placeholder, in base64 links, Clash Meta YAML and
// sing-box JSON; removing a device frees its slot; a fetch without x-hwid
// is one "unknown device" under "allow" and the placeholder under "refuse".
func TestDeviceLimitThroughPanel(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	u := p.createUser(t, "devices_e2e", map[string]any{"hwid_device_limit": 2})
	var full map[string]any
	p.mustCall(t, "GET", "/api/user/devices_e2e", nil, &full)
	subURL := full["subscription_url"].(string)
	subURL = p.url() + subURL[strings.Index(subURL, "/sub/"):]
	uuid := u.Proxies["vless"]["id"]
	if uuid == "" {
		t.Fatalf("user has no vless id: %+v", u.Proxies)
	}

	fetch := func(format, hwid string) string {
		t.Helper()
		req, err := http.NewRequest("GET", subURL+"/"+format, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "Happ/3.1.0")
		if hwid != "" {
			req.Header.Set("X-Hwid", hwid)
			req.Header.Set("X-Device-Os", "Android")
			req.Header.Set("X-Ver-Os", "15")
			req.Header.Set("X-Device-Model", "Model "+hwid)
		}
		resp, err := p.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s from %q: HTTP %d %s", format, hwid, resp.StatusCode, body)
		}
		if format == "v2ray" {
			raw, err := base64.StdEncoding.DecodeString(string(body))
			if err != nil {
				t.Fatalf("v2ray body is not base64: %v", err)
			}
			return string(raw)
		}
		return string(body)
	}
	formats := []string{"v2ray", "clash-meta", "sing-box"}
	expectReal := func(hwid string) {
		t.Helper()
		for _, f := range formats {
			if b := fetch(f, hwid); !strings.Contains(b, uuid) || strings.Contains(b, "Device limit") {
				t.Fatalf("%s from device %q: want the user's configs, got %.300s", f, hwid, b)
			}
		}
	}
	expectPlaceholder := func(hwid string) {
		t.Helper()
		for _, f := range formats {
			b := fetch(f, hwid)
			if strings.Contains(b, uuid) || !strings.Contains(b, "127.0.0.1") {
				t.Fatalf("%s from device %q: want the device-limit placeholder, got %.300s", f, hwid, b)
			}
			if f != "v2ray" && !strings.Contains(b, "Device limit reached") {
				t.Fatalf("%s from device %q: the placeholder does not say why: %.300s", f, hwid, b)
			}
		}
	}
	type device struct {
		ID      int64  `json:"id"`
		HWID    string `json:"hwid"`
		Model   string `json:"model"`
		Refused bool   `json:"refused"`
	}
	devices := func() (accepted, refused []device) {
		t.Helper()
		var list struct {
			Devices []device `json:"devices"`
		}
		p.mustCall(t, "GET", "/api/user/devices_e2e/devices", nil, &list)
		for _, d := range list.Devices {
			if d.Refused {
				refused = append(refused, d)
			} else {
				accepted = append(accepted, d)
			}
		}
		return accepted, refused
	}

	expectReal("phone-1")
	expectReal("tablet-2")
	expectPlaceholder("laptop-3")
	expectReal("phone-1") // a registered device keeps its slot
	// /info carries the links too: a device past the limit gets none there.
	info := func(hwid string) []string {
		t.Helper()
		return strings.Split(strings.TrimSuffix(fetch("info", hwid), "\n"), "\n")
	}
	if b := fetch("info", "laptop-3"); strings.Contains(b, uuid) || !strings.Contains(b, `"links":[]`) {
		t.Fatalf("/info from a device past the limit: want no links, got %.300s", b)
	}
	if b := info("phone-1"); !strings.Contains(strings.Join(b, ""), uuid) {
		t.Fatalf("/info from a registered device: want its links, got %.300s", b)
	}
	accepted, refused := devices()
	if len(accepted) != 2 || len(refused) != 1 || refused[0].HWID != "laptop-3" || accepted[0].Model != "Model phone-1" {
		t.Fatalf("registry: accepted %+v, refused %+v", accepted, refused)
	}

	p.mustCall(t, "DELETE", fmt.Sprintf("/api/user/devices_e2e/devices/%d", accepted[0].ID), nil, nil)
	expectReal("laptop-3") // the freed slot goes to the next device
	expectPlaceholder("phone-1")

	// Without x-hwid: "allow" (the default) serves one unknown device once
	// there is room for it.
	p.mustCall(t, "PUT", "/api/user/devices_e2e", map[string]any{"hwid_device_limit": 3}, nil)
	expectReal("")
	expectReal("")
	accepted, _ = devices()
	unknown := 0
	for _, d := range accepted {
		if d.HWID == "" {
			unknown++
		}
	}
	if len(accepted) != 3 || unknown != 1 {
		t.Fatalf("after fetches without x-hwid: %+v", accepted)
	}
	var set map[string]any
	p.mustCall(t, "GET", "/api/subscription/settings", nil, &set)
	set["hwid_missing"] = "refuse"
	p.mustCall(t, "PUT", "/api/subscription/settings", set, nil)
	expectPlaceholder("")
	expectReal("laptop-3")
}
