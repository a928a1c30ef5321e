package backup_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/config"
	"github.com/outpost-panel/outpost/backend/state"
)

// fakeTelegram records what the panel's bot sends.
type fakeTelegram struct {
	mu        sync.Mutex
	documents map[string][]byte // chat id -> file
	messages  []string
	fail      bool
}

func (f *fakeTelegram) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/bot"+"TOKEN"+"/sendDocument"):
		if f.fail {
			w.WriteHeader(400)
			io.WriteString(w, `{"ok":false,"description":"Bad Request: chat not found"}`)
			return
		}
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		var chat string
		var data []byte
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			switch p.FormName() {
			case "chat_id":
				chat = string(b)
			case "document":
				data = b
			}
		}
		f.documents[chat] = data
	case strings.HasSuffix(r.URL.Path, "/botTOKEN/sendMessage"):
		b, _ := io.ReadAll(r.Body)
		f.messages = append(f.messages, string(b))
	default:
		w.WriteHeader(404)
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

// TestScheduledBackups: a backup is taken when the newest in the
// directory is older than the interval (not at every look), old ones
// beyond Keep are deleted, each file goes sealed to TELEGRAM_ADMIN_ID and
// the sudo admins' chats and restores; a failure is reported there too and
// returned, not raised.
func TestScheduledBackups(t *testing.T) {
	ctx := context.Background()
	from := newTarget(t, "sqlite")
	seed(t, from, 50)
	st := from.open(t)
	defer st.Close()
	chat := int64(222)
	if _, err := st.CreateAdmin(ctx, state.AdminInput{Username: "owner", Password: "owner-password-1", IsSudo: true, TelegramID: &chat}); err != nil {
		t.Fatal(err)
	}
	other := int64(333)
	if _, err := st.CreateAdmin(ctx, state.AdminInput{Username: "reseller", Password: "reseller-password-1", TelegramID: &other}); err != nil {
		t.Fatal(err)
	}
	tg := &fakeTelegram{documents: map[string][]byte{}}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "backups")
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	s := backup.NewScheduler(st, backup.ScheduleOptions{
		Dir: dir, Every: 24 * time.Hour, Keep: 2, Passphrase: "pass", DataDir: from.dir,
		TelegramToken: "TOKEN", TelegramAPI: srv.URL, SendFile: true, TelegramChats: []int64{111},
		Now: func() time.Time { return now },
	})
	files := func() []string {
		entries, _ := os.ReadDir(dir)
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := files(); len(got) != 1 || got[0] != "outpost-20261201T030000Z.backup" {
		t.Fatalf("after the first run: %v", got)
	}
	now = now.Add(time.Hour)
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := files(); len(got) != 1 {
		t.Fatalf("a backup an hour after the last: %v", got)
	}
	for i := 0; i < 3; i++ {
		now = now.Add(24 * time.Hour)
		if err := s.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := files(); len(got) != 2 || got[0] != "outpost-20261203T040000Z.backup" || got[1] != "outpost-20261204T040000Z.backup" {
		t.Fatalf("kept %v, want the newest two", got)
	}
	tg.mu.Lock()
	if len(tg.documents) != 2 || tg.documents["111"] == nil || tg.documents["222"] == nil {
		t.Fatalf("documents went to %d chats: want 111 and the sudo admin's 222, not the reseller's", len(tg.documents))
	}
	sent := tg.documents["222"]
	tg.mu.Unlock()
	file := filepath.Join(t.TempDir(), "from-telegram.backup")
	os.WriteFile(file, sent, 0o600)
	if _, err := backup.Verify(file, ""); !errors.Is(err, backup.ErrNeedPassphrase) {
		t.Fatalf("the file sent to Telegram is not encrypted: %v", err)
	}
	to := newTarget(t, "sqlite")
	if m, err := backup.Restore(ctx, file, backup.RestoreOptions{DataDir: to.dir, Passphrase: "pass"}); err != nil || m.Rows("users") != 49 {
		t.Fatalf("restoring the file sent to Telegram: %v (%d users)", err, m.Rows("users"))
	}

	// Failures: a backup dir that cannot be created, then a chat that
	// refuses the file.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	bad := backup.NewScheduler(st, backup.ScheduleOptions{
		Dir: filepath.Join(blocker, "backups"), Every: time.Hour, Keep: 1,
		TelegramToken: "TOKEN", TelegramAPI: srv.URL, TelegramChats: []int64{111},
	})
	if err := bad.Run(ctx); err == nil {
		t.Fatal("a backup into an impossible dir succeeded")
	}
	tg.mu.Lock()
	msgs := strings.Join(tg.messages, "\n")
	tg.fail = true
	tg.mu.Unlock()
	if !strings.Contains(msgs, "scheduled backup failed") || !strings.Contains(msgs, `"chat_id":111`) {
		t.Fatalf("failure notices: %s", msgs)
	}
	now = now.Add(48 * time.Hour)
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "chat not found") {
		t.Fatalf("a refused upload: %v", err)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if last := tg.messages[len(tg.messages)-1]; !strings.Contains(last, "could not be sent") {
		t.Fatalf("no notice of the refused upload: %s", last)
	}
}

// TestPanelTakesScheduledBackups: the running panel, given --backup-dir,
// takes a backup at once into an empty directory (sealed with the
// passphrase), and the file restores.
func TestPanelTakesScheduledBackups(t *testing.T) {
	from := newTarget(t, "sqlite")
	seed(t, from, 100)
	dir := filepath.Join(t.TempDir(), "scheduled")
	p := startPanel(t, from, func(c *config.Config) {
		c.BackupDir, c.BackupEvery, c.BackupKeep, c.BackupPassphrase = dir, time.Hour, 3, "scheduled pass"
	})
	var file string
	deadline := time.Now().Add(60 * time.Second)
	for file == "" {
		matches, _ := filepath.Glob(filepath.Join(dir, "outpost-*.backup"))
		if len(matches) > 0 {
			file = matches[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the panel took no scheduled backup")
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	m, err := backup.Verify(file, "scheduled pass")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Encrypted || m.Rows("users") != 99 {
		t.Fatalf("scheduled backup: encrypted %v, %d users", m.Encrypted, m.Rows("users"))
	}
}
