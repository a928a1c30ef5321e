package backup_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/backup"
)

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"outpost-20261201T030000Z.backup":         true,
		"outpost-20261201T030000Z.backup.tmp":     false,
		".outpost-20261201T030000Z.backup.12.tmp": false,
		"../outpost-20261201T030000Z.backup":      false,
		"outpost-20261201T030000Z.backup/..":      false,
		"outpost-2026121T030000Z.backup":          false,
		"outpost-20261201T030000.backup":          false,
		"outpost.db":                              false,
		"":                                        false,
		"outpost-20261201T030000Z.backup\x00":     false,
		"outpost-20261201T030000Z.backup\n":       false,
	} {
		if got := backup.ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

// The schedule's status follows its runs: leader once the job has looked,
// the next run at the first look after the newest file is Every old, the
// last error (a failed Telegram upload) kept until a run goes well; a
// manual run takes a file at once, refuses a second in the same second,
// and lists newest first.
func TestScheduleStatusAndRunNow(t *testing.T) {
	ctx := context.Background()
	from := newTarget(t, "sqlite")
	seed(t, from, 20)
	st := from.open(t)
	defer st.Close()
	tg := &fakeTelegram{documents: map[string][]byte{}, fail: true}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	s := backup.NewScheduler(st, backup.ScheduleOptions{
		Dir: filepath.Join(t.TempDir(), "backups"), Every: 24 * time.Hour, Keep: 2, Passphrase: "pass",
		TelegramToken: "TOKEN", TelegramAPI: srv.URL, SendFile: true, TelegramChats: []int64{111},
		Now: func() time.Time { return now },
	})
	status := func() backup.ScheduleStatus {
		t.Helper()
		got, err := s.Status()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := status(); got.Leader || got.LastRun != nil || !got.NextRun.Equal(now) || !got.Encrypted || !got.Telegram || got.Keep != 2 {
		t.Fatalf("before any run: %+v", got)
	}
	if files, err := s.List(); err != nil || len(files) != 0 {
		t.Fatalf("a directory not made yet: %v %v", files, err)
	}

	if err := s.Run(ctx); err == nil {
		t.Fatal("a run whose Telegram upload failed reported no error")
	}
	got := status()
	if !got.Leader || got.LastFile != "outpost-20261201T030000Z.backup" || !strings.Contains(got.LastError, "Telegram") ||
		!got.NextRun.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("after a run: %+v", got)
	}

	if _, _, err := s.RunNow(ctx); !errors.Is(err, backup.ErrTooSoon) {
		t.Fatalf("a second backup in the same second: %v", err)
	}
	now = now.Add(90 * time.Second)
	f, sendErr, err := s.RunNow(ctx)
	if err != nil || sendErr == nil || f.Name != "outpost-20261201T030130Z.backup" || !f.Encrypted || f.Size < 100 {
		t.Fatalf("run now: %+v, send %v, %v", f, sendErr, err)
	}
	files, err := s.List()
	if err != nil || len(files) != 2 || files[0].Name != f.Name || files[1].Name != "outpost-20261201T030000Z.backup" {
		t.Fatalf("list %+v %v", files, err)
	}
	// The next scheduled one counts from the newest file, on the job's
	// five-minute looks: 03:01:30 + 24 h falls between two, so the later.
	if got := status(); !got.NextRun.Equal(time.Date(2026, 12, 2, 3, 5, 0, 0, time.UTC)) {
		t.Fatalf("next run %v", got.NextRun)
	}

	tg.mu.Lock()
	tg.fail = false
	tg.mu.Unlock()
	now = now.Add(time.Minute)
	if _, sendErr, err := s.RunNow(ctx); err != nil || sendErr != nil {
		t.Fatalf("run now: %v %v", sendErr, err)
	}
	if got := status(); got.LastError != "" {
		t.Fatalf("a good run kept the old error: %+v", got)
	}
	if files, _ := s.List(); len(files) != 2 {
		t.Fatalf("keep 2: %+v", files)
	}
	for _, name := range []string{"../outpost.db", "outpost.db", "outpost-20261201T030000Z.backup/x"} {
		if _, _, err := s.Open(name); !errors.Is(err, backup.ErrBadName) {
			t.Fatalf("Open(%q): %v", name, err)
		}
	}
	if _, _, err := s.Open("outpost-20200101T000000Z.backup"); !errors.Is(err, backup.ErrNoSuchBackup) {
		t.Fatalf("a missing backup: %v", err)
	}
}
