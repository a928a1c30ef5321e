package e2e

import (
	"encoding/json"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// clientFrom is an Xray client for u whose connections to the node leave
// from the loopback address src (Xray's sendThrough), so the node sees
// that source address.
func clientFrom(t testing.TB, u apiUser, port int, src string) string {
	t.Helper()
	var ob map[string]any
	if err := json.Unmarshal(xraytest.ClientOutbound("vless", "127.0.0.1", port, u.wireUser(), nil), &ob); err != nil {
		t.Fatal(err)
	}
	ob["sendThrough"] = src
	raw, err := json.Marshal(ob)
	if err != nil {
		t.Fatal(err)
	}
	return xraytest.StartClient(t, raw)
}

// keepTalking holds a proxied connection open and moves a few bytes
// through it every 200 ms until the test ends or the node cuts it.
func keepTalking(t testing.TB, socks, echo string) {
	t.Helper()
	var c net.Conn
	waitFor(t, 20*time.Second, "a proxied connection through "+socks, func() bool {
		var err error
		c, err = xraytest.DialSOCKS(socks, echo, dialTimeout)
		return err == nil && xraytest.Echo(c, []byte("hello")) == nil
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if xraytest.Echo(c, []byte("still here")) != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); c.Close(); wg.Wait() })
}

type apiUserIPs struct {
	Username string `json:"username"`
	IPs      []struct {
		IP        string `json:"ip"`
		NodeID    int64  `json:"node_id"`
		Node      string `json:"node"`
		FirstSeen string `json:"first_seen"`
		LastSeen  string `json:"last_seen"`
	} `json:"ips"`
}

type apiIPLimitUser struct {
	apiUser
	IPLimit      *int64  `json:"ip_limit"`
	IPLimitUntil *string `json:"ip_limit_until"`
}

const wireLayout = "2006-01-02T15:04:05"

// TestOnlineAddressesAndIPLimit: a real node and real Xray clients
// connecting from 127.0.0.2 and 127.0.0.3. Both addresses show up in
// GET /api/user/{username}/ips with the node; a user with ip_limit 1 is
// disabled after the grace window and not before (the panel's own
// timestamps say how long it waited), the node cuts it, and a user
// without a limit connecting the same way is left alone.
func TestOnlineAddressesAndIPLimit(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	ports := testPorts(t)
	p.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	const grace = 10 * time.Second
	p.mustCall(t, "PUT", "/api/users/ip_limit", map[string]any{"grace_seconds": int(grace / time.Second), "action": "disable", "disable_minutes": 5}, nil)
	n := p.createNode(t, "edge-ips")
	nd := startNode(t, p.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected", func() bool { return nd.health(t).Connected })
	echo := xraytest.StartEcho(t)

	sharer := p.createUser(t, "sharer", map[string]any{"ip_limit": 1})
	free := p.createUser(t, "free", nil) // the default limit: 0, unlimited
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		keepTalking(t, clientFrom(t, sharer, ports[xraytest.TagVLESS], src), echo)
		keepTalking(t, clientFrom(t, free, ports[xraytest.TagVLESS], src), echo)
	}

	addrs := func(name string) (apiUserIPs, []string) {
		var out apiUserIPs
		p.mustCall(t, "GET", "/api/user/"+name+"/ips", nil, &out)
		var ips []string
		for _, ip := range out.IPs {
			ips = append(ips, ip.IP)
		}
		slices.Sort(ips)
		return out, ips
	}
	want := []string{"127.0.0.2", "127.0.0.3"}
	var seen apiUserIPs
	waitFor(t, 40*time.Second, "both source addresses of sharer listed", func() bool {
		var ips []string
		seen, ips = addrs("sharer")
		return slices.Equal(ips, want)
	})
	for _, ip := range seen.IPs {
		if ip.Node != "edge-ips" || ip.NodeID != n.ID {
			t.Fatalf("%s listed with node %q (%d); want edge-ips (%d)", ip.IP, ip.Node, ip.NodeID, n.ID)
		}
	}
	// Seen from two addresses, over its limit of one: not acted on at once.
	var u apiIPLimitUser
	p.mustCall(t, "GET", "/api/user/sharer", nil, &u)
	if u.Status != "active" || u.IPLimit == nil || *u.IPLimit != 1 {
		t.Fatalf("sharer is %s with ip_limit %v right after its second address showed; want active with 1", u.Status, u.IPLimit)
	}

	waitFor(t, 60*time.Second, "sharer disabled by its IP limit", func() bool {
		p.mustCall(t, "GET", "/api/user/sharer", nil, &u)
		return u.Status == "disabled"
	})
	if u.IPLimitUntil == nil {
		t.Fatal("sharer disabled without ip_limit_until")
	}
	until, err := time.Parse(wireLayout, *u.IPLimitUntil)
	if err != nil {
		t.Fatal(err)
	}
	disabledAt := until.Add(-5 * time.Minute)
	// Both addresses had been seen for the whole grace window before the
	// panel acted (its timestamps are whole seconds: one of slack).
	var bothSince time.Time
	for _, ip := range seen.IPs {
		first, err := time.Parse(wireLayout, ip.FirstSeen)
		if err != nil {
			t.Fatal(err)
		}
		if first.After(bothSince) {
			bothSince = first
		}
	}
	if waited := disabledAt.Sub(bothSince); waited < grace-time.Second {
		t.Fatalf("acted %s after the second address was first seen; want the grace window of %s at least", waited, grace)
	} else {
		t.Logf("acted %s after the second address was first seen (grace %s)", waited, grace)
	}

	// The disable rode the revision path: the node cuts sharer.
	sharerAgain := clientFrom(t, sharer, ports[xraytest.TagVLESS], "127.0.0.4")
	waitFor(t, 10*time.Second, "the node to refuse sharer", func() bool {
		return roundTrip(sharerAgain, echo, []byte("ping")) != nil
	})
	// The user without a limit, seen from the same two addresses, is untouched.
	if _, ips := addrs("free"); !slices.Equal(ips, want) {
		t.Fatalf("free listed from %v; want %v", ips, want)
	}
	var f apiIPLimitUser
	p.mustCall(t, "GET", "/api/user/free", nil, &f)
	if f.Status != "active" {
		t.Fatalf("free is %s; want active (no IP limit)", f.Status)
	}
	if err := roundTrip(clientFrom(t, free, ports[xraytest.TagVLESS], "127.0.0.4"), echo, []byte("ping")); err != nil {
		t.Fatalf("free cannot connect any more: %v", err)
	}
}
