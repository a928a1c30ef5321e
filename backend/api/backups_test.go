package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/store"
)

// backupList is GET /api/system/backups as the dashboard reads it.
type backupList struct {
	Enabled bool                   `json:"enabled"`
	Backups []backup.ScheduledFile `json:"backups"`
	Status  *struct {
		Keep      int       `json:"keep"`
		Telegram  bool      `json:"telegram"`
		NextRun   time.Time `json:"next_run"`
		LastFile  string    `json:"last_file"`
		LastError string    `json:"last_error"`
	} `json:"status"`
	Restore struct {
		Command string `json:"command"`
		Engine  string `json:"engine"`
	} `json:"restore"`
}

// restoredUsers restores the backup file into a fresh SQLite data dir with
// the real restore and counts the users there.
func restoredUsers(t *testing.T, file, passphrase string) (int, error) {
	t.Helper()
	dir := t.TempDir()
	if _, err := backup.Restore(context.Background(), file, backup.RestoreOptions{DataDir: dir, Passphrase: passphrase}); err != nil {
		return 0, err
	}
	db, err := store.Open(context.Background(), "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total int
	err = db.Read(context.Background(), func(tx *store.Tx) error {
		users, _, err := tx.ListUsers(store.UserFilter{})
		total = len(users)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, nil
}

// TestBackupRoutesAreSudoOnly: a regular admin is refused every backup
// route, and an API key without the "all" scope cannot take a backup's
// secrets away.
func TestBackupRoutesAreSudoOnly(t *testing.T) {
	e := newEnv(t)
	alice := e.token(e.alice)
	sudo := e.token(e.sudo)
	e.expect(e.do("POST", "/api/system/backups/run", sudo, nil), 200, "run")
	var list backupList
	e.do("GET", "/api/system/backups", sudo, nil).decode(t, &list)
	if len(list.Backups) != 1 {
		t.Fatalf("list %+v", list)
	}
	name := list.Backups[0].Name
	routes := []struct{ method, path string }{
		{"POST", "/api/system/backup"}, {"GET", "/api/system/backups"},
		{"POST", "/api/system/backups/run"}, {"GET", "/api/system/backups/" + name},
	}
	for _, r := range routes {
		got := e.do(r.method, r.path, alice, nil)
		e.expect(got, 403, "a regular admin: "+r.method+" "+r.path)
		if len(got.body) > 200 {
			t.Fatalf("%s %s: a refusal carries %d bytes", r.method, r.path, len(got.body))
		}
		e.expect(e.do(r.method, r.path, "", nil), 401, "no token: "+r.method+" "+r.path)
	}
	readKey := e.createKey(sudo, "reader", []string{"read", "admins", "nodes", "users"}, 0)
	e.expect(e.do("GET", "/api/system/backups", readKey, nil), 200, "a read key lists")
	e.expect(e.do("POST", "/api/system/backup", readKey, nil), 403, "a key without all: download")
	e.expect(e.do("GET", "/api/system/backups/"+name, readKey, nil), 403, "a key without all: scheduled download")
	e.expect(e.do("POST", "/api/system/backups/run", readKey, nil), 403, "a key without all: run")
	allKey := e.createKey(sudo, "everything", []string{"all"}, 0)
	if r := e.do("GET", "/api/system/backups/"+name, allKey, nil); r.status != 200 || !bytes.HasPrefix(r.body, []byte("OUTPOST-BACKUP/1")) {
		t.Fatalf("an all key: status %d, %q", r.status, r.body[:min(len(r.body), 40)])
	}
}

// TestBackupDownloadRoundTrips: POST /api/system/backup streams (chunked,
// no length known up front) a backup that the real restore loads into a
// fresh SQLite data dir with every user; with a passphrase it is sealed
// and the passphrase never reaches the audit log.
func TestBackupDownloadRoundTrips(t *testing.T) {
	e := newEnv(t)
	const users = 40
	for i := range users {
		e.createUser(e.alice, fmt.Sprintf("rt_%02d", i))
	}
	base := "http://" + e.listen()
	sudo := e.token(e.sudo)
	download := func(body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/system/backup", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+sudo)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		path := filepath.Join(t.TempDir(), "download.backup")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return resp, path
	}

	resp, plain := download("")
	if resp.StatusCode != 200 {
		b, _ := os.ReadFile(plain)
		t.Fatalf("download: %d %s", resp.StatusCode, b)
	}
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("not streamed: length %d, transfer encoding %v", resp.ContentLength, resp.TransferEncoding)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="outpost-`) || !strings.HasSuffix(cd, `.backup"`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if n, err := restoredUsers(t, plain, ""); err != nil || n != users {
		t.Fatalf("restored %d users (%v), want %d", n, err, users)
	}

	const pass = "a long enough passphrase"
	resp, sealed := download(`{"passphrase":"` + pass + `"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sealed download: %d", resp.StatusCode)
	}
	if _, err := restoredUsers(t, sealed, ""); !errors.Is(err, backup.ErrNeedPassphrase) {
		t.Fatalf("a sealed backup restored without its passphrase: %v", err)
	}
	if n, err := restoredUsers(t, sealed, pass); err != nil || n != users {
		t.Fatalf("restored %d users (%v), want %d", n, err, users)
	}
	if got := e.newestAudit(); !strings.Contains(got.Action, "/api/system/backup") || strings.Contains(string(got.After), pass) {
		t.Fatalf("audit entry %s: %s", got.Action, got.After)
	}

	// Bad bodies change nothing and say why.
	for _, body := range []string{`{"passphrase":"short"}`, `{"passphrase":1}`, `{"other":"x"}`, `[]`} {
		r := e.do("POST", "/api/system/backup", sudo, body)
		e.expect(r, 422, "body "+body)
	}
}

// TestScheduledBackupsFromTheAPI: list, run now, download by name; names
// that are not a scheduled backup's are refused before any file is
// opened, whatever they try to reach.
func TestScheduledBackupsFromTheAPI(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	for i := range 5 {
		e.createUser(e.alice, fmt.Sprintf("sch_%d", i))
	}
	var list backupList
	e.do("GET", "/api/system/backups", sudo, nil).decode(t, &list)
	if !list.Enabled || len(list.Backups) != 0 || list.Status == nil || list.Status.Keep != 3 || list.Restore.Engine != "sqlite" ||
		!strings.Contains(list.Restore.Command, "panel restore --from FILE --data-dir ") {
		t.Fatalf("empty list %+v", list)
	}
	var names []string
	for range 4 {
		r := e.do("POST", "/api/system/backups/run", sudo, nil)
		e.expect(r, 200, "run")
		var run struct {
			Backup backup.ScheduledFile `json:"backup"`
		}
		r.decode(t, &run)
		names = append(names, run.Backup.Name)
		// Names have one-second resolution: a second run in the same
		// second is refused, not allowed to replace the first.
		e.expect(e.do("POST", "/api/system/backups/run", sudo, nil), 409, "same second")
		e.clock.Advance(time.Minute)
	}
	sudo = e.token(e.sudo)
	e.do("GET", "/api/system/backups", sudo, nil).decode(t, &list)
	if len(list.Backups) != 3 || list.Backups[0].Name != names[3] || list.Backups[2].Name != names[1] {
		t.Fatalf("after 4 runs with keep 3: %+v (taken %v)", list.Backups, names)
	}
	if list.Status.LastFile != names[3] || list.Status.LastError != "" || list.Backups[0].Size < 100 || list.Backups[0].Encrypted {
		t.Fatalf("status %+v, newest %+v", list.Status, list.Backups[0])
	}

	r := e.do("GET", "/api/system/backups/"+names[3], sudo, nil)
	e.expect(r, 200, "download")
	if r.header.Get("Content-Type") != "application/octet-stream" || int64(len(r.body)) != list.Backups[0].Size {
		t.Fatalf("download: %s, %d bytes, listed %d", r.header.Get("Content-Type"), len(r.body), list.Backups[0].Size)
	}
	file := filepath.Join(t.TempDir(), names[3])
	if err := os.WriteFile(file, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := restoredUsers(t, file, ""); err != nil || n != 5 {
		t.Fatalf("restored %d users (%v)", n, err)
	}

	// A file beside the backups that is no backup, and the database one
	// directory up, are out of reach.
	status, err := e.opts.Backups.Status()
	if err != nil {
		t.Fatal(err)
	}
	dir := status.Dir
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"notes.txt", "..%2Foutpost.db", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "outpost-20261126T010203Z.backup%2F..%2F..%2Foutpost.db",
		"..%5Coutpost.db", "outpost-20261126T010203Z.backup.tmp", ".outpost-20261126T010203Z.backup.1.tmp",
		"outpost-2026112T010203Z.backup", "OUTPOST-20261126T010203Z.BACKUP", "outpost-20261126T010203Z.backup%00",
	} {
		r := e.do("GET", "/api/system/backups/"+name, sudo, nil)
		if r.status != 400 && r.status != 404 {
			t.Fatalf("%s: status %d", name, r.status)
		}
		if r.detail() == "" || bytes.Contains(r.body, []byte("private")) || bytes.Contains(r.body, []byte("SQLite")) {
			t.Fatalf("%s: %s", name, r.body)
		}
	}
	e.expect(e.do("GET", "/api/system/backups/notes.txt", sudo, nil), 400, "a file that is no backup")
	e.expect(e.do("GET", "/api/system/backups/outpost-20200101T000000Z.backup", sudo, nil), 404, "a backup that is not there")
}

// TestBackupsOff: without --backup-dir the list says so, running one is a
// 409, and a download by name a 404; the streamed download still works.
func TestBackupsOff(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Backups = nil })
	sudo := e.token(e.sudo)
	r := e.do("GET", "/api/system/backups", sudo, nil)
	e.expect(r, 200, "list")
	var list map[string]json.RawMessage
	r.decode(t, &list)
	if string(list["enabled"]) != "false" || string(list["backups"]) != "[]" || string(list["status"]) != "null" {
		t.Fatalf("list %s", r.body)
	}
	e.expect(e.do("POST", "/api/system/backups/run", sudo, nil), 409, "run")
	e.expect(e.do("GET", "/api/system/backups/outpost-20200101T000000Z.backup", sudo, nil), 404, "download")
	if r := e.do("POST", "/api/system/backup", sudo, nil); r.status != 200 || !bytes.HasPrefix(r.body, []byte("OUTPOST-BACKUP/1z")) {
		t.Fatalf("download: %d", r.status)
	}
}
