package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// startPacedSink serves a download: the client sends an 8-byte length, the
// server streams that many bytes in small paced chunks, so a download lasts
// long enough to span a panel crash.
func startPacedSink(t testing.TB, chunk int, pause time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				var hdr [8]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				left := int64(binary.BigEndian.Uint64(hdr[:]))
				buf := make([]byte, chunk)
				for left > 0 {
					n := int64(len(buf))
					if left < n {
						n = left
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
					left -= n
					time.Sleep(pause)
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

// download asks the sink for size bytes through the proxy and reads them all.
func download(socks, sink string, size int64) (int64, error) {
	c, err := xraytest.DialSOCKS(socks, sink, dialTimeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(size))
	if _, err := c.Write(hdr[:]); err != nil {
		return 0, err
	}
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	return io.Copy(io.Discard, io.LimitReader(c, size))
}

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestPanelOutage walks through the guarantees with real processes:
// a user works within 2 s; the panel is SIGKILLed during a download that
// completes; new connections work for the whole outage; a user whose expiry
// passes while the panel is down is cut off by the node; the node restarts
// during the outage and serves from disk; the panel returns and the node
// resyncs with a delta, restarting nothing; changes after that reach the
// node within 2 s; and every byte moved shows up in used_traffic once.
func TestPanelOutage(t *testing.T) {
	dataDir, stateDir := t.TempDir(), t.TempDir()
	p := startPanel(t, dataDir, "")
	ports := testPorts(t)
	p.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := p.createNode(t, "edge-1")
	nd := startNode(t, p.url(), n.Token, stateDir)
	waitFor(t, 20*time.Second, "node connected", func() bool { return nd.health(t).Connected })

	echo := xraytest.StartEcho(t)
	sink := startPacedSink(t, 32<<10, 20*time.Millisecond)

	// 1. A new user passes traffic within 2 s of the API's answer.
	alice := p.createUser(t, "alice", nil)
	created := time.Now()
	aliceVLESS := client(t, alice, "vless", ports["vless-tcp"], nil)
	aliceVMess := client(t, alice, "vmess", ports["vmess-ws"], vmessWS)
	var expected int64 // bytes alice moves, each direction counted
	msg := payload(64 << 10)
	waitFor(t, 10*time.Second, "alice's first connection", func() bool { return roundTrip(aliceVLESS, echo, msg) == nil })
	if took := time.Since(created); took > 2*time.Second {
		t.Errorf("user usable %s after creation; want under 2 s", took)
	} else {
		t.Logf("user usable %s after creation", took.Round(time.Millisecond))
	}
	expected += 2 * int64(len(msg))
	// bob expires while the panel is down.
	bob := p.createUser(t, "bob", map[string]any{"expire": time.Now().Add(6 * time.Second).Unix()})
	bobVLESS := client(t, bob, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "bob's first connection", func() bool { return roundTrip(bobVLESS, echo, msg) == nil })
	before := nd.health(t)
	if before.CoreRestarts != 1 {
		t.Fatalf("xray started %d times before the outage; want 1", before.CoreRestarts)
	}

	// 2. Kill the panel with SIGKILL in the middle of a download.
	const dlSize = 6 << 20
	dlDone := make(chan error, 1)
	go func() {
		got, err := download(aliceVLESS, sink, dlSize)
		if err == nil && got != dlSize {
			err = fmt.Errorf("download ended after %d of %d bytes", got, dlSize)
		}
		dlDone <- err
	}()
	time.Sleep(500 * time.Millisecond) // let the download get going
	p.kill()
	t.Log("panel killed with SIGKILL")
	// New connections keep working for the whole outage, on every protocol we test.
	for i := 0; i < 5; i++ {
		if err := roundTrip(aliceVMess, echo, msg); err != nil {
			t.Fatalf("new connection during the outage failed: %v", err)
		}
		expected += 2 * int64(len(msg))
	}
	if err := <-dlDone; err != nil {
		t.Fatalf("download across the panel crash: %v", err)
	}
	expected += dlSize + 8 // the download request is an 8-byte length
	if h := nd.health(t); h.CoreRestarts != before.CoreRestarts {
		t.Fatalf("xray restarted during the outage (%d -> %d)", before.CoreRestarts, h.CoreRestarts)
	}

	// 7. bob's expiry passes while the panel is down: the node cuts him off.
	waitFor(t, 15*time.Second, "the node to cut bob off at expiry", func() bool {
		return roundTrip(bobVLESS, echo, []byte("x")) != nil
	})
	if err := roundTrip(aliceVLESS, echo, msg); err != nil {
		t.Fatalf("alice cut off together with bob: %v", err)
	}
	expected += 2 * int64(len(msg))

	// 3. Restart the node while the panel is still down: it serves from disk.
	nd.stop()
	nd = startNode(t, p.url(), n.Token, stateDir)
	waitFor(t, 10*time.Second, "alice served from the node's disk state", func() bool { return roundTrip(aliceVLESS, echo, msg) == nil })
	expected += 2 * int64(len(msg))
	if err := roundTrip(bobVLESS, echo, []byte("x")); err == nil {
		t.Fatal("bob, expired while the panel was down, is back after the node restart")
	}
	if h := nd.health(t); h.Connected || h.Users == 0 {
		t.Fatalf("restarted node: connected=%v users=%d; want serving users with no panel", h.Connected, h.Users)
	}
	for i := 0; i < 3; i++ {
		if err := roundTrip(aliceVMess, echo, msg); err != nil {
			t.Fatalf("connection after node restart during outage: %v", err)
		}
		expected += 2 * int64(len(msg))
	}

	// 4. The panel comes back on the same address and database.
	p = startPanel(t, dataDir, p.addr)
	waitFor(t, 20*time.Second, "node reconnected", func() bool { return nd.health(t).Connected })
	waitFor(t, 10*time.Second, "node caught up", func() bool { return nd.health(t).AppliedRevision >= before.AppliedRevision })
	h := nd.health(t)
	if h.Snapshots != 0 {
		t.Errorf("reconnect cost %d snapshots; want a delta or nothing", h.Snapshots)
	}
	if h.CoreRestarts != 1 {
		t.Errorf("xray started %d times in the restarted node; want 1 (from disk)", h.CoreRestarts)
	}
	// The panel learned that bob expired.
	waitFor(t, 10*time.Second, "bob expired in the panel", func() bool { return p.user(t, "bob").Status == "expired" })

	// A user created now works within 2 s; a deleted one stops within 2 s.
	carol := p.createUser(t, "carol", nil)
	created = time.Now()
	carolVLESS := client(t, carol, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "carol's first connection", func() bool { return roundTrip(carolVLESS, echo, []byte("hi")) == nil })
	if took := time.Since(created); took > 2*time.Second {
		t.Errorf("user created after the outage usable after %s; want under 2 s", took)
	}
	if h := nd.health(t); h.CoreRestarts != 1 || h.Snapshots != 0 {
		t.Errorf("after changes: core restarts %d, snapshots %d; want 1 and 0", h.CoreRestarts, h.Snapshots)
	}

	// 5. Every byte alice moved, before, during and after the outage and
	// across the node restart, is in used_traffic exactly once.
	waitFor(t, 20*time.Second, "usage journal drained", func() bool { return nd.health(t).JournalBacklog == 0 })
	var used int64
	waitFor(t, 20*time.Second, fmt.Sprintf("alice's used_traffic to reach %d", expected), func() bool {
		used = p.user(t, "alice").UsedTraffic
		return used >= expected
	})
	// Let any duplicate arrive before judging.
	time.Sleep(time.Second)
	used = p.user(t, "alice").UsedTraffic
	if used < expected || float64(used) > float64(expected)*1.10 {
		t.Fatalf("alice used_traffic = %d; moved %d (want between payload and payload+10%%)", used, expected)
	}
	t.Logf("alice moved %d payload bytes; panel counted %d (%.2f%%)", expected, used, 100*float64(used)/float64(expected))

	deleted := time.Now()
	if code := p.call(t, "DELETE", "/api/user/alice", nil, nil); code != 200 {
		t.Fatalf("DELETE alice: %d", code)
	}
	waitFor(t, 10*time.Second, "alice cut off after deletion", func() bool { return roundTrip(aliceVLESS, echo, []byte("x")) != nil })
	if took := time.Since(deleted); took > 2*time.Second {
		t.Errorf("deleted user still usable %s after deletion; want under 2 s", took)
	}
}

// TestInboundPortTaken: one inbound cannot bind; the rest serve and the
// node's message in the panel says why.
func TestInboundPortTaken(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	ports := testPorts(t)
	squat, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports["ss"]))
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	p.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := p.createNode(t, "edge-busy")
	nd := startNode(t, p.url(), n.Token, t.TempDir())
	u := p.createUser(t, "dave", nil)
	echo := xraytest.StartEcho(t)
	socks := client(t, u, "vless", ports["vless-tcp"], nil)
	waitFor(t, 15*time.Second, "vless works next to the broken inbound", func() bool { return roundTrip(socks, echo, []byte("hello")) == nil })
	waitFor(t, 15*time.Second, "node message naming the busy inbound", func() bool {
		m := p.node(t, n.ID).Message
		return strings.Contains(m, "ss") && strings.Contains(m, "address already in use")
	})
	if h := nd.health(t); h.InboundErrors["ss"] == "" {
		t.Fatalf("node health has no error for the busy inbound: %+v", h.InboundErrors)
	}
}

// TestSecondSessionFencesFirst: two agents with one token; the newer
// session wins and the older one is told it was fenced.
func TestSecondSessionFencesFirst(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	p.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(testPorts(t)), nil)
	n := p.createNode(t, "edge-twin")
	first := startNode(t, p.url(), n.Token, t.TempDir())
	waitFor(t, 15*time.Second, "first session", func() bool { return first.health(t).Connected })
	// The second agent uses other inbound ports' state dir but the same token.
	second := &node{statusAddr: fmt.Sprintf("127.0.0.1:%d", lowPort(t))}
	second.proc = proc{t: t, name: "node", args: []string{
		"--panel", p.url(), "--token", n.Token, "--state-dir", t.TempDir(),
		"--status-listen", second.statusAddr, "--usage-interval", "300ms", "--max-backoff", "30s",
	}}
	second.start()
	waitFor(t, 15*time.Second, "second session", func() bool { h, err := second.healthErr(); return err == nil && h.Connected })
	waitFor(t, 10*time.Second, "first session fenced", func() bool { return !first.health(t).Connected })
}

// TestBadNodeToken: a wrong token never gets a session.
func TestBadNodeToken(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	req, _ := http.NewRequest("GET", p.url()+"/api/node/ws", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 401 || !strings.Contains(string(body), "detail") {
		t.Fatalf("bad node token: HTTP %d %s; want 401 with a detail", resp.StatusCode, body)
	}
}

// TestCoreRestartKeepsConnections: POST /api/core/restart renews Xray on the
// node without cutting a download in progress.
func TestCoreRestartKeepsConnections(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	ports := testPorts(t)
	p.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := p.createNode(t, "edge-restart")
	nd := startNode(t, p.url(), n.Token, t.TempDir())
	u := p.createUser(t, "frank", nil)
	socks := client(t, u, "vless", ports["vless-tcp"], nil)
	echo := xraytest.StartEcho(t)
	waitFor(t, 15*time.Second, "frank connected", func() bool { return roundTrip(socks, echo, []byte("hi")) == nil })
	sink := startPacedSink(t, 32<<10, 20*time.Millisecond)
	const size = 3 << 20
	done := make(chan error, 1)
	go func() {
		got, err := download(socks, sink, size)
		if err == nil && got != size {
			err = fmt.Errorf("download ended after %d of %d bytes", got, size)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	before := nd.health(t).CoreRestarts
	p.mustCall(t, "POST", "/api/core/restart", nil, nil)
	waitFor(t, 10*time.Second, "the node's core restart", func() bool { return nd.health(t).CoreRestarts == before+1 })
	if err := <-done; err != nil {
		t.Fatalf("download across a core restart: %v", err)
	}
	if err := roundTrip(socks, echo, []byte("after")); err != nil {
		t.Fatalf("new connection after the core restart: %v", err)
	}
}
