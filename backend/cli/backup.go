package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/outpost-panel/outpost/backend/backup"
)

// backup and restore: the whole panel (database with its secrets, the
// data dir's templates) to one file and back. See backend/backup.

func init() {
	register(command{
		path: "backup", args: "--to FILE", needsStore: true,
		summary: "write a consistent backup of the database and secrets while the panel runs (the dashboard's Backups page and POST /api/system/backup download one too)",
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			to := fs.String("to", "", "file to write (replaced only once the backup is complete)")
			pass := passphraseFlags(fs)
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 0 {
					return usagef("unexpected arguments: %s", strings.Join(pos, " "))
				}
				if *to == "" {
					return usagef("--to FILE is required")
				}
				passphrase, err := pass(e)
				if err != nil {
					return err
				}
				m, err := backup.WriteFile(ctx, e.st, *to, backup.Options{Passphrase: passphrase, DataDir: e.cfg.DataDir})
				if err != nil {
					return err
				}
				return report(e, "wrote", *to, m)
			}
		},
	})
	register(command{
		path: "restore", args: "--from FILE",
		summary: "restore a backup into an empty data dir or database (--force replaces a non-empty one)",
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			from := fs.String("from", "", "backup file to restore")
			force := fs.Bool("force", false, "replace a database that already holds a panel (SQLite's old file is kept as outpost.db.pre-restore-<time>)")
			check := fs.Bool("check", false, "only check the file (hashes, counts, passphrase) and print its manifest")
			pass := passphraseFlags(fs)
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 0 {
					return usagef("unexpected arguments: %s", strings.Join(pos, " "))
				}
				if *from == "" {
					return usagef("--from FILE is required")
				}
				passphrase, err := pass(e)
				if err != nil {
					return err
				}
				if *check {
					m, err := backup.Verify(*from, passphrase)
					if err != nil {
						return err
					}
					return report(e, "checked", *from, m)
				}
				m, err := backup.Restore(ctx, *from, backup.RestoreOptions{
					DatabaseURL: e.cfg.DatabaseURL, DataDir: e.cfg.DataDir, Passphrase: passphrase, Force: *force, Log: e.log,
				})
				if err != nil {
					return err
				}
				if err := report(e, "restored", *from, m); err != nil {
					return err
				}
				if !e.json {
					fmt.Fprintln(e.io.Stdout, "Start the panel on it; nodes reconnect with their old tokens.")
				}
				return nil
			}
		},
	})
}

// passphraseFlags declares --passphrase and --passphrase-file; the
// returned function picks the passphrase: a flag, else
// PANEL_BACKUP_PASSPHRASE (--backup-passphrase), else none.
func passphraseFlags(fs *flag.FlagSet) func(e *env) (string, error) {
	pass := fs.String("passphrase", "", "encrypt (or decrypt) with this passphrase; visible to other local users, prefer --passphrase-file or "+backup.PassphraseEnv)
	file := fs.String("passphrase-file", "", "read the passphrase from the first line of this file")
	return func(e *env) (string, error) {
		switch {
		case *pass != "" && *file != "":
			return "", usagef("--passphrase and --passphrase-file exclude each other")
		case *pass != "":
			return *pass, nil
		case *file != "":
			raw, err := os.ReadFile(*file)
			if err != nil {
				return "", fmt.Errorf("reading the passphrase: %w", err)
			}
			line, _, _ := strings.Cut(string(raw), "\n")
			line = strings.TrimRight(line, "\r")
			if line == "" {
				return "", errors.New("the passphrase file is empty")
			}
			return line, nil
		}
		return e.cfg.BackupPassphrase, nil
	}
}

func report(e *env, verb, path string, m backup.Manifest) error {
	var rows int64
	for _, t := range m.Tables {
		rows += t.Rows
	}
	if e.json {
		return e.printJSON(map[string]any{
			"file": path, "engine": m.Engine, "schema_version": m.SchemaVersion, "created_at": m.CreatedAt,
			"encrypted": m.Encrypted, "tables": m.Tables, "files": m.Files,
		})
	}
	enc := "not encrypted"
	if m.Encrypted {
		enc = "encrypted"
	}
	fmt.Fprintf(e.io.Stdout, "%s %s: %s backup of %s, schema %d, taken %s, %s\n", verb, path, m.Engine, "the panel",
		m.SchemaVersion, m.CreatedAt.Format("2006-01-02 15:04:05 UTC"), enc)
	fmt.Fprintf(e.io.Stdout, "  %d users, %d admins, %d nodes; %d rows in %d tables; %d template files\n",
		m.Rows("users"), m.Rows("admins"), m.Rows("nodes"), rows, len(m.Tables), len(m.Files))
	return nil
}
