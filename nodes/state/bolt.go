package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// FileName is the state file inside the agent's state directory.
const FileName = "state.db"

// schemaVersion is the layout of the state file this agent writes. Bump it
// when the layout changes, add the step from the previous version to
// migrations, and add a fixture of the previous version to testdata (see
// TestOpenSchemaV1Fixture).
//
//	1 (2026-11-26): buckets meta, users, used, journal, enforced.
const schemaVersion = 1

// migrations[v] upgrades an open file from schema v to v+1, inside the one
// transaction that also records the new version, so an interrupted upgrade
// leaves the old file untouched.
var migrations = map[int64]func(tx *bolt.Tx) error{}

var (
	bucketMeta     = []byte("meta")
	bucketUsers    = []byte("users")    // email -> encodeUser
	bucketUsed     = []byte("used")     // email -> bytes since the last upsert, absent = 0
	bucketJournal  = []byte("journal")  // seqKey -> encodeJournalEntry
	bucketEnforced = []byte("enforced") // email -> encodeEnforced

	allBuckets = [][]byte{bucketMeta, bucketUsers, bucketUsed, bucketJournal, bucketEnforced}

	keySchema    = []byte("schema_version")
	keyNodeID    = []byte("node_id")
	keyRevision  = []byte("revision") // present once a snapshot was saved
	keyHash      = []byte("hash")
	keyConfig    = []byte("config")
	keyLastSeq   = []byte("last_seq")
	keyUserCount = []byte("user_count") // only a capacity hint for LoadDesired
)

// Bolt is the Store on disk, in one bbolt file. Every commit is fsynced.
type Bolt struct {
	db *bolt.DB

	// writeMu orders write transactions together with the cache updates that
	// follow their commits, so the cache always equals the last commit.
	// Lock order: writeMu before mu; mu is a leaf. Callers (the agent) may
	// hold their own lock while calling in; nothing here calls out.
	writeMu sync.Mutex

	mu     sync.RWMutex
	closed bool
	// used caches the "used" bucket for every user in the desired state
	// (absent = not in the desired state), so LocalUsed is a map lookup and
	// AppendUsage needs no reads. Written only under writeMu and mu, after
	// the commit succeeded.
	used map[string]int64

	// snapshotHook lets tests fail SaveSnapshot halfway through its
	// transaction, as a full disk would.
	snapshotHook func(i int) error
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if needed) dir/state.db. The directory is created
// 0700: the file holds every user's credentials.
func OpenBolt(dir string) (*Bolt, error) {
	return openBolt(dir, time.Second)
}

func openBolt(dir string, lockTimeout time.Duration) (*Bolt, error) {
	if dir == "" {
		return nil, fmt.Errorf("opening node state: empty directory: %w", ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating node state dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		FreelistType: bolt.FreelistMapType,
		// NoSync stays false: a commit returns only once it is on disk,
		// which is what makes the usage journal a journal.
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	b := &Bolt{db: db}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := db.View(b.loadUsed); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return b, nil
}

// migrate initialises a new file or brings an old one to schemaVersion.
func migrate(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		var other []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			other = append(other, string(name))
			return nil
		})
		if len(other) > 0 {
			return fmt.Errorf("no meta bucket but buckets %s: not a node state file: %w", strings.Join(other, ", "), ErrCorrupt)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, seqKey(schemaVersion))
	}
	raw := meta.Get(keySchema)
	if len(raw) != 8 {
		return fmt.Errorf("schema version missing: %w", ErrCorrupt)
	}
	version := keySeq(raw)
	switch {
	case version > schemaVersion:
		return fmt.Errorf("schema version %d, this agent reads up to %d; upgrade the agent or empty its state dir: %w",
			version, schemaVersion, ErrSchemaTooNew)
	case version < 1:
		return fmt.Errorf("schema version %d: %w", version, ErrCorrupt)
	}
	for ; version < schemaVersion; version++ {
		step, ok := migrations[version]
		if !ok {
			return fmt.Errorf("no migration from schema version %d", version)
		}
		if err := step(tx); err != nil {
			return fmt.Errorf("migrating schema %d to %d: %w", version, version+1, err)
		}
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %s missing: %w", name, ErrCorrupt)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, seqKey(schemaVersion))
}

func (b *Bolt) loadUsed(tx *bolt.Tx) error {
	users := tx.Bucket(bucketUsers)
	used := make(map[string]int64, getInt(tx.Bucket(bucketMeta), keyUserCount))
	if err := users.ForEach(func(k, _ []byte) error {
		used[string(k)] = 0
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bucketUsed).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("usage counter of %q: %w", k, ErrCorrupt)
		}
		if _, ok := used[string(k)]; ok {
			used[string(k)] = keySeq(v)
		}
		return nil
	}); err != nil {
		return err
	}
	b.used = used
	return nil
}

func getInt(bucket *bolt.Bucket, key []byte) int64 {
	if v := bucket.Get(key); len(v) == 8 {
		return keySeq(v)
	}
	return 0
}

func (b *Bolt) view(fn func(tx *bolt.Tx) error) error {
	err := b.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// update runs one write transaction and, only once it committed, applies
// the cache changes it returned.
func (b *Bolt) update(fn func(tx *bolt.Tx) (func(used map[string]int64), error)) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	var after func(map[string]int64)
	err := b.db.Update(func(tx *bolt.Tx) error {
		var err error
		after, err = fn(tx)
		return err
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil || after == nil {
		return err
	}
	b.mu.Lock()
	after(b.used)
	b.mu.Unlock()
	return nil
}

// LoadDesired implements Store.
func (b *Bolt) LoadDesired() (Desired, bool, error) {
	var d Desired
	var found bool
	err := b.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyRevision) == nil {
			return nil
		}
		found = true
		d.Revision = getInt(meta, keyRevision)
		if copy(d.Hash[:], meta.Get(keyHash)) != len(d.Hash) {
			return fmt.Errorf("state hash: %w", ErrCorrupt)
		}
		d.Config = bytes.Clone(meta.Get(keyConfig))
		d.Users = make(map[string]protocol.User, getInt(meta, keyUserCount))
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			u, err := decodeUser(string(k), v)
			if err != nil {
				return err
			}
			d.Users[u.Email] = u
			return nil
		})
	})
	if err != nil {
		return Desired{}, false, fmt.Errorf("loading desired state: %w", err)
	}
	return d, found, nil
}

type encodedUser struct {
	email string
	rec   []byte
}

// SaveSnapshot implements Store.
func (b *Bolt) SaveSnapshot(rev int64, hash protocol.StateHash, config []byte, users []protocol.User) error {
	if err := checkSnapshotUsers(users); err != nil {
		return fmt.Errorf("saving snapshot at revision %d: %w", rev, err)
	}
	// Encode before the transaction (it holds the writer lock) and sort:
	// bbolt fills pages best and fastest with keys in order.
	encoded := make([]encodedUser, len(users))
	var buf []byte
	for i, u := range users {
		start := len(buf)
		buf = encodeUser(buf, u)
		encoded[i] = encodedUser{email: u.Email, rec: buf[start:len(buf):len(buf)]}
	}
	slices.SortFunc(encoded, func(a, b encodedUser) int { return strings.Compare(a.email, b.email) })
	lookup := func(email string) []byte {
		i, ok := slices.BinarySearchFunc(encoded, email, func(e encodedUser, t string) int { return strings.Compare(e.email, t) })
		if !ok {
			return nil
		}
		return encoded[i].rec
	}

	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		// Enforcement survives only for users the panel said nothing new
		// about; compare against the old records before they are dropped.
		enforced := tx.Bucket(bucketEnforced)
		oldUsers := tx.Bucket(bucketUsers)
		var unenforce [][]byte
		if err := enforced.ForEach(func(k, _ []byte) error {
			if next := lookup(string(k)); next == nil || !bytes.Equal(next, oldUsers.Get(k)) {
				unenforce = append(unenforce, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return nil, err
		}
		for _, k := range unenforce {
			if err := enforced.Delete(k); err != nil {
				return nil, err
			}
		}

		for _, name := range [][]byte{bucketUsers, bucketUsed} {
			if err := tx.DeleteBucket(name); err != nil {
				return nil, fmt.Errorf("dropping bucket %s: %w", name, err)
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return nil, fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		usersBucket := tx.Bucket(bucketUsers)
		usersBucket.FillPercent = 1 // keys arrive sorted: pack pages full
		for i, e := range encoded {
			if b.snapshotHook != nil {
				if err := b.snapshotHook(i); err != nil {
					return nil, err
				}
			}
			if err := usersBucket.Put([]byte(e.email), e.rec); err != nil {
				return nil, fmt.Errorf("writing user %q: %w", e.email, err)
			}
		}
		if err := putDesiredMeta(tx.Bucket(bucketMeta), rev, hash, snapshotConfig(config), int64(len(encoded))); err != nil {
			return nil, err
		}
		return func(used map[string]int64) {
			clear(used)
			for _, e := range encoded {
				used[e.email] = 0
			}
		}, nil
	})
	if err != nil {
		return fmt.Errorf("saving snapshot at revision %d: %w", rev, err)
	}
	return nil
}

// putDesiredMeta writes the desired state's scalars; config nil keeps the
// stored config.
func putDesiredMeta(meta *bolt.Bucket, rev int64, hash protocol.StateHash, config []byte, userCount int64) error {
	puts := [][2][]byte{
		{keyRevision, seqKey(rev)},
		{keyHash, hash[:]},
		{keyUserCount, seqKey(userCount)},
	}
	if config != nil {
		puts = append(puts, [2][]byte{keyConfig, config})
	}
	for _, kv := range puts {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return fmt.Errorf("writing %s: %w", kv[0], err)
		}
	}
	return nil
}

// ApplyDelta implements Store.
func (b *Bolt) ApplyDelta(rev int64, hash protocol.StateHash, config []byte, upserts []protocol.User, removes []string) error {
	if err := checkDelta(upserts, removes); err != nil {
		return fmt.Errorf("applying delta to revision %d: %w", rev, err)
	}
	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyRevision) == nil {
			return nil, ErrNoBase
		}
		if cur := getInt(meta, keyRevision); rev <= cur {
			return nil, fmt.Errorf("stored revision is %d: %w", cur, ErrStaleRevision)
		}
		users, used, enforced := tx.Bucket(bucketUsers), tx.Bucket(bucketUsed), tx.Bucket(bucketEnforced)
		count := getInt(meta, keyUserCount)
		resetLocal := func(email []byte) error { // counters and enforcement start over
			if err := used.Delete(email); err != nil {
				return err
			}
			return enforced.Delete(email)
		}
		for _, email := range removes {
			k := []byte(email)
			if users.Get(k) != nil {
				count--
			}
			if err := users.Delete(k); err != nil {
				return nil, fmt.Errorf("removing user %q: %w", email, err)
			}
			if err := resetLocal(k); err != nil {
				return nil, fmt.Errorf("removing user %q: %w", email, err)
			}
		}
		for _, u := range upserts {
			k := []byte(u.Email)
			if users.Get(k) == nil {
				count++
			}
			// A fresh buffer per Put: bbolt keeps the slice until commit.
			if err := users.Put(k, encodeUser(nil, u)); err != nil {
				return nil, fmt.Errorf("writing user %q: %w", u.Email, err)
			}
			if err := resetLocal(k); err != nil {
				return nil, fmt.Errorf("writing user %q: %w", u.Email, err)
			}
		}
		if err := putDesiredMeta(meta, rev, hash, config, count); err != nil {
			return nil, err
		}
		return func(used map[string]int64) {
			for _, email := range removes {
				delete(used, email)
			}
			for _, u := range upserts {
				used[u.Email] = 0
			}
		}, nil
	})
	if err != nil {
		return fmt.Errorf("applying delta to revision %d: %w", rev, err)
	}
	return nil
}

// NodeID implements Store.
func (b *Bolt) NodeID() (int64, error) {
	var id int64
	err := b.view(func(tx *bolt.Tx) error {
		id = getInt(tx.Bucket(bucketMeta), keyNodeID)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading node id: %w", err)
	}
	return id, nil
}

// SetNodeID implements Store.
func (b *Bolt) SetNodeID(id int64) error {
	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		return nil, tx.Bucket(bucketMeta).Put(keyNodeID, seqKey(id))
	})
	if err != nil {
		return fmt.Errorf("saving node id %d: %w", id, err)
	}
	return nil
}

// AppendUsage implements Store.
func (b *Bolt) AppendUsage(at time.Time, traffic map[string]Traffic) (int64, error) {
	if err := checkTraffic(traffic); err != nil {
		return 0, fmt.Errorf("journaling usage: %w", err)
	}
	rec := encodeJournalEntry(nil, at, traffic)
	var seq int64
	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		meta := tx.Bucket(bucketMeta)
		seq = getInt(meta, keyLastSeq) + 1
		if err := tx.Bucket(bucketJournal).Put(seqKey(seq), rec); err != nil {
			return nil, err
		}
		if err := meta.Put(keyLastSeq, seqKey(seq)); err != nil {
			return nil, err
		}
		// Reading b.used without mu is safe here: only writers change it,
		// and update holds writeMu.
		counters := tx.Bucket(bucketUsed)
		changed := make(map[string]int64, len(traffic))
		for email, t := range traffic {
			// A device identity counts for its user; two identities of one
			// user in one reading add up.
			owner := counterOwner(email, b.used)
			cur, present := changed[owner]
			if !present {
				cur, present = b.used[owner]
			}
			if !present {
				continue // not in the desired state: journaled, nothing to enforce
			}
			next := addSaturating(cur, trafficBytes(t))
			if next == cur {
				continue
			}
			if err := counters.Put([]byte(owner), seqKey(next)); err != nil {
				return nil, err
			}
			changed[owner] = next
		}
		return func(used map[string]int64) {
			for email, n := range changed {
				used[email] = n
			}
		}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("journaling usage: %w", err)
	}
	return seq, nil
}

// PendingUsage implements Store.
func (b *Bolt) PendingUsage(afterSeq int64, limit int) ([]JournalEntry, error) {
	afterSeq = max(afterSeq, 0) // negative keys would sort after every seq
	var out []JournalEntry
	err := b.view(func(tx *bolt.Tx) error {
		if afterSeq == 1<<63-1 {
			return nil
		}
		c := tx.Bucket(bucketJournal).Cursor()
		for k, v := c.Seek(seqKey(afterSeq + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			e, err := decodeJournalEntry(keySeq(k), v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading usage journal after %d: %w", afterSeq, err)
	}
	return out, nil
}

// TrimUsage implements Store.
func (b *Bolt) TrimUsage(uptoSeq int64) error {
	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		c := tx.Bucket(bucketJournal).Cursor()
		// Re-seek after every delete: bbolt cursors may skip a key after Delete.
		for k, _ := c.First(); k != nil && keySeq(k) <= uptoSeq; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return nil, err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if uptoSeq > getInt(meta, keyLastSeq) {
			return nil, meta.Put(keyLastSeq, seqKey(uptoSeq))
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("trimming usage journal up to %d: %w", uptoSeq, err)
	}
	return nil
}

// JournalBacklog implements Store. Seqs are appended consecutively and only
// a prefix is ever trimmed, so the first and last keys give the count.
func (b *Bolt) JournalBacklog() (int, error) {
	var n int
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketJournal).Cursor()
		first, _ := c.First()
		if first == nil {
			return nil
		}
		last, _ := c.Last()
		n = int(keySeq(last) - keySeq(first) + 1)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("counting usage journal: %w", err)
	}
	return n, nil
}

// LastSeq implements Store.
func (b *Bolt) LastSeq() (int64, error) {
	var seq int64
	err := b.view(func(tx *bolt.Tx) error {
		seq = getInt(tx.Bucket(bucketMeta), keyLastSeq)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading last usage seq: %w", err)
	}
	return seq, nil
}

// LocalUsed implements Store.
func (b *Bolt) LocalUsed(email string) (int64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return 0, ErrClosed
	}
	return b.used[email], nil
}

// MarkEnforced implements Store.
func (b *Bolt) MarkEnforced(u protocol.EnforcedUser) error {
	if err := checkEnforced(u); err != nil {
		return err
	}
	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		k := []byte(u.Email)
		if tx.Bucket(bucketUsers).Get(k) == nil {
			return nil, ErrUnknownUser
		}
		enforced := tx.Bucket(bucketEnforced)
		if enforced.Get(k) != nil {
			return nil, nil
		}
		return nil, enforced.Put(k, encodeEnforced(nil, enforcedRecord{EnforcedUser: u}))
	})
	if err != nil {
		return fmt.Errorf("recording enforcement of %q: %w", u.Email, err)
	}
	return nil
}

func (b *Bolt) listEnforced(keep func(enforcedRecord) bool) ([]protocol.EnforcedUser, error) {
	var out []protocol.EnforcedUser
	err := b.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEnforced).ForEach(func(k, v []byte) error {
			e, err := decodeEnforced(string(k), v)
			if err != nil {
				return err
			}
			if keep(e) {
				out = append(out, e.EnforcedUser)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing enforced users: %w", err)
	}
	return out, nil
}

// Enforced implements Store.
func (b *Bolt) Enforced() ([]protocol.EnforcedUser, error) {
	return b.listEnforced(func(enforcedRecord) bool { return true })
}

// Unreported implements Store.
func (b *Bolt) Unreported() ([]protocol.EnforcedUser, error) {
	return b.listEnforced(func(e enforcedRecord) bool { return !e.Reported })
}

// ClearEnforced implements Store.
func (b *Bolt) ClearEnforced(emails []string) error {
	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		enforced := tx.Bucket(bucketEnforced)
		for _, email := range emails {
			if email == "" {
				continue // bbolt refuses empty keys; nothing can be stored under one
			}
			if err := enforced.Delete([]byte(email)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("clearing enforcement of %d users: %w", len(emails), err)
	}
	return nil
}

// MarkReported implements Store.
func (b *Bolt) MarkReported(emails []string) error {
	err := b.update(func(tx *bolt.Tx) (func(map[string]int64), error) {
		enforced := tx.Bucket(bucketEnforced)
		for _, email := range emails {
			if email == "" {
				continue
			}
			k := []byte(email)
			v := enforced.Get(k)
			if v == nil {
				continue
			}
			e, err := decodeEnforced(email, v)
			if err != nil {
				return nil, err
			}
			if e.Reported {
				continue
			}
			e.Reported = true
			if err := enforced.Put(k, encodeEnforced(nil, e)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("marking %d enforced users reported: %w", len(emails), err)
	}
	return nil
}

// Close implements Store.
func (b *Bolt) Close() error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("closing node state: %w", err)
	}
	return nil
}
