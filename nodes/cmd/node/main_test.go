package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/state"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// TestMain runs main instead of the tests when asked to: the tests start
// this binary as a real node process, signals and all.
func TestMain(m *testing.M) {
	if os.Getenv("OUTPOST_TEST_RUN_NODE") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nodeProcess is this test binary running main as a real node, serving
// from a state dir that holds one VLESS inbound and alice; the panel is
// unreachable on purpose.
type nodeProcess struct {
	cmd    *exec.Cmd
	exited chan error
	dir    string
	status string
	port   int
	alice  protocol.User
}

func startNode(t *testing.T, args ...string) *nodeProcess {
	t.Helper()
	n := &nodeProcess{dir: t.TempDir(), port: xraytest.FreePort(t), alice: xraytest.TestUser(1, "alice"), exited: make(chan error, 1)}
	cfg := xraytest.ServerConfig(map[string]int{xraytest.TagVLESS: n.port})
	st, err := state.OpenBolt(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	users := []protocol.User{n.alice}
	if err := st.SaveSnapshot(1, protocol.ComputeStateHash(cfg, users), cfg, users); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	n.status = fmt.Sprintf("127.0.0.1:%d", xraytest.FreePort(t))
	n.cmd = exec.Command(os.Args[0], append([]string{"--panel", "http://127.0.0.1:1", "--token", "t",
		"--state-dir", n.dir, "--status-listen", n.status}, args...)...)
	n.cmd.Env = append(os.Environ(), "OUTPOST_TEST_RUN_NODE=1")
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
	n.waitHealth(t, 30*time.Second, "node did not start from its state dir", func(h health) bool { return h.Users == 1 })
	return n
}

type health struct {
	Users          int `json:"users"`
	JournalBacklog int `json:"journal_backlog"`
}

func (n *nodeProcess) waitHealth(t *testing.T, within time.Duration, fail string, ok func(health) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var h health
		resp, err := http.Get("http://" + n.status + "/healthz")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if ok(h) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (last health %+v, %v)", fail, h, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *nodeProcess) wait(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-n.exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("node did not exit after %s", what)
		return nil
	}
}

// journaledDown is what the journal in the stopped node's state dir holds
// as alice's downloaded bytes.
func (n *nodeProcess) journaledDown(t *testing.T) int64 {
	t.Helper()
	st, err := state.OpenBolt(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.PendingUsage(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var down int64
	for _, e := range entries {
		down += e.Traffic[n.alice.Email].Down
	}
	return down
}

// TestSIGTERMJournalsCountedTraffic: a node stopped with SIGTERM journals
// what Xray counted since its last tick before it exits, even with a tick
// that would never come (--usage-interval 1h).
func TestSIGTERMJournalsCountedTraffic(t *testing.T) {
	n := startNode(t, "--usage-interval", "1h")
	const moved = 8 << 20
	socks := xraytest.StartClientFor(t, xraytest.TagVLESS, n.port, n.alice)
	if err := xraytest.Download(socks, xraytest.StartSink(t), moved); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := n.wait(t, "SIGTERM"); err != nil {
		t.Fatalf("node exited with %v after SIGTERM", err)
	}
	if down := n.journaledDown(t); down < moved {
		t.Fatalf("journal holds %d downloaded bytes of %d moved before SIGTERM", down, moved)
	}
}

// TestKill9LosesAtMostTheLastInterval: a node on its default flags is
// killed with SIGKILL in the middle of a download. Everything the client
// had received 3 s (three default journal intervals) before the kill
// is in the journal; only the last interval's counting may be lost.
func TestKill9LosesAtMostTheLastInterval(t *testing.T) {
	n := startNode(t)
	socks := xraytest.StartClientFor(t, xraytest.TagVLESS, n.port, n.alice)
	conn, err := xraytest.DialSOCKS(socks, xraytest.StartSink(t), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], 1<<50)
	if _, err := conn.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	type sample struct {
		at time.Time
		n  int64
	}
	var (
		mu      sync.Mutex
		samples []sample
		got     int64
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			k, err := conn.Read(buf)
			mu.Lock()
			got += int64(k)
			samples = append(samples, sample{time.Now(), got})
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// A few ticks journaled while the download runs; then SIGKILL.
	n.waitHealth(t, 20*time.Second, "the node did not journal six times in 20 s of download",
		func(h health) bool { return h.JournalBacklog >= 6 })
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = n.wait(t, "SIGKILL")
	_ = conn.Close()
	<-done

	mu.Lock()
	total := got
	var before int64 // received by the client 3 s before the kill
	for _, s := range samples {
		if s.at.Before(killed.Add(-3 * time.Second)) {
			before = s.n
		}
	}
	mu.Unlock()
	down := n.journaledDown(t)
	t.Logf("moved %d bytes, journaled %d (%.1f%%); %d moved up to 3 s before the kill", total, down, 100*float64(down)/float64(total), before)
	if down < before {
		t.Fatalf("journal holds %d bytes, less than the %d moved 3 s before the kill", down, before)
	}
}
