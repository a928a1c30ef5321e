//go:build unix

package state

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashDirEnv = "OUTPOST_STATE_CRASH_DIR"

// TestBoltCrashKeepsJournal kills a process with SIGKILL right after
// AppendUsage returned, with no Close and no trim: the entry and the counter
// it bumped must be there when the store is opened again.
func TestBoltCrashKeepsJournal(t *testing.T) {
	dir := t.TempDir()
	b := openTestBolt(t, dir)
	users := testUsers(2)
	mustSnapshot(t, b, 1, testConfig, users)
	b.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestBoltCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.Output()
	if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v\n%s", err, out)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	seq, err := strconv.ParseInt(strings.TrimPrefix(line, "seq="), 10, 64)
	if err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}

	b = openTestBolt(t, dir)
	pending, err := b.PendingUsage(0, 0)
	if err != nil || len(pending) != 1 || pending[0].Seq != seq {
		t.Fatalf("pending after crash = %+v, %v; want seq %d", pending, err, seq)
	}
	if got := pending[0].Traffic[users[0].Email]; got != (Traffic{Up: 7, Down: 3}) {
		t.Errorf("journaled traffic = %+v", got)
	}
	if used, _ := b.LocalUsed(users[0].Email); used != 10 {
		t.Errorf("LocalUsed after crash = %d, want 10", used)
	}
	if next, err := b.AppendUsage(time.Now(), nil); err != nil || next != seq+1 {
		t.Errorf("seq after crash = %d, %v; want %d", next, err, seq+1)
	}
}

// TestBoltCrashHelper is the process TestBoltCrashKeepsJournal kills.
func TestBoltCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestBoltCrashKeepsJournal")
	}
	b, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := b.AppendUsage(time.Now(), map[string]Traffic{testUser(0).Email: {Up: 7, Down: 3}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("seq=%d\n", seq)
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
