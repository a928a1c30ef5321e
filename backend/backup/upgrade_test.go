package backup_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/state"
)

// TestRestoreOlderSchema restores a backup taken at schema version 8 (the
// one before core_config_history): it is migrated forward and the panel
// opens on it at this binary's version, with its users.
func TestRestoreOlderSchema(t *testing.T) {
	ctx := context.Background()
	from := newTarget(t, "sqlite")
	seed(t, from, 200)
	st := from.open(t)
	file := filepath.Join(t.TempDir(), "new.backup")
	if _, err := backup.WriteFile(ctx, st, file, backup.Options{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	old := filepath.Join(t.TempDir(), "v8.backup")
	downgrade(t, file, old, 8, "core_config_history", "admin_totp", "admin_recovery_codes", "api_keys", "admin_sessions", "audit_log", "user_devices", "alerts", "user_ips")

	for _, dst := range []string{"sqlite", "postgres"} {
		t.Run(dst, func(t *testing.T) {
			to := newTarget(t, dst)
			m, err := backup.Restore(ctx, old, backup.RestoreOptions{DatabaseURL: to.url, DataDir: to.dir})
			if err != nil {
				t.Fatal(err)
			}
			if m.SchemaVersion != 8 {
				t.Fatalf("the rewritten backup is at schema %d", m.SchemaVersion)
			}
			held, version, err := state.DatabasePopulated(ctx, to.url, to.dir)
			if err != nil {
				t.Fatal(err)
			}
			if version != state.LatestSchemaVersion() || held["users"] != 199 {
				t.Fatalf("restored at schema %d with %d users; want %d and 199", version, held["users"], state.LatestSchemaVersion())
			}
		})
	}
}

// downgrade rewrites a plain backup as an older release would have
// written it: without the named tables and the columns added since, at schema version v, with the
// hashes recomputed.
func downgrade(t *testing.T, src, dst string, v int, drops ...string) {
	dropped := map[string]bool{}
	for _, d := range drops {
		dropped[d] = true
	}
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const head = "OUTPOST-BACKUP/1z"
	if !strings.HasPrefix(string(raw), head) {
		t.Fatal("not a plain backup")
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw[len(head):]))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	total := sha256.New()
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 64<<20)
	skipping := false
	// Columns added to existing tables after schema v go too (0012: the
	// admins' reseller caps, 0010: node_bytes_left, 0014: hwid_device_limit of
	// users and templates, 0015: their ip_limit and the users' ip_limit_until, 0017: their
	// per_device_credentials and the users' per_device and device_ids), and their table's hash is recomputed.
	strip := map[string]bool{"node_bytes_left": true, "max_users": true, "max_data_limit": true, "max_used_traffic": true, "allow_unlimited": true,
		"hwid_device_limit": true, "ip_limit": true, "ip_limit_until": true,
		"per_device_credentials": true, "per_device": true, "device_ids": true}
	var cols []int // indices of stripped columns in the current table
	var th hash.Hash
	rehashed := map[string]string{}
	for sc.Scan() {
		line := sc.Text()
		var probe map[string]json.RawMessage
		if line[0] == '{' {
			json.Unmarshal([]byte(line), &probe)
		}
		if line[0] == '[' && cols != nil {
			var row []json.RawMessage
			json.Unmarshal([]byte(line), &row)
			for i := len(cols) - 1; i >= 0; i-- {
				row = append(row[:cols[i]], row[cols[i]+1:]...)
			}
			b, _ := json.Marshal(row)
			line = string(b)
			th.Write([]byte(line + "\n"))
		}
		if probe["table"] != nil && !skipping {
			var hd map[string]any
			json.Unmarshal([]byte(line), &hd)
			var kept []any
			cols = nil
			for i, c := range hd["columns"].([]any) {
				if strip[c.(map[string]any)["name"].(string)] {
					cols = append(cols, i)
					continue
				}
				kept = append(kept, c)
			}
			if cols != nil {
				hd["columns"] = kept
				b, _ := json.Marshal(hd)
				line = string(b)
				th = sha256.New()
			}
		}
		if probe["end"] != nil && cols != nil {
			var end map[string]any
			json.Unmarshal([]byte(line), &end)
			sum := hex.EncodeToString(th.Sum(nil))
			end["sha256"] = sum
			rehashed[end["end"].(string)] = sum
			b, _ := json.Marshal(end)
			line = string(b)
			cols = nil
		}
		switch {
		case probe["format"] != nil:
			var h map[string]any
			json.Unmarshal([]byte(line), &h)
			h["schema_version"] = v
			b, _ := json.Marshal(h)
			line = string(b)
		case probe["table"] != nil && dropped[jsonString(probe["table"])]:
			skipping = true
			continue
		case probe["end"] != nil && skipping:
			skipping = false
			continue
		case probe["manifest"] != nil:
			var m map[string]any
			json.Unmarshal(probe["manifest"], &m)
			m["schema_version"] = v
			var tables []any
			for _, tb := range m["tables"].([]any) {
				if sum, ok := rehashed[tb.(map[string]any)["name"].(string)]; ok {
					tb.(map[string]any)["sha256"] = sum
				}
				if !dropped[tb.(map[string]any)["name"].(string)] {
					tables = append(tables, tb)
				}
			}
			m["tables"] = tables
			b, _ := json.Marshal(map[string]any{"manifest": m, "sha256": hex.EncodeToString(total.Sum(nil))})
			out.Write(append(b, '\n'))
			continue
		}
		if skipping {
			continue
		}
		total.Write([]byte(line + "\n"))
		out.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var f bytes.Buffer
	f.WriteString(head)
	zw := gzip.NewWriter(&f)
	zw.Write(out.Bytes())
	zw.Close()
	if err := os.WriteFile(dst, f.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func jsonString(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}
