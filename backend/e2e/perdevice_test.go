package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// TestPerDeviceCredentialsThroughNode: a user in the credentials-per-device
// mode, through the real panel, a real node and real Xray. Two devices
// fetch the subscription (x-hwid) and each gets a VLESS link of its own
// that carries real bytes through the node, while the user's own UUID
// opens nothing; usage is counted per device and summed for the user;
// removing one device cuts it within 2 s of the API's answer (its open
// connection closed, new ones refused) while the other keeps working.
func TestPerDeviceCredentialsThroughNode(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	ports := testPorts(t)
	p.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := p.createNode(t, "edge-devices")
	nd := startNode(t, p.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected", func() bool { return nd.health(t).Connected })
	echo := xraytest.StartEcho(t)

	u := p.createUser(t, "perdev", map[string]any{"per_device_credentials": true})
	var full map[string]any
	p.mustCall(t, "GET", "/api/user/perdev", nil, &full)
	if full["per_device_active"] != true {
		t.Fatalf("per_device_active = %v", full["per_device_active"])
	}
	subURL := full["subscription_url"].(string)
	subURL = p.url() + subURL[strings.Index(subURL, "/sub/"):]
	own := u.Proxies["vless"]["id"]

	vlessID := regexp.MustCompile(`vless://([0-9a-f-]{36})@`)
	fetch := func(hwid string) string {
		t.Helper()
		req, err := http.NewRequest("GET", subURL+"/v2ray", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "Happ/3.1.0")
		req.Header.Set("X-Hwid", hwid)
		resp, err := p.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		raw, err := base64.StdEncoding.DecodeString(string(body))
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("subscription from %s: HTTP %d %.200s", hwid, resp.StatusCode, body)
		}
		if strings.Contains(string(raw), own) {
			t.Fatalf("device %s was served the user's own UUID", hwid)
		}
		m := vlessID.FindStringSubmatch(string(raw))
		if m == nil {
			t.Fatalf("no vless link for %s in %.300s", hwid, raw)
		}
		return m[1]
	}
	phoneID, laptopID := fetch("phone"), fetch("laptop")
	if phoneID == laptopID || phoneID == own {
		t.Fatalf("device UUIDs: phone %s, laptop %s, user %s", phoneID, laptopID, own)
	}
	as := func(id string) apiUser {
		d := u
		d.Proxies = map[string]map[string]string{"vless": {"id": id, "flow": u.Proxies["vless"]["flow"]}}
		return d
	}
	port := ports[xraytest.TagVLESS]
	phone, laptop, owner := client(t, as(phoneID), "vless", port, nil), client(t, as(laptopID), "vless", port, nil), client(t, u, "vless", port, nil)
	payload := xraytest.Payload(64 << 10)
	for name, socks := range map[string]string{"phone": phone, "laptop": laptop} {
		waitFor(t, 20*time.Second, name+"'s link carries bytes through the node", func() bool {
			return xraytest.RoundTripWithin(socks, echo, payload, dialTimeout) == nil
		})
	}
	if err := xraytest.RoundTripWithin(owner, echo, payload, dialTimeout); err == nil {
		t.Fatal("the user's own UUID opened a connection: it runs on the node in the per-device mode")
	}
	for range 3 {
		if err := xraytest.RoundTripWithin(phone, echo, payload, dialTimeout); err != nil {
			t.Fatal(err)
		}
	}

	type device struct {
		ID          int64  `json:"id"`
		HWID        string `json:"hwid"`
		UsedTraffic int64  `json:"used_traffic"`
		Credential  string `json:"credential"`
	}
	devices := func() map[string]device {
		var list struct {
			PerDevice bool     `json:"per_device"`
			Devices   []device `json:"devices"`
		}
		p.mustCall(t, "GET", "/api/user/perdev/devices", nil, &list)
		if !list.PerDevice {
			t.Fatal("the devices list says the mode is off")
		}
		out := map[string]device{}
		for _, d := range list.Devices {
			out[d.HWID] = d
		}
		return out
	}
	if d := devices(); d["phone"].Credential != phoneID || d["laptop"].Credential != laptopID {
		t.Fatalf("listed credentials %+v, links carried phone %s laptop %s", d, phoneID, laptopID)
	}
	// Usage: each device counted on its own, the user the sum (the node's
	// usage coefficient is 1); the phone made four round trips of the
	// payload, the laptop one.
	var phoneUsed, laptopUsed, userUsed int64
	waitFor(t, 20*time.Second, "usage per device summed for the user", func() bool {
		d := devices()
		userUsed = p.user(t, "perdev").UsedTraffic
		phoneUsed, laptopUsed = d["phone"].UsedTraffic, d["laptop"].UsedTraffic
		return laptopUsed >= 2*int64(len(payload)) && phoneUsed >= 8*int64(len(payload)) && userUsed == phoneUsed+laptopUsed
	})
	t.Logf("usage: phone %d bytes, laptop %d bytes, user %d bytes", phoneUsed, laptopUsed, userUsed)

	// Removing the laptop cuts it within 2 s of the API's answer: its open
	// connection is closed and its new ones refused; the phone, with a
	// connection open all along, keeps working.
	if err := xraytest.RoundTripWithin(laptop, echo, []byte("hello"), dialTimeout); err != nil {
		t.Fatalf("the laptop before its removal: %v", err)
	}
	// The laptop's open connection goes through a client that ends its
	// SOCKS side as soon as the node ends the connection, so the time seen
	// here is the node's, not Xray's client-side grace of a second.
	laptopQuick := xraytest.StartClientQuickClose(t, xraytest.ClientOutbound("vless", "127.0.0.1", port, as(laptopID).wireUser(), nil))
	open, err := xraytest.DialSOCKS(laptopQuick, echo, dialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := xraytest.Echo(open, []byte("before")); err != nil {
		t.Fatal(err)
	}
	phoneOpen, err := xraytest.DialSOCKS(phone, echo, dialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer phoneOpen.Close()
	if err := xraytest.Echo(phoneOpen, []byte("before")); err != nil {
		t.Fatal(err)
	}
	p.mustCall(t, "DELETE", fmt.Sprintf("/api/user/perdev/devices/%d", devices()["laptop"].ID), nil, nil)
	removed := time.Now()
	// cutAt: when an echo on the open connection had failed (an upper
	// bound); refusedAt: when a new connection that then failed was
	// started (it waits 500 ms for an answer a refused one never gets).
	var cutAt, refusedAt time.Time
	for (cutAt.IsZero() || refusedAt.IsZero()) && time.Since(removed) < 5*time.Second {
		if cutAt.IsZero() && xraytest.Echo(open, []byte("after")) != nil {
			cutAt = time.Now()
		}
		if start := time.Now(); refusedAt.IsZero() && xraytest.RoundTripWithin(laptop, echo, []byte("hello"), 500*time.Millisecond) != nil {
			refusedAt = start
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("removed device: open connection cut by %v, new connections refused from %v after the API answered",
		cutAt.Sub(removed).Round(time.Millisecond), refusedAt.Sub(removed).Round(time.Millisecond))
	if cutAt.IsZero() || cutAt.Sub(removed) > 2*time.Second {
		t.Fatalf("the removed laptop's open connection was not cut within 2 s (cut at %v)", cutAt.Sub(removed))
	}
	if refusedAt.IsZero() || refusedAt.Sub(removed) > 2*time.Second {
		t.Fatalf("the removed laptop's new connections were not refused within 2 s (at %v)", refusedAt.Sub(removed))
	}
	if err := xraytest.Echo(phoneOpen, []byte("after")); err != nil {
		t.Fatalf("the phone's open connection after the laptop's removal: %v", err)
	}
	for range 3 {
		if err := xraytest.RoundTripWithin(phone, echo, payload, dialTimeout); err != nil {
			t.Fatalf("the phone after the laptop's removal: %v", err)
		}
	}
	if err := xraytest.RoundTripWithin(laptop, echo, []byte("hello"), dialTimeout); err == nil {
		t.Fatal("the removed laptop connects again")
	}
}
