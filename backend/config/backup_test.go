package config

import (
	"strings"
	"testing"
	"time"
)

// Scheduled backups: defaults, the variables, and the combinations that
// cannot work reported at start.
func TestBackupSettings(t *testing.T) {
	c, err := parseWith(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.BackupDir != "" || c.BackupEvery != 24*time.Hour || c.BackupKeep != 7 || c.BackupTelegram {
		t.Fatalf("defaults: %q %s %d %v", c.BackupDir, c.BackupEvery, c.BackupKeep, c.BackupTelegram)
	}
	c, err = parseWith(t, nil, map[string]string{
		"PANEL_BACKUP_DIR": "/var/backups/outpost", "PANEL_BACKUP_EVERY": "6h", "PANEL_BACKUP_KEEP": "28",
		"PANEL_BACKUP_PASSPHRASE": "p", "PANEL_BACKUP_TELEGRAM": "true", "TELEGRAM_API_TOKEN": "123:abc",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.BackupDir != "/var/backups/outpost" || c.BackupEvery != 6*time.Hour || c.BackupKeep != 28 || c.BackupPassphrase != "p" || !c.BackupTelegram {
		t.Fatalf("from the environment: %+v", c)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PANEL_BACKUP_DIR": "/b", "PANEL_BACKUP_EVERY": "10s"}, "must be at least 1m"},
		{map[string]string{"PANEL_BACKUP_KEEP": "0"}, "PANEL_BACKUP_KEEP"},
		{map[string]string{"PANEL_BACKUP_TELEGRAM": "1", "PANEL_BACKUP_DIR": "/b", "PANEL_BACKUP_PASSPHRASE": "p"}, "needs TELEGRAM_API_TOKEN"},
		{map[string]string{"PANEL_BACKUP_TELEGRAM": "1", "PANEL_BACKUP_DIR": "/b", "TELEGRAM_API_TOKEN": "1:a"}, "encrypted only"},
		{map[string]string{"PANEL_BACKUP_TELEGRAM": "1", "TELEGRAM_API_TOKEN": "1:a", "PANEL_BACKUP_PASSPHRASE": "p"}, "needs PANEL_BACKUP_DIR"},
	} {
		_, err := parseWith(t, nil, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.env, err, tc.want)
		}
	}
}
