package state

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Memory is the Store in memory, for tests of the code built on the store.
// It keeps records in the same encoding as Bolt, so values come back exactly
// as Bolt would return them (no aliasing with the caller, same
// normalisations) and the shared test suite holds both to one behaviour.
type Memory struct {
	mu     sync.RWMutex
	closed bool

	nodeID int64

	hasDesired bool
	revision   int64
	hash       protocol.StateHash
	config     []byte
	users      map[string][]byte // email -> encodeUser
	used       map[string]int64  // every user in the desired state

	journal []memoryEntry // ascending seq, consecutive
	lastSeq int64

	enforced map[string]enforcedRecord
}

type memoryEntry struct {
	seq int64
	rec []byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{
		users:    map[string][]byte{},
		used:     map[string]int64{},
		enforced: map[string]enforcedRecord{},
	}
}

func (m *Memory) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func (m *Memory) rlock() error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// LoadDesired implements Store.
func (m *Memory) LoadDesired() (Desired, bool, error) {
	if err := m.rlock(); err != nil {
		return Desired{}, false, fmt.Errorf("loading desired state: %w", err)
	}
	defer m.mu.RUnlock()
	if !m.hasDesired {
		return Desired{}, false, nil
	}
	d := Desired{
		Revision: m.revision,
		Hash:     m.hash,
		Config:   bytes.Clone(m.config),
		Users:    make(map[string]protocol.User, len(m.users)),
	}
	for email, rec := range m.users {
		u, err := decodeUser(email, rec)
		if err != nil {
			return Desired{}, false, fmt.Errorf("loading desired state: %w", err)
		}
		d.Users[email] = u
	}
	return d, true, nil
}

// SaveSnapshot implements Store.
func (m *Memory) SaveSnapshot(rev int64, hash protocol.StateHash, config []byte, users []protocol.User) error {
	if err := checkSnapshotUsers(users); err != nil {
		return fmt.Errorf("saving snapshot at revision %d: %w", rev, err)
	}
	next := make(map[string][]byte, len(users))
	for _, u := range users {
		next[u.Email] = encodeUser(nil, u)
	}
	if err := m.lock(); err != nil {
		return fmt.Errorf("saving snapshot at revision %d: %w", rev, err)
	}
	defer m.mu.Unlock()
	for email := range m.enforced {
		if rec, ok := next[email]; !ok || !bytes.Equal(rec, m.users[email]) {
			delete(m.enforced, email)
		}
	}
	m.users = next
	m.used = make(map[string]int64, len(next))
	for email := range next {
		m.used[email] = 0
	}
	m.setDesired(rev, hash, snapshotConfig(config))
	return nil
}

func (m *Memory) setDesired(rev int64, hash protocol.StateHash, config []byte) {
	m.hasDesired = true
	m.revision = rev
	m.hash = hash
	if config != nil {
		m.config = bytes.Clone(config)
	}
}

// ApplyDelta implements Store.
func (m *Memory) ApplyDelta(rev int64, hash protocol.StateHash, config []byte, upserts []protocol.User, removes []string) error {
	if err := checkDelta(upserts, removes); err != nil {
		return fmt.Errorf("applying delta to revision %d: %w", rev, err)
	}
	if err := m.lock(); err != nil {
		return fmt.Errorf("applying delta to revision %d: %w", rev, err)
	}
	defer m.mu.Unlock()
	if !m.hasDesired {
		return fmt.Errorf("applying delta to revision %d: %w", rev, ErrNoBase)
	}
	if rev <= m.revision {
		return fmt.Errorf("applying delta to revision %d: stored revision is %d: %w", rev, m.revision, ErrStaleRevision)
	}
	for _, email := range removes {
		delete(m.users, email)
		delete(m.used, email)
		delete(m.enforced, email)
	}
	for _, u := range upserts {
		m.users[u.Email] = encodeUser(nil, u)
		m.used[u.Email] = 0
		delete(m.enforced, u.Email)
	}
	m.setDesired(rev, hash, config)
	return nil
}

// NodeID implements Store.
func (m *Memory) NodeID() (int64, error) {
	if err := m.rlock(); err != nil {
		return 0, fmt.Errorf("reading node id: %w", err)
	}
	defer m.mu.RUnlock()
	return m.nodeID, nil
}

// SetNodeID implements Store.
func (m *Memory) SetNodeID(id int64) error {
	if err := m.lock(); err != nil {
		return fmt.Errorf("saving node id %d: %w", id, err)
	}
	defer m.mu.Unlock()
	m.nodeID = id
	return nil
}

// AppendUsage implements Store.
func (m *Memory) AppendUsage(at time.Time, traffic map[string]Traffic) (int64, error) {
	if err := checkTraffic(traffic); err != nil {
		return 0, fmt.Errorf("journaling usage: %w", err)
	}
	rec := encodeJournalEntry(nil, at, traffic)
	if err := m.lock(); err != nil {
		return 0, fmt.Errorf("journaling usage: %w", err)
	}
	defer m.mu.Unlock()
	m.lastSeq++
	m.journal = append(m.journal, memoryEntry{seq: m.lastSeq, rec: rec})
	for email, t := range traffic {
		owner := counterOwner(email, m.used)
		if cur, present := m.used[owner]; present {
			m.used[owner] = addSaturating(cur, trafficBytes(t))
		}
	}
	return m.lastSeq, nil
}

// PendingUsage implements Store.
func (m *Memory) PendingUsage(afterSeq int64, limit int) ([]JournalEntry, error) {
	if err := m.rlock(); err != nil {
		return nil, fmt.Errorf("reading usage journal after %d: %w", afterSeq, err)
	}
	defer m.mu.RUnlock()
	start := sort.Search(len(m.journal), func(i int) bool { return m.journal[i].seq > afterSeq })
	var out []JournalEntry
	for _, e := range m.journal[start:] {
		if limit > 0 && len(out) == limit {
			break
		}
		entry, err := decodeJournalEntry(e.seq, e.rec)
		if err != nil {
			return nil, fmt.Errorf("reading usage journal after %d: %w", afterSeq, err)
		}
		out = append(out, entry)
	}
	return out, nil
}

// TrimUsage implements Store.
func (m *Memory) TrimUsage(uptoSeq int64) error {
	if err := m.lock(); err != nil {
		return fmt.Errorf("trimming usage journal up to %d: %w", uptoSeq, err)
	}
	defer m.mu.Unlock()
	n := sort.Search(len(m.journal), func(i int) bool { return m.journal[i].seq > uptoSeq })
	m.journal = slices.Clone(m.journal[n:]) // let the trimmed records be collected
	m.lastSeq = max(m.lastSeq, uptoSeq)
	return nil
}

// JournalBacklog implements Store.
func (m *Memory) JournalBacklog() (int, error) {
	if err := m.rlock(); err != nil {
		return 0, fmt.Errorf("counting usage journal: %w", err)
	}
	defer m.mu.RUnlock()
	return len(m.journal), nil
}

// LastSeq implements Store.
func (m *Memory) LastSeq() (int64, error) {
	if err := m.rlock(); err != nil {
		return 0, fmt.Errorf("reading last usage seq: %w", err)
	}
	defer m.mu.RUnlock()
	return m.lastSeq, nil
}

// LocalUsed implements Store.
func (m *Memory) LocalUsed(email string) (int64, error) {
	if err := m.rlock(); err != nil {
		return 0, err
	}
	defer m.mu.RUnlock()
	return m.used[email], nil
}

// MarkEnforced implements Store.
func (m *Memory) MarkEnforced(u protocol.EnforcedUser) error {
	if err := checkEnforced(u); err != nil {
		return err
	}
	if err := m.lock(); err != nil {
		return fmt.Errorf("recording enforcement of %q: %w", u.Email, err)
	}
	defer m.mu.Unlock()
	if _, ok := m.users[u.Email]; !ok {
		return fmt.Errorf("recording enforcement of %q: %w", u.Email, ErrUnknownUser)
	}
	if _, ok := m.enforced[u.Email]; !ok {
		m.enforced[u.Email] = enforcedRecord{EnforcedUser: u}
	}
	return nil
}

func (m *Memory) listEnforced(keep func(enforcedRecord) bool) ([]protocol.EnforcedUser, error) {
	if err := m.rlock(); err != nil {
		return nil, fmt.Errorf("listing enforced users: %w", err)
	}
	defer m.mu.RUnlock()
	var out []protocol.EnforcedUser
	for _, email := range slices.Sorted(maps.Keys(m.enforced)) {
		if e := m.enforced[email]; keep(e) {
			out = append(out, e.EnforcedUser)
		}
	}
	return out, nil
}

// Enforced implements Store.
func (m *Memory) Enforced() ([]protocol.EnforcedUser, error) {
	return m.listEnforced(func(enforcedRecord) bool { return true })
}

// Unreported implements Store.
func (m *Memory) Unreported() ([]protocol.EnforcedUser, error) {
	return m.listEnforced(func(e enforcedRecord) bool { return !e.Reported })
}

// ClearEnforced implements Store.
func (m *Memory) ClearEnforced(emails []string) error {
	if err := m.lock(); err != nil {
		return fmt.Errorf("clearing enforcement of %d users: %w", len(emails), err)
	}
	defer m.mu.Unlock()
	for _, email := range emails {
		delete(m.enforced, email)
	}
	return nil
}

// MarkReported implements Store.
func (m *Memory) MarkReported(emails []string) error {
	if err := m.lock(); err != nil {
		return fmt.Errorf("marking %d enforced users reported: %w", len(emails), err)
	}
	defer m.mu.Unlock()
	for _, email := range emails {
		if e, ok := m.enforced[email]; ok {
			e.Reported = true
			m.enforced[email] = e
		}
	}
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
