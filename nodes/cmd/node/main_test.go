package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
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

// TestSIGTERMJournalsCountedTraffic: a node stopped with SIGTERM journals
// what Xray counted since its last tick before it exits, even with a tick
// that would never come (--usage-interval 1h).
func TestSIGTERMJournalsCountedTraffic(t *testing.T) {
	dir := t.TempDir()
	port := xraytest.FreePort(t)
	cfg := xraytest.ServerConfig(map[string]int{xraytest.TagVLESS: port})
	alice := xraytest.TestUser(1, "alice")
	st, err := state.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	users := []protocol.User{alice}
	if err := st.SaveSnapshot(1, protocol.ComputeStateHash(cfg, users), cfg, users); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	status := fmt.Sprintf("127.0.0.1:%d", xraytest.FreePort(t))
	cmd := exec.Command(os.Args[0], "--panel", "http://127.0.0.1:1", "--token", "t",
		"--state-dir", dir, "--status-listen", status, "--usage-interval", "1h")
	cmd.Env = append(os.Environ(), "OUTPOST_TEST_RUN_NODE=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	// Serving from disk: the panel is unreachable on purpose.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var h struct{ Users int }
		resp, err := http.Get("http://" + status + "/healthz")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Users == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("node did not start from its state dir")
		}
		time.Sleep(50 * time.Millisecond)
	}

	const moved = 8 << 20
	socks := xraytest.StartClientFor(t, xraytest.TagVLESS, port, alice)
	if err := xraytest.Download(socks, xraytest.StartSink(t), moved); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("node exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node did not exit after SIGTERM")
	}

	st, err = state.OpenBolt(dir)
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
		down += e.Traffic[alice.Email].Down
	}
	if down < moved {
		t.Fatalf("journal holds %d downloaded bytes of %d moved before SIGTERM", down, moved)
	}
}
