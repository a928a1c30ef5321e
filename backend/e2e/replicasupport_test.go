package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// startReplica starts a panel that shares dsn (PostgreSQL) and redisURL with
// its sibling replicas. Each replica gets its own data dir, as it would on
// its own host. label names it in the test log; addr "" picks a free port.
func startReplica(t testing.TB, label, addr, dsn, redisURL string) *panel {
	t.Helper()
	if addr == "" {
		addr = fmt.Sprintf("127.0.0.1:%d", lowPort(t))
	}
	p := launchReplica(t, label, addr, dsn, redisURL)
	waitReplica(t, p)
	return p
}

// launchReplica starts the process without waiting for it, so a test can
// start replicas together.
func launchReplica(t testing.TB, label, addr, dsn, redisURL string) *panel {
	t.Helper()
	p := &panel{addr: addr, dataDir: t.TempDir()}
	p.proc = proc{t: t, name: "panel", args: []string{
		"--listen", addr, "--data-dir", p.dataDir,
		"--review-interval", "300ms", "--usage-interval", "300ms", "--ping-interval", "1s",
	}, env: []string{
		"SUDO_USERNAME=" + sudoUser, "SUDO_PASSWORD=" + sudoPass,
		// Later entries win over the test process's own environment.
		"DATABASE_URL=" + dsn, "REDIS_URL=" + redisURL,
	}}
	startLabeled(&p.proc, "panel "+label)
	return p
}

// startLabeled is proc.start with a log prefix of its own, so the lines of
// two replicas (or two agents) can be told apart.
func startLabeled(p *proc, label string) {
	p.t.Helper()
	p.cmd = exec.Command(filepath.Join(binDir, p.name), p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.out = &logWriter{t: p.t, prefix: label + ": "}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.launch(nil); err != nil {
		p.t.Fatalf("starting %s: %v", label, err)
	}
	p.t.Cleanup(func() { p.kill() })
}

func waitReplica(t testing.TB, p *panel) {
	t.Helper()
	waitFor(t, 30*time.Second, "replica "+p.addr+" to answer /healthz", func() bool {
		if !p.running() {
			t.Fatalf("replica %s exited during start-up", p.addr)
		}
		resp, err := http.Get(p.url() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	p.login(t)
}

// sharedBackends is one PostgreSQL database and one Redis server for a
// test's replicas. Each test owns its redis-server: the panel's keys and
// channels have a fixed prefix, so replicas of two tests must not meet.
type sharedBackends struct {
	dsn   string
	redis *testenv.RedisServer
}

func newSharedBackends(t testing.TB) sharedBackends {
	t.Helper()
	return sharedBackends{dsn: postgresDSN(t), redis: testenv.StartRedisServer(t)}
}

// postgresDSN is a fresh database on the test cluster.
func postgresDSN(t testing.TB) string { return testenv.Postgres(t) }

func (b sharedBackends) replica(t testing.TB, label string) *panel {
	t.Helper()
	return startReplica(t, label, "", b.dsn, b.redis.URL())
}

// startNodeBackoff is startNode with a chosen --max-backoff: a node that
// must not fight back after being fenced needs a long one.
func startNodeBackoff(t testing.TB, label, panelURL, token, stateDir string, maxBackoff time.Duration) *node {
	t.Helper()
	n := &node{statusAddr: fmt.Sprintf("127.0.0.1:%d", lowPort(t))}
	n.proc = proc{t: t, name: "node", args: []string{
		"--panel", panelURL, "--token", token, "--state-dir", stateDir,
		"--status-listen", n.statusAddr, "--usage-interval", "300ms", "--max-backoff", maxBackoff.String(),
	}}
	startLabeled(&n.proc, label)
	waitFor(t, 30*time.Second, "node status endpoint", func() bool { _, err := n.healthErr(); return err == nil })
	return n
}

// forwarder is a TCP load balancer with one backend that the test switches.
// Switching closes every forwarded connection, as a balancer does when it
// takes a backend out of rotation.
type forwarder struct {
	t  testing.TB
	ln net.Listener

	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startForwarder(t testing.TB, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("forwarder: %v", err)
	}
	f := &forwarder{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() {
		ln.Close()
		f.closeAll()
		f.wg.Wait()
	})
	return f
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

func (f *forwarder) url() string { return "http://" + f.addr() }

// switchTo sends new connections to target and cuts the existing ones.
func (f *forwarder) switchTo(target string) {
	f.mu.Lock()
	f.target = target
	f.mu.Unlock()
	f.closeAll()
}

func (f *forwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
}

func (f *forwarder) track(c net.Conn) {
	f.mu.Lock()
	f.conns[c] = struct{}{}
	f.mu.Unlock()
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

func (f *forwarder) accept() {
	defer f.wg.Done()
	for {
		down, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.mu.Lock()
			target := f.target
			f.mu.Unlock()
			f.track(down)
			defer f.untrack(down)
			up, err := net.DialTimeout("tcp", target, 2*time.Second)
			if err != nil {
				return // like a balancer with a dead backend: the client sees a reset
			}
			f.track(up)
			defer f.untrack(up)
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				done <- struct{}{}
			}
			go pipe(up, down)
			go pipe(down, up)
			<-done // either side ending ends both, as a balancer does
		}()
	}
}

// prober opens a new proxied connection and round-trips a payload every
// interval until stopped, proving the data plane never paused.
type prober struct {
	stopc chan struct{}
	done  chan struct{}

	mu    sync.Mutex
	ok    int
	fails []error
	bytes int64 // payload moved, both directions
}

func startProber(socks, echo string, size int, every time.Duration) *prober {
	p := &prober{stopc: make(chan struct{}), done: make(chan struct{})}
	msg := payload(size)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			at := time.Now()
			err := roundTrip(socks, echo, msg)
			p.mu.Lock()
			if err != nil {
				p.fails = append(p.fails, fmt.Errorf("at %s: %w", at.Format("15:04:05.000"), err))
			} else {
				p.ok++
				p.bytes += 2 * int64(len(msg))
			}
			p.mu.Unlock()
			select {
			case <-p.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// stop ends probing and returns the successes, the bytes they moved, and
// every failure.
func (p *prober) stop() (ok int, bytes int64, err error) {
	close(p.stopc)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok, p.bytes, errors.Join(p.fails...)
}

func (p *prober) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok
}

// cutOff reports whether a user's client no longer gets through. A server
// refusing some protocols keeps the connection open and silent, hence the
// short timeout.
func cutOff(socks, echo string) bool {
	return xraytest.RoundTripWithin(socks, echo, []byte("x"), time.Second) != nil
}

// nodeStatus reads the node's status as the given replica reports it.
func nodeStatus(t testing.TB, p *panel, id int64) string {
	t.Helper()
	return p.node(t, id).Status
}

// usedWithin waits until the user's used_traffic reaches expected, lets any
// duplicate arrive, and fails unless it is within [expected, expected+10%].
func usedWithin(t testing.TB, p *panel, nd *node, name string, expected int64) {
	t.Helper()
	waitFor(t, 20*time.Second, "usage journal drained", func() bool { return nd.health(t).JournalBacklog == 0 })
	waitFor(t, 20*time.Second, fmt.Sprintf("%s's used_traffic to reach %d", name, expected), func() bool {
		return p.user(t, name).UsedTraffic >= expected
	})
	// A resent batch would land within a usage interval or two.
	time.Sleep(time.Second)
	used := p.user(t, name).UsedTraffic
	if used < expected || float64(used) > float64(expected)*1.10 {
		t.Fatalf("%s used_traffic = %d; moved %d (want between payload and payload+10%%)", name, used, expected)
	}
	t.Logf("%s moved %d payload bytes; panel counted %d (%.2f%%)", name, expected, used, 100*float64(used)/float64(expected))
}
