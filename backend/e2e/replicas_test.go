package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// The tests below run several panel replicas on one PostgreSQL database and
// one Redis, as ARCHITECTURE.md's "Panel replicas and Redis" describes, with
// a real node agent and real Xray traffic.

// TestReplicasShareFeed: a change made on one replica reaches a node whose
// session another replica holds, through the Redis stream and its wake-up.
func TestReplicasShareFeed(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	ports := testPorts(t)
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := a.createNode(t, "edge-shared")
	nd := startNode(t, a.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected to A", func() bool { return nd.health(t).Connected })
	echo := xraytest.StartEcho(t)

	u := b.createUser(t, "frank", nil)
	created := time.Now()
	socks := client(t, u, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "a user created on B to pass traffic through the node held by A", func() bool {
		return roundTrip(socks, echo, []byte("hello")) == nil
	})
	if took := time.Since(created); took > 2*time.Second {
		t.Errorf("user created on B usable %s later through A's node; want under 2 s", took)
	} else {
		t.Logf("user created on B usable %s later through A's node", took.Round(time.Millisecond))
	}
	if got := a.user(t, "frank"); got.Status != "active" {
		t.Errorf("A reports the user created on B as %q; want active", got.Status)
	}

	deleted := time.Now()
	b.mustCall(t, "DELETE", "/api/user/frank", nil, nil)
	waitFor(t, 10*time.Second, "a user deleted on B to be cut off by the node held by A", func() bool { return cutOff(socks, echo) })
	if took := time.Since(deleted); took > 2*time.Second {
		t.Errorf("user deleted on B still usable %s later; want under 2 s", took)
	} else {
		t.Logf("user deleted on B cut off %s later", took.Round(time.Millisecond))
	}
	if h := nd.health(t); h.CoreRestarts != 1 || h.Snapshots != 1 {
		t.Errorf("node: core restarts %d, snapshots %d; want 1 and 1 (changes arrive as deltas)", h.CoreRestarts, h.Snapshots)
	}
}

// TestReplicaFailover: the replica holding the node's session is killed
// and the load balancer sends the node to the other one. The data plane
// never notices, the reconnect costs a delta, and no byte is counted twice
// or lost.
func TestReplicaFailover(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	ports := testPorts(t)
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := a.createNode(t, "edge-lb")
	lb := startForwarder(t, a.addr)
	nd := startNode(t, lb.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected through the balancer to A", func() bool { return nd.health(t).Connected })
	waitFor(t, 5*time.Second, "A to report the node connected", func() bool { return nodeStatus(t, a, n.ID) == "connected" })

	echo := xraytest.StartEcho(t)
	sink := startPacedSink(t, 32<<10, 20*time.Millisecond)
	alice := a.createUser(t, "alice", nil)
	socks := client(t, alice, "vless", ports["vless-tcp"], nil)
	msg := payload(64 << 10)
	waitFor(t, 10*time.Second, "alice's first connection", func() bool { return roundTrip(socks, echo, msg) == nil })
	expected := 2 * int64(len(msg))
	before := nd.health(t)
	if before.CoreRestarts != 1 || before.Snapshots != 1 {
		t.Fatalf("before failover: core restarts %d, snapshots %d; want 1 and 1", before.CoreRestarts, before.Snapshots)
	}

	probe := startProber(socks, echo, 16<<10, 200*time.Millisecond)
	// A download in flight across the kill, and usage journaled to A before it.
	const dlSize = 3 << 20
	dlDone := make(chan error, 1)
	go func() {
		got, err := download(socks, sink, dlSize)
		if err == nil && got != dlSize {
			err = fmt.Errorf("download ended after %d of %d bytes", got, dlSize)
		}
		dlDone <- err
	}()
	waitFor(t, 10*time.Second, "usage recorded through A", func() bool { return a.user(t, "alice").UsedTraffic > 0 })

	a.kill()
	killed := time.Now()
	t.Log("replica A killed with SIGKILL")
	waitFor(t, 10*time.Second, "node to notice A is gone", func() bool { return !nd.health(t).Connected })
	// A change while the node has no session, so the reconnect has a delta to fetch.
	bob := b.createUser(t, "bob", nil)
	// The balancer keeps sending the node to dead A for a while: connections
	// must keep working with no panel reachable at all.
	seen := probe.count()
	waitFor(t, 10*time.Second, "round trips with no panel reachable", func() bool { return probe.count() >= seen+3 })
	lb.switchTo(b.addr)
	t.Log("balancer switched to B")
	waitFor(t, 15*time.Second, "node reconnected to B", func() bool {
		return nd.health(t).Connected && nodeStatus(t, b, n.ID) == "connected"
	})
	t.Logf("node back in session on B %s after A was killed", time.Since(killed).Round(time.Millisecond))
	bobSocks := client(t, bob, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "bob, created during the failover, to pass traffic", func() bool {
		return roundTrip(bobSocks, echo, []byte("hi")) == nil
	})
	if err := <-dlDone; err != nil {
		t.Fatalf("download across the failover: %v", err)
	}
	expected += dlSize + 8
	after := nd.health(t)
	if after.Snapshots != before.Snapshots || after.CoreRestarts != 1 || after.Deltas <= before.Deltas {
		t.Errorf("failover cost: snapshots %d -> %d, deltas %d -> %d, core restarts %d; want no snapshot, a delta, 1 core start",
			before.Snapshots, after.Snapshots, before.Deltas, after.Deltas, after.CoreRestarts)
	}

	// A change on B after the failover works within 2 s.
	carol := b.createUser(t, "carol", nil)
	created := time.Now()
	carolSocks := client(t, carol, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "carol's first connection", func() bool { return roundTrip(carolSocks, echo, []byte("hi")) == nil })
	if took := time.Since(created); took > 2*time.Second {
		t.Errorf("user created on B after the failover usable after %s; want under 2 s", took)
	}

	// Keep probing for a moment on B, then judge the whole run.
	seen = probe.count()
	waitFor(t, 10*time.Second, "probes through B", func() bool { return probe.count() >= seen+3 })
	ok, moved, err := probe.stop()
	if err != nil {
		t.Fatalf("traffic stopped during the failover (%d round trips succeeded): %v", ok, err)
	}
	t.Logf("%d round trips every 200 ms through the failover, all succeeded", ok)
	expected += moved
	if h := nd.health(t); h.CoreRestarts != 1 || h.Snapshots != before.Snapshots {
		t.Errorf("after the failover: core restarts %d, snapshots %d; want 1 and %d", h.CoreRestarts, h.Snapshots, before.Snapshots)
	}
	usedWithin(t, b, nd, "alice", expected)
}

// TestFencingAcrossReplicas: two agents share one node token, one on each
// replica. The newer session fences the older one although another replica
// holds it, and both replicas report the node connected.
func TestFencingAcrossReplicas(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(testPorts(t)), nil)
	n := a.createNode(t, "edge-twin")
	// A fenced agent backs off for its max backoff; a long one keeps it from
	// taking the node back during the test.
	older := startNodeBackoff(t, "node older", a.url(), n.Token, t.TempDir(), 30*time.Second)
	waitFor(t, 20*time.Second, "older session on A", func() bool { return older.health(t).Connected })
	newer := startNodeBackoff(t, "node newer", b.url(), n.Token, t.TempDir(), time.Second)
	waitFor(t, 20*time.Second, "newer session on B", func() bool { h, err := newer.healthErr(); return err == nil && h.Connected })
	waitFor(t, 10*time.Second, "older session on A fenced", func() bool { return !older.health(t).Connected })

	// The newer session survives: nothing on A may fence it back. Watch it
	// for a few of the panel's ping intervals.
	watch := time.Now().Add(3 * time.Second)
	for time.Now().Before(watch) {
		if !newer.health(t).Connected {
			t.Fatal("the newer session on B was dropped after fencing the older one")
		}
		if older.health(t).Connected {
			t.Fatal("the fenced agent got its session back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, p := range map[string]*panel{"A": a, "B": b} {
		if st := nodeStatus(t, p, n.ID); st != "connected" {
			t.Errorf("GET /api/node/%d on %s: status %q; want connected", n.ID, name, st)
		}
	}
}

// TestRedisDown: Redis dies while a node is connected. The data plane keeps
// serving, usage keeps being recorded (the database is the truth), and
// every change made during the outage, on either replica, reaches the node
// once Redis is back, without an Xray restart.
func TestRedisDown(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	ports := testPorts(t)
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := a.createNode(t, "edge-redis")
	nd := startNode(t, a.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected to A", func() bool { return nd.health(t).Connected })
	echo := xraytest.StartEcho(t)

	alice := a.createUser(t, "alice", nil)
	erin := a.createUser(t, "erin", nil)
	aliceSocks := client(t, alice, "vless", ports["vless-tcp"], nil)
	erinSocks := client(t, erin, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "alice and erin pass traffic", func() bool {
		return roundTrip(aliceSocks, echo, []byte("hi")) == nil && roundTrip(erinSocks, echo, []byte("hi")) == nil
	})
	usedBefore := a.user(t, "alice").UsedTraffic

	be.redis.Kill()
	t.Log("redis-server killed")
	probe := startProber(aliceSocks, echo, 16<<10, 200*time.Millisecond)

	// Changes on both replicas while Redis is away. The API must still
	// answer: the database commit is the change, the feed a cache of it.
	start := time.Now()
	dave := a.createUser(t, "dave", nil)
	daveTook := time.Since(start)
	start = time.Now()
	b.mustCall(t, "DELETE", "/api/user/erin", nil, nil)
	t.Logf("during the Redis outage: create on A answered in %s, delete on B in %s",
		daveTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	daveSocks := client(t, dave, "vless", ports["vless-tcp"], nil)

	// A holds the node's session and made the change itself; whether it
	// reaches the node without Redis is reported, not required (see the
	// report: the hub learns changes only from the feed).
	reachedDuring := false
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if roundTrip(daveSocks, echo, []byte("hi")) == nil {
			reachedDuring = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("a user created on A reached A's node while Redis was down: %v", reachedDuring)

	// Usage keeps being recorded: it goes to the database only.
	waitFor(t, 10*time.Second, "usage recorded while Redis is down", func() bool {
		return a.user(t, "alice").UsedTraffic > usedBefore
	})
	if h := nd.health(t); !h.Connected {
		t.Errorf("node lost its session because Redis died")
	}

	be.redis.Start()
	restarted := time.Now()
	t.Log("redis-server restarted, empty")
	waitFor(t, 15*time.Second, "dave, created on A during the outage, to pass traffic", func() bool {
		return roundTrip(daveSocks, echo, []byte("hi")) == nil
	})
	waitFor(t, 15*time.Second, "erin, deleted on B during the outage, to be cut off", func() bool { return cutOff(erinSocks, echo) })
	t.Logf("outage changes reached the node %s after Redis came back", time.Since(restarted).Round(time.Millisecond))

	// Nothing lost: the node holds exactly the users the database says.
	waitFor(t, 10*time.Second, "node to hold alice and dave only", func() bool { return nd.health(t).Users == 2 })

	// Replicas are whole again: a change on B reaches A's node within 2 s.
	gus := b.createUser(t, "gus", nil)
	created := time.Now()
	gusSocks := client(t, gus, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "gus's first connection", func() bool { return roundTrip(gusSocks, echo, []byte("hi")) == nil })
	if took := time.Since(created); took > 2*time.Second {
		t.Errorf("user created on B after Redis came back usable after %s; want under 2 s", took)
	}

	ok, _, err := probe.stop()
	if err != nil {
		t.Fatalf("traffic stopped while Redis was down (%d round trips succeeded): %v", ok, err)
	}
	t.Logf("%d round trips every 200 ms through the Redis outage, all succeeded", ok)
	if h := nd.health(t); h.CoreRestarts != 1 {
		t.Errorf("xray started %d times; want 1", h.CoreRestarts)
	}
}

// TestLaggingReplicaNoRollback: replica B has lost Redis, so its copy of
// the desired state stops at some revision, while A (still on Redis) moves
// the node past it. A dies and the balancer sends the node to B. B must not
// hand the node its older state: a user the node already serves must keep
// working, and the reconnect must not cost a snapshot.
func TestLaggingReplicaNoRollback(t *testing.T) {
	be := newSharedBackends(t)
	a := be.replica(t, "A")
	// B reaches Redis through a switchable path, so it alone can be cut off.
	redisPath := startForwarder(t, be.redis.Addr())
	b := startReplica(t, "B", "", be.dsn, "redis://"+redisPath.addr()+"/0")
	ports := testPorts(t)
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(ports), nil)
	n := a.createNode(t, "edge-lag")
	lb := startForwarder(t, a.addr)
	nd := startNode(t, lb.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected through the balancer to A", func() bool { return nd.health(t).Connected })
	echo := xraytest.StartEcho(t)

	// Nothing listens on dead: B's Redis connections drop and cannot come back.
	dead := fmt.Sprintf("127.0.0.1:%d", lowPort(t))
	redisPath.switchTo(dead)
	t.Log("B cut off from Redis")

	bob := a.createUser(t, "bob", nil)
	bobSocks := client(t, bob, "vless", ports["vless-tcp"], nil)
	waitFor(t, 10*time.Second, "bob, created on A, to pass traffic", func() bool { return roundTrip(bobSocks, echo, []byte("hi")) == nil })
	before := nd.health(t)

	a.kill()
	lb.switchTo(b.addr)
	t.Log("A killed, balancer switched to B")
	waitFor(t, 15*time.Second, "node in session on B", func() bool {
		return nd.health(t).Connected && nodeStatus(t, b, n.ID) == "connected"
	})
	// Give B's session time to push whatever it decided to push.
	settle := time.Now().Add(2 * time.Second)
	for time.Now().Before(settle) {
		if err := xraytest.RoundTripWithin(bobSocks, echo, []byte("hi"), 2*time.Second); err != nil {
			h := nd.health(t)
			t.Fatalf("bob, already on the node, was cut off after the node moved to a lagging replica "+
				"(node revision %d -> %d, snapshots %d -> %d): %v",
				before.AppliedRevision, h.AppliedRevision, before.Snapshots, h.Snapshots, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h := nd.health(t); h.AppliedRevision < before.AppliedRevision || h.Snapshots != before.Snapshots {
		t.Errorf("node moved from revision %d to %d and applied %d snapshots (had %d); want no step back and no snapshot",
			before.AppliedRevision, h.AppliedRevision, h.Snapshots, before.Snapshots)
	}

	// B back on Redis: a change on B reaches the node.
	redisPath.switchTo(be.redis.Addr())
	carol := b.createUser(t, "carol", nil)
	carolSocks := client(t, carol, "vless", ports["vless-tcp"], nil)
	waitFor(t, 15*time.Second, "carol, created on B after it rejoined Redis, to pass traffic", func() bool {
		return roundTrip(carolSocks, echo, []byte("hi")) == nil
	})
	if err := roundTrip(bobSocks, echo, []byte("hi")); err != nil {
		t.Errorf("bob after B rejoined Redis: %v", err)
	}
}

// TestReplicaCrashNodeStatus: the replica holding a node's session dies
// with SIGKILL and the node cannot reach another one. The surviving replica
// must stop reporting the node connected once the session's liveness has
// lapsed (ARCHITECTURE.md: a presence key says which replica holds a node),
// and report it connected again when the node comes back through it.
func TestReplicaCrashNodeStatus(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(testPorts(t)), nil)
	n := a.createNode(t, "edge-orphan")
	lb := startForwarder(t, a.addr)
	nd := startNode(t, lb.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected to A", func() bool { return nd.health(t).Connected })
	waitFor(t, 5*time.Second, "B to report the node connected", func() bool { return nodeStatus(t, b, n.ID) == "connected" })

	a.kill()
	t.Log("replica A killed with SIGKILL; the balancer still points at it")
	waitFor(t, 10*time.Second, "node to notice A is gone", func() bool { return !nd.health(t).Connected })
	// The replicas ping every second and give up after three silent
	// intervals; ten seconds is far past any sane liveness bound.
	waitFor(t, 10*time.Second, "B to stop reporting the node of dead A as connected", func() bool {
		return nodeStatus(t, b, n.ID) != "connected"
	})

	lb.switchTo(b.addr)
	waitFor(t, 15*time.Second, "B to report the node connected again", func() bool {
		return nd.health(t).Connected && nodeStatus(t, b, n.ID) == "connected"
	})
}

// TestReplicasStartTogether: replicas started at the same moment on an
// empty database (docker compose up --scale panel=2) agree on the secrets
// they bootstrap, so an admin token from one is good on the other. The race
// is a matter of milliseconds, so it is tried on a few fresh databases.
func TestReplicasStartTogether(t *testing.T) {
	const rounds = 6
	for round := 1; round <= rounds; round++ {
		be := newSharedBackends(t)
		var reps []*panel
		for _, label := range []string{"A", "B"} {
			addr := fmt.Sprintf("127.0.0.1:%d", lowPort(t))
			reps = append(reps, launchReplica(t, fmt.Sprintf("%s%d", label, round), addr, be.dsn, be.redis.URL()))
		}
		for _, p := range reps {
			waitReplica(t, p)
		}
		a, b := reps[0], reps[1]
		for _, c := range []struct {
			name           string
			issuer, server *panel
		}{{"A's token on B", a, b}, {"B's token on A", b, a}} {
			cross := &panel{addr: c.server.addr, token: c.issuer.token}
			if code := cross.call(t, "GET", "/api/admin", nil, nil); code != 200 {
				t.Fatalf("round %d: %s: GET /api/admin HTTP %d; want 200 (the replicas bootstrapped different JWT secrets)", round, c.name, code)
			}
		}
		a.kill()
		b.kill()
	}
}
