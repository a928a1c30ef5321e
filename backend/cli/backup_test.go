package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/state"
)

// TestBackupRestoreCommands runs panel backup and panel restore as an
// operator would: the passphrase from the environment, a check, a restore
// into an empty data dir that keeps the secrets, a refused restore over a
// non-empty one and a wrong passphrase.
func TestBackupRestoreCommands(t *testing.T) {
	p := newPanelDir(t)
	p.run("", nil, "admin", "create", "boss", "--sudo", "--password", "boss-password-1").must(t, ExitOK, "admin create")
	file := filepath.Join(t.TempDir(), "panel.backup")
	env := map[string]string{"PANEL_BACKUP_PASSPHRASE": "from the environment"}

	r := p.run("", env, "backup").must(t, ExitUsage, "backup without --to")
	if !strings.Contains(r.stderr, "--to FILE is required") {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = p.run("", env, "backup", "--to", file).must(t, ExitOK, "backup")
	if !strings.Contains(r.stdout, "encrypted") || !strings.Contains(r.stdout, "1 admins") {
		t.Errorf("backup said: %s", r.stdout)
	}
	r = p.run("", env, "restore", "--from", file, "--check").must(t, ExitOK, "restore --check")
	if !strings.Contains(r.stdout, "checked") {
		t.Errorf("check said: %s", r.stdout)
	}

	// Into an empty data dir: the same secrets and admins come back.
	q := &panelDir{t: t, dir: t.TempDir()}
	q.run("", env, "restore", "--from", file).must(t, ExitOK, "restore")
	q.withState(func(st *state.State) {
		sec, err := st.LoadSecrets(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sec.Subscription != p.secrets.Subscription || string(sec.JWT) != string(p.secrets.JWT) {
			t.Errorf("the restored panel has other secrets")
		}
		if _, err := st.CheckPassword(context.Background(), "boss", "boss-password-1"); err != nil {
			t.Errorf("the restored admin cannot sign in: %v", err)
		}
	})

	// Over a panel: refused, and the message says how to go on.
	r = p.run("", env, "restore", "--from", file).must(t, ExitError, "restore over a panel")
	if !strings.Contains(r.stderr, "not empty") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = q.run("", map[string]string{"PANEL_BACKUP_PASSPHRASE": "wrong"}, "restore", "--from", file, "--force").must(t, ExitError, "wrong passphrase")
	if !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("stderr: %s", r.stderr)
	}
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("from the environment\n"), 0o600)
	q.run("", nil, "restore", "--from", file, "--force", "--passphrase-file", pf, "--json").must(t, ExitOK, "restore --force")
	r = q.run("", nil, "restore", "--from", file, "--force").must(t, ExitError, "no passphrase")
	if !strings.Contains(r.stderr, "encrypted") {
		t.Errorf("stderr: %s", r.stderr)
	}
}
