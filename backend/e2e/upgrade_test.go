package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// failoverLB is one address in front of several replicas, as an
// active/passive TCP balancer with health by connect: each new connection
// goes to the first target that accepts it. A replica that closed its
// listener (SIGTERM) is skipped at once. Preferring the first makes the
// test deterministic: the node is on A when A stops, and on B (where A's
// drain sent it) when B stops, so each SIGTERM moves it.
type failoverLB struct {
	ln      net.Listener
	targets []string
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

func startFailoverLB(t testing.TB, targets ...string) *failoverLB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &failoverLB{ln: ln, targets: targets, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); lb.serve(down) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		lb.mu.Lock()
		for c := range lb.conns {
			c.Close()
		}
		lb.mu.Unlock()
		wg.Wait()
	})
	return lb
}

func (lb *failoverLB) url() string { return "http://" + lb.ln.Addr().String() }

func (lb *failoverLB) track(c net.Conn, on bool) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if on {
		lb.conns[c] = struct{}{}
	} else {
		delete(lb.conns, c)
		c.Close()
	}
}

func (lb *failoverLB) serve(down net.Conn) {
	lb.track(down, true)
	defer lb.track(down, false)
	var up net.Conn
	for _, target := range lb.targets {
		c, err := net.DialTimeout("tcp", target, time.Second)
		if err == nil {
			up = c
			break
		}
	}
	if up == nil {
		return
	}
	lb.track(up, true)
	defer lb.track(up, false)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, down); done <- struct{}{} }()
	go func() { _, _ = io.Copy(down, up); done <- struct{}{} }()
	<-done
}

// longLived is one proxied connection kept open through the whole test,
// round-tripping a block every interval: any drop ends it with an error.
type longLived struct {
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	trips int
	moved int64 // payload bytes, both directions
	err   error
}

func startLongLived(t testing.TB, socks, echo string, size int, every time.Duration) *longLived {
	t.Helper()
	conn, err := xraytest.DialSOCKS(socks, echo, 10*time.Second)
	if err != nil {
		t.Fatalf("long-lived connection: %v", err)
	}
	l := &longLived{stopc: make(chan struct{}), done: make(chan struct{})}
	msg := payload(size)
	go func() {
		defer close(l.done)
		defer conn.Close()
		buf := make([]byte, size)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := conn.Write(msg)
			if err == nil {
				_, err = io.ReadFull(conn, buf)
			}
			if err == nil && !bytes.Equal(buf, msg) {
				err = fmt.Errorf("echo came back altered")
			}
			l.mu.Lock()
			if err != nil {
				l.err = fmt.Errorf("after %d round trips, at %s: %w", l.trips, time.Now().Format("15:04:05.000"), err)
				l.mu.Unlock()
				return
			}
			l.trips++
			l.moved += 2 * int64(size)
			l.mu.Unlock()
			select {
			case <-l.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return l
}

func (l *longLived) stop() (trips int, moved int64, err error) {
	close(l.stopc)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.trips, l.moved, l.err
}

// churn makes user changes through the balancer while replicas come and
// go: it creates a user every interval and disables every third one. A
// change counts once the API answered it; a request that never reached a
// replica (its connection refused or cut before an answer) is tried again,
// as a client would. want is what the panel must hold when it stops.
type churn struct {
	stopc   chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	active  map[string]bool
	retries int
	err     error
}

func startChurn(base, token string, every time.Duration) *churn {
	c := &churn{stopc: make(chan struct{}), done: make(chan struct{}), active: map[string]bool{}}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	do := func(method, path string, body any, ok ...int) error {
		raw, _ := json.Marshal(body)
		for attempt := 0; ; attempt++ {
			req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				if attempt >= 50 {
					return fmt.Errorf("%s %s: %w", method, path, err)
				}
				c.mu.Lock()
				c.retries++
				c.mu.Unlock()
				time.Sleep(50 * time.Millisecond)
				continue
			}
			text, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, code := range ok {
				if resp.StatusCode == code {
					return nil
				}
			}
			return fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, text)
		}
	}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			name := fmt.Sprintf("churn_%03d", i)
			// 409: a first attempt that was answered but whose answer was lost.
			err := do("POST", "/api/user", map[string]any{"username": name, "proxies": map[string]any{"vless": map[string]any{}}}, 200, 409)
			if err == nil {
				c.mu.Lock()
				c.active[name] = true
				c.mu.Unlock()
				if i%3 == 2 {
					if err = do("PUT", "/api/user/"+name, map[string]any{"status": "disabled"}, 200); err == nil {
						c.mu.Lock()
						c.active[name] = false
						c.mu.Unlock()
					}
				}
			}
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			select {
			case <-c.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

func (c *churn) stop() (active, disabled int, retries int, err error) {
	close(c.stopc)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, on := range c.active {
		if on {
			active++
		} else {
			disabled++
		}
	}
	return active, disabled, c.retries, c.err
}

// sigterm stops a replica with SIGTERM and returns how long it took to exit.
func sigterm(t *testing.T, p *panel, label string) time.Duration {
	t.Helper()
	at := time.Now()
	p.stop()
	took := time.Since(at)
	t.Logf("replica %s exited %s after SIGTERM", label, took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("replica %s took %s to exit after SIGTERM; the cap is 10 s", label, took)
	}
	return took
}

// TestRollingUpgrade: two replicas on PostgreSQL and Redis behind one
// address, one real node dialing that address with real traffic. Replica A
// gets SIGTERM and is started again, then B the same. Through it all a
// long-lived connection through the node keeps round-tripping, users are
// created and disabled through the balancer, and at the end every change
// is on the node, the node is at the current revision with no snapshot
// since the start, and the usage counted equals the bytes moved.
func TestRollingUpgrade(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	lb := startFailoverLB(t, a.addr, b.addr)
	api := &panel{addr: lb.ln.Addr().String()}
	api.login(t)
	ports := testPorts(t)
	api.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := api.createNode(t, "edge")
	nd := startNode(t, lb.url(), n.Token, t.TempDir())
	alice := api.createUser(t, "alice", nil)
	echo := xraytest.StartEcho(t)
	socks := client(t, alice, "vless", ports["vless-tcp"], nil)
	waitFor(t, 20*time.Second, "alice's traffic through the node", func() bool {
		return xraytest.RoundTripWithin(socks, echo, []byte("x"), time.Second) == nil
	})
	// The probe above moved 2 bytes when it succeeded, and failed probes
	// (alice not yet on the node) moved none.
	expected := int64(2)
	before := nd.health(t)

	conn := startLongLived(t, socks, echo, 8<<10, 50*time.Millisecond)
	probe := startProber(socks, echo, 4<<10, 250*time.Millisecond)
	ch := startChurn(lb.url(), api.token, 100*time.Millisecond)
	settle := func(what string) {
		t.Helper()
		seen := probe.count()
		waitFor(t, 20*time.Second, what, func() bool { return nd.health(t).Connected && probe.count() >= seen+3 })
	}
	settle("traffic and changes before the upgrade")

	upgradeStarted := time.Now()
	sigterm(t, a, "A")
	settle("the node back in session after A stopped")
	a2 := startReplica(t, "A'", a.addr, be.dsn, be.redis.URL())
	settle("changes with A' back")
	sigterm(t, b, "B")
	settle("the node back in session after B stopped")
	b2 := startReplica(t, "B'", b.addr, be.dsn, be.redis.URL())
	settle("changes with B' back")
	t.Logf("rolling upgrade of two replicas took %s", time.Since(upgradeStarted).Round(time.Millisecond))

	active, disabled, retries, err := ch.stop()
	if err != nil {
		t.Fatalf("a change failed during the upgrade: %v", err)
	}
	trips, moved, err := conn.stop()
	if err != nil {
		t.Fatalf("the long-lived connection through the node dropped: %v", err)
	}
	probes, probed, err := probe.stop()
	if err != nil {
		t.Fatalf("new connections through the node failed during the upgrade (%d succeeded): %v", probes, err)
	}
	t.Logf("long-lived connection: %d round trips, unbroken; %d new connections, all good; %d users created, %d of them disabled; %d API requests retried (refused or cut before an answer)",
		trips, probes, active+disabled, disabled, retries)

	// Every change reached the node: it is at the panel's current revision
	// (its state hash checked at every step), holding alice and every
	// active churned user.
	var ov struct {
		Revision int64 `json:"revision"`
		Nodes    struct {
			Nodes []struct {
				ID          int64 `json:"id"`
				RevisionLag int64 `json:"revision_lag"`
			} `json:"nodes"`
		} `json:"nodes"`
	}
	waitFor(t, 15*time.Second, "the node at the current revision, by itself and by the panel", func() bool {
		api.mustCall(t, "GET", "/api/overview", nil, &ov)
		h := nd.health(t)
		if !h.Connected || h.AppliedRevision != ov.Revision || len(ov.Nodes.Nodes) != 1 {
			return false
		}
		return ov.Nodes.Nodes[0].RevisionLag == 0
	})
	h := nd.health(t)
	if h.Users != 1+active {
		t.Errorf("node holds %d users; want alice and the %d active churned users", h.Users, active)
	}
	if h.Snapshots != before.Snapshots || h.CoreRestarts != before.CoreRestarts {
		t.Errorf("the upgrade cost snapshots %d -> %d, core restarts %d -> %d; want none", before.Snapshots, h.Snapshots, before.CoreRestarts, h.CoreRestarts)
	}
	if moves := h.PanelMoves - before.PanelMoves; moves != 2 {
		t.Errorf("the node was told to move %d times; want once per SIGTERM, 2", moves)
	}
	t.Logf("node at revision %d after %d deltas during the upgrade, no snapshot", h.AppliedRevision, h.Deltas-before.Deltas)

	// Usage: exactly the bytes moved.
	expected += moved + probed
	waitFor(t, 20*time.Second, "usage journal drained", func() bool { return nd.health(t).JournalBacklog == 0 })
	waitFor(t, 20*time.Second, "alice's usage counted", func() bool { return b2.user(t, "alice").UsedTraffic >= expected })
	time.Sleep(time.Second) // a resent batch, if any, lands by now
	if used := a2.user(t, "alice").UsedTraffic; used != expected {
		t.Fatalf("alice's used_traffic = %d; moved %d bytes", used, expected)
	}
	t.Logf("usage counted exactly: %d bytes", expected)
}

// TestNodeSeveralPanels: a node given both replicas' addresses dials the
// first; when that replica dies it moves to the other one at once and
// resumes with a delta, not a snapshot.
func TestNodeSeveralPanels(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	ports := testPorts(t)
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := a.createNode(t, "edge")
	// A long --max-backoff: a backoff between addresses would show.
	nd := startNodeBackoff(t, "node", a.url()+","+b.url(), n.Token, t.TempDir(), 30*time.Second)
	waitFor(t, 20*time.Second, "the node in session on A, its first address", func() bool {
		return nd.health(t).Connected && nodeStatus(t, a, n.ID) == "connected"
	})
	a.createUser(t, "alice", nil)
	waitFor(t, 10*time.Second, "alice on the node", func() bool { return nd.health(t).Users == 1 })
	before := nd.health(t)

	a.kill()
	killed := time.Now()
	b.createUser(t, "bob", nil)
	waitFor(t, 10*time.Second, "the node in session on B with bob", func() bool {
		h := nd.health(t)
		return h.Connected && h.Users == 2 && nodeStatus(t, b, n.ID) == "connected"
	})
	t.Logf("node moved to B %s after A was killed", time.Since(killed).Round(time.Millisecond))
	after := nd.health(t)
	if after.Snapshots != before.Snapshots || after.Deltas <= before.Deltas || after.CoreRestarts != before.CoreRestarts {
		t.Errorf("the move cost snapshots %d -> %d, deltas %d -> %d, core restarts %d -> %d; want a delta only",
			before.Snapshots, after.Snapshots, before.Deltas, after.Deltas, before.CoreRestarts, after.CoreRestarts)
	}
}

// TestSIGTERMFinishesInFlightRequest: a request whose body is still
// arriving when the panel gets SIGTERM is answered and its change kept,
// while new connections are already refused; the panel then exits.
func TestSIGTERMFinishesInFlightRequest(t *testing.T) {
	dataDir := t.TempDir()
	p := startPanel(t, dataDir, "")
	body := []byte(`{"username":"inflight","proxies":{"vless":{}}}`)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /api/user HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", p.addr, p.token, len(body))
	if _, err := conn.Write(append([]byte(head), body[:10]...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the panel is reading the body
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the panel to stop accepting connections", func() bool {
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if _, err := conn.Write(body[10:]); err != nil {
		t.Fatalf("finishing the in-flight request: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the in-flight request: HTTP %d; want 200", resp.StatusCode)
	}
	select {
	case <-p.exit:
	case <-time.After(10 * time.Second):
		t.Fatal("the panel did not exit within 10 s of SIGTERM")
	}
	t.Logf("in-flight request answered; panel exited %s after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	p.out.stop()
	p2 := startPanel(t, dataDir, p.addr)
	if u := p2.user(t, "inflight"); u.Username != "inflight" {
		t.Fatalf("the user created by the in-flight request is gone: %+v", u)
	}
}
