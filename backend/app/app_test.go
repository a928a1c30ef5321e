package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/config"
)

// syncBuffer is the banner's writer, read while Run writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs the panel on dataDir until its banner is out, stops it, and
// returns the banner.
func start(t *testing.T, dataDir string) string {
	t.Helper()
	cfg := config.Defaults()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dataDir
	ctx, cancel := context.WithCancel(context.Background())
	var banner syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler), &banner) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(banner.String(), "Login:") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("panel stopped before its banner: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("no banner within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("panel: %v", err)
	}
	return banner.String()
}

// The generated admin password is printed by the start that creates it and
// never again (issue 9, item 9).
func TestGeneratedPasswordPrintedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := start(t, dir)
	m := regexp.MustCompile(`Login:\s+(\S+) / (\S+)`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first start shows no generated login:\n%s", first)
	}
	password := m[2]
	saved, err := os.ReadFile(filepath.Join(dir, "admin-credentials.txt"))
	if err != nil || !strings.Contains(string(saved), password) {
		t.Fatalf("credentials file %q, %v", saved, err)
	}
	for i := range 2 {
		again := start(t, dir)
		if strings.Contains(again, password) {
			t.Fatalf("start %d prints the password again:\n%s", i+2, again)
		}
		if !strings.Contains(again, "admin-credentials.txt") {
			t.Errorf("start %d does not say where the first login is:\n%s", i+2, again)
		}
	}
	for name, want := range map[string]os.FileMode{"admin-credentials.txt": 0o600, "outpost.db": 0o600, ".": 0o700} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %o", name, st.Mode().Perm(), err, want)
		}
	}
}

// The packaged unit keeps the data directory (the database and its
// secrets) to the service user.
func TestSystemdUnitKeepsStatePrivate(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/systemd/outpost-panel.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"StateDirectoryMode=0700", "UMask=0077"} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).Match(unit) {
			t.Errorf("outpost-panel.service lacks %s", want)
		}
	}
}
