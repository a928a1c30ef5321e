package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

func openTestBolt(t *testing.T, dir string) *Bolt {
	t.Helper()
	b, err := OpenBolt(dir)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// rawUpdate edits a closed state file behind the store's back.
func rawUpdate(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestBoltReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	b := openTestBolt(t, dir)
	users := testUsers(5)
	hash := mustSnapshot(t, b, 3, testConfig, users)
	hash.RemoveUser(users[4])
	if err := b.ApplyDelta(4, hash, nil, nil, []string{users[4].Email}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetNodeID(12); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i := range 3 {
		if _, err := b.AppendUsage(at, map[string]Traffic{users[i].Email: {Up: int64(i + 1), Down: 10}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.TrimUsage(1); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{users[0].Email, users[1].Email} {
		if err := b.MarkEnforced(protocol.EnforcedUser{Email: email, Reason: "limited", At: 77}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.MarkReported([]string{users[0].Email}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTestBolt(t, dir)
	checkDesired(t, mustLoad(t, b), 4, testConfig, users[:4])
	if id, _ := b.NodeID(); id != 12 {
		t.Errorf("NodeID after reopen = %d, want 12", id)
	}
	pending, err := b.PendingUsage(0, 0)
	if err != nil || len(pending) != 2 || pending[0].Seq != 2 || pending[1].Seq != 3 || !pending[0].At.Equal(at) {
		t.Errorf("pending after reopen = %+v, %v; want seqs 2 and 3 at %v", pending, err, at)
	}
	for i, want := range []int64{11, 12, 13, 0} {
		if got, _ := b.LocalUsed(users[i].Email); got != want {
			t.Errorf("LocalUsed(%s) after reopen = %d, want %d", users[i].Email, got, want)
		}
	}
	if got, _ := b.LocalUsed(users[4].Email); got != 0 {
		t.Errorf("removed user has a counter after reopen: %d", got)
	}
	enforced, _ := b.Enforced()
	unreported, _ := b.Unreported()
	if len(enforced) != 2 || len(unreported) != 1 || unreported[0].Email != users[1].Email || enforced[0].At != 77 {
		t.Errorf("after reopen: enforced %+v, unreported %+v", enforced, unreported)
	}
}

func TestBoltSeqContinuesAfterTrimAndReopen(t *testing.T) {
	dir := t.TempDir()
	b := openTestBolt(t, dir)
	var last int64
	for range 3 {
		var err error
		if last, err = b.AppendUsage(time.Now(), map[string]Traffic{"1.a": {Up: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.TrimUsage(last); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = openTestBolt(t, dir)
	seq, err := b.AppendUsage(time.Now(), map[string]Traffic{"1.a": {Up: 1}})
	if err != nil || seq != last+1 {
		t.Errorf("first seq after trimming everything and reopening = %d, %v; want %d", seq, err, last+1)
	}
}

// TestBoltInterruptedSnapshot fails a snapshot's transaction after half its
// users were written: the previous last-known-good state, counters and
// enforcement must all survive, on disk and in the cache.
func TestBoltInterruptedSnapshot(t *testing.T) {
	dir := t.TempDir()
	b := openTestBolt(t, dir)
	users := testUsers(10)
	mustSnapshot(t, b, 1, testConfig, users)
	if _, err := b.AppendUsage(time.Now(), map[string]Traffic{users[0].Email: {Up: 9}}); err != nil {
		t.Fatal(err)
	}
	if err := b.MarkEnforced(protocol.EnforcedUser{Email: users[1].Email, Reason: "expired", At: 5}); err != nil {
		t.Fatal(err)
	}

	diskFull := errors.New("no space left on device")
	b.snapshotHook = func(i int) error {
		if i == 500 {
			return diskFull
		}
		return nil
	}
	next := testUsers(1000)[5:]
	err := b.SaveSnapshot(2, protocol.ComputeStateHash(nil, next), nil, next)
	if !errors.Is(err, diskFull) {
		t.Fatalf("SaveSnapshot = %v; want the injected failure", err)
	}
	b.snapshotHook = nil

	check := func(s Store) {
		t.Helper()
		checkDesired(t, mustLoad(t, s), 1, testConfig, users)
		if used, _ := s.LocalUsed(users[0].Email); used != 9 {
			t.Errorf("LocalUsed = %d, want 9", used)
		}
		if used, _ := s.LocalUsed(next[len(next)-1].Email); used != 0 {
			t.Errorf("a user of the failed snapshot has a counter: %d", used)
		}
		if e, _ := s.Enforced(); len(e) != 1 || e[0].Email != users[1].Email {
			t.Errorf("Enforced = %+v, want %s", e, users[1].Email)
		}
	}
	check(b)
	if _, err := b.AppendUsage(time.Now(), map[string]Traffic{next[len(next)-1].Email: {Up: 1}}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	check(openTestBolt(t, dir))
}

func TestBoltRefusesFiles(t *testing.T) {
	setVersion := func(v []byte) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			if v == nil {
				return tx.Bucket(bucketMeta).Delete(keySchema)
			}
			return tx.Bucket(bucketMeta).Put(keySchema, v)
		}
	}
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    error
		message string
	}{
		{
			name:    "future schema version",
			prepare: func(t *testing.T, dir string) { rawUpdate(t, dir, setVersion(seqKey(schemaVersion+1))) },
			want:    ErrSchemaTooNew,
			message: "upgrade the agent",
		},
		{
			name:    "schema version zero",
			prepare: func(t *testing.T, dir string) { rawUpdate(t, dir, setVersion(seqKey(0))) },
			want:    ErrCorrupt,
		},
		{
			name:    "schema version missing",
			prepare: func(t *testing.T, dir string) { rawUpdate(t, dir, setVersion(nil)) },
			want:    ErrCorrupt,
		},
		{
			name: "bucket missing",
			prepare: func(t *testing.T, dir string) {
				rawUpdate(t, dir, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketJournal) })
			},
			want: ErrCorrupt,
		},
		{
			name: "another program's bolt file",
			prepare: func(t *testing.T, dir string) {
				os.Remove(filepath.Join(dir, FileName))
				rawUpdate(t, dir, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("sessions")); return err })
			},
			want: ErrCorrupt,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			b := openTestBolt(t, dir)
			mustSnapshot(t, b, 1, testConfig, testUsers(2))
			b.Close()
			c.prepare(t, dir)
			before, err := os.ReadFile(filepath.Join(dir, FileName))
			if err != nil {
				t.Fatal(err)
			}

			_, err = OpenBolt(dir)
			if !errors.Is(err, c.want) {
				t.Fatalf("OpenBolt = %v; want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.message) {
				t.Errorf("error %q does not say %q", err, c.message)
			}
			// A refused file is left exactly as it was: it may belong to a
			// newer agent that will be reinstalled.
			if after, _ := os.ReadFile(filepath.Join(dir, FileName)); string(after) != string(before) {
				t.Error("refusing the file changed it")
			}
		})
	}
	t.Run("not a bolt file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenBolt(dir); err == nil {
			t.Fatal("OpenBolt of a garbage file succeeded")
		}
	})
}

func TestBoltCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	b := openTestBolt(t, dir)
	users := testUsers(3)
	mustSnapshot(t, b, 1, testConfig, users)
	b.Close()
	rawUpdate(t, dir, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).Put([]byte(users[1].Email), []byte{userFormat, 0x80})
	})
	b = openTestBolt(t, dir)
	_, _, err := b.LoadDesired()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), users[1].Email) {
		t.Errorf("LoadDesired of a corrupt record = %v; want ErrCorrupt naming %s", err, users[1].Email)
	}
}

func TestBoltLocked(t *testing.T) {
	dir := t.TempDir()
	openTestBolt(t, dir)
	_, err := openBolt(dir, 10*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second open = %v; want ErrLocked", err)
	}
}

func TestBoltFileModesAndSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	b := openTestBolt(t, dir)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %v, want %v", path, got, want)
		}
	}
	if b.db.NoSync {
		t.Error("NoSync is on: commits would not be durable")
	}
	if _, err := OpenBolt(""); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenBolt(\"\") = %v; want ErrInvalid", err)
	}
}
