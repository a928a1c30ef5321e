// Package state is the node agent's durable local state: the last-known-good
// desired state (so Xray can start before the panel is reachable), the usage
// journal (so no traffic is lost while the panel is away) and the users the
// node removed on its own (so they are enforced across restarts and reported
// on reconnect).
//
// One interface, two implementations: Bolt (bbolt on disk, what the agent
// runs) and Memory (for tests of code built on top of the store). Both pass
// the same test suite.
package state

import (
	"errors"
	"fmt"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Sentinel errors. The node agent does not import the panel's packages, so
// the store has its own.
var (
	// ErrInvalid: the arguments cannot be stored (empty or duplicate email,
	// negative traffic, ...). Nothing was written.
	ErrInvalid = errors.New("invalid")
	// ErrNoBase: a delta arrived but no snapshot was ever applied; the agent
	// must ask the panel for a snapshot.
	ErrNoBase = errors.New("no desired state to apply a delta to")
	// ErrStaleRevision: a delta whose revision is not after the stored one.
	ErrStaleRevision = errors.New("stale revision")
	// ErrUnknownUser: the user is not part of the stored desired state.
	ErrUnknownUser = errors.New("user not in desired state")
	// ErrSchemaTooNew: the state file was written by a newer agent. Refusing
	// it is safer than misreading it; downgrading needs an empty state dir.
	ErrSchemaTooNew = errors.New("state file written by a newer agent")
	// ErrCorrupt: the state file does not decode.
	ErrCorrupt = errors.New("state file corrupt")
	// ErrLocked: another process holds the state file.
	ErrLocked = errors.New("state file in use by another process")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("state store closed")
)

// Desired is the last-known-good desired state: what the panel last said
// this node should run, as it said it.
type Desired struct {
	Revision int64
	Hash     protocol.StateHash
	Config   []byte                   // the Xray JSON as the panel sent it
	Users    map[string]protocol.User // by email
}

// Traffic is bytes moved by one user.
type Traffic struct{ Up, Down int64 }

// JournalEntry is one durable reading of the traffic counters.
type JournalEntry struct {
	Seq     int64
	At      time.Time
	Traffic map[string]Traffic // by email
}

// Store is the node's local state. Every method commits on its own; every
// mutation is one transaction, so a crash leaves either the old or the new
// state, never a mix. Implementations are safe for concurrent use.
type Store interface {
	// LoadDesired returns the last-known-good desired state; false when no
	// snapshot was ever saved. Users the node enforced are still in it (it
	// is the panel's word); subtract Enforced() before running it.
	LoadDesired() (Desired, bool, error)
	// SaveSnapshot replaces the desired state. It resets every user's local
	// usage counter and drops the enforcement of every user whose record
	// changed or is gone (an unchanged record keeps its enforcement).
	SaveSnapshot(rev int64, hash protocol.StateHash, config []byte, users []protocol.User) error
	// ApplyDelta patches the desired state: config nil means unchanged.
	// Upserted users get a zero usage counter; upserted and removed users
	// lose their enforcement. ErrNoBase without a prior snapshot,
	// ErrStaleRevision when rev is not after the stored revision.
	ApplyDelta(rev int64, hash protocol.StateHash, config []byte, upserts []protocol.User, removes []string) error

	// NodeID is 0 until SetNodeID.
	NodeID() (int64, error)
	SetNodeID(id int64) error

	// AppendUsage durably journals one reading and returns its seq, strictly
	// greater than every seq ever returned by this store, across restarts and
	// trims. The journal keeps the emails as given (device identities
	// "<email>#<device id>" stay apart for the panel). In the same
	// transaction it adds the traffic to the local usage counters of users
	// in the desired state: a device identity's to its user's
	// (protocol.OwnerEmail).
	AppendUsage(at time.Time, traffic map[string]Traffic) (seq int64, err error)
	// PendingUsage returns up to limit entries with seq > afterSeq,
	// ascending; limit <= 0 means all.
	PendingUsage(afterSeq int64, limit int) ([]JournalEntry, error)
	// TrimUsage deletes the entries with seq <= uptoSeq: call it only once the
	// panel acknowledged them. An acknowledgement past LastSeq (the panel
	// remembers more than this node: its state dir was wiped) also moves the
	// sequence past it, so the panel does not discard new entries as resends.
	TrimUsage(uptoSeq int64) error
	// JournalBacklog is the number of entries not yet trimmed.
	JournalBacklog() (int, error)
	// LastSeq is the highest seq ever returned, 0 if none.
	LastSeq() (int64, error)

	// LocalUsed is the bytes (up + down) a user moved since its last upsert
	// or snapshot, summed over its device identities; 0 for users not in
	// the desired state. O(1).
	LocalUsed(email string) (int64, error)
	// MarkEnforced records that the node removed a user of the desired
	// state on its own (ErrUnknownUser otherwise). A user already enforced
	// keeps its first record: it was removed then, for that reason.
	MarkEnforced(u protocol.EnforcedUser) error
	// Enforced lists the users currently removed by the node, by email.
	Enforced() ([]protocol.EnforcedUser, error)
	// ClearEnforced forgets enforcement records (and their pending reports);
	// unknown emails are ignored.
	ClearEnforced(emails []string) error
	// MarkReported notes that the panel was told; unknown emails are ignored.
	MarkReported(emails []string) error
	// Unreported lists enforced users the panel was not told about yet.
	Unreported() ([]protocol.EnforcedUser, error)

	Close() error
}

// maxEmailLen bounds stored emails well below bbolt's key limit; Xray
// emails here are "<id>.<username>", far shorter.
const maxEmailLen = 1024

func checkEmail(email string) error {
	if email == "" {
		return fmt.Errorf("empty email: %w", ErrInvalid)
	}
	if len(email) > maxEmailLen {
		return fmt.Errorf("email of %d bytes is longer than %d: %w", len(email), maxEmailLen, ErrInvalid)
	}
	return nil
}

func checkSnapshotUsers(users []protocol.User) error {
	seen := make(map[string]struct{}, len(users))
	for _, u := range users {
		if err := checkEmail(u.Email); err != nil {
			return fmt.Errorf("snapshot user %d: %w", u.ID, err)
		}
		if _, dup := seen[u.Email]; dup {
			return fmt.Errorf("snapshot user %q listed twice: %w", u.Email, ErrInvalid)
		}
		seen[u.Email] = struct{}{}
	}
	return nil
}

func checkDelta(upserts []protocol.User, removes []string) error {
	seen := make(map[string]bool, len(upserts)+len(removes)) // true: upserted
	for _, u := range upserts {
		if err := checkEmail(u.Email); err != nil {
			return fmt.Errorf("delta upsert of user %d: %w", u.ID, err)
		}
		if _, dup := seen[u.Email]; dup {
			return fmt.Errorf("delta upserts %q twice: %w", u.Email, ErrInvalid)
		}
		seen[u.Email] = true
	}
	for _, email := range removes {
		if err := checkEmail(email); err != nil {
			return fmt.Errorf("delta remove: %w", err)
		}
		if upserted, dup := seen[email]; dup {
			if upserted {
				return fmt.Errorf("delta both upserts and removes %q: %w", email, ErrInvalid)
			}
			return fmt.Errorf("delta removes %q twice: %w", email, ErrInvalid)
		}
		seen[email] = false
	}
	return nil
}

func checkTraffic(traffic map[string]Traffic) error {
	for email, t := range traffic {
		if err := checkEmail(email); err != nil {
			return fmt.Errorf("usage: %w", err)
		}
		if t.Up < 0 || t.Down < 0 {
			return fmt.Errorf("usage of %q is negative (%d up, %d down): %w", email, t.Up, t.Down, ErrInvalid)
		}
	}
	return nil
}

func checkEnforced(u protocol.EnforcedUser) error {
	if err := checkEmail(u.Email); err != nil {
		return fmt.Errorf("enforced user: %w", err)
	}
	if u.Reason == "" {
		return fmt.Errorf("enforced user %q without a reason: %w", u.Email, ErrInvalid)
	}
	return nil
}

// addSaturating keeps a counter from wrapping negative, which would make an
// over-quota user look like it had bytes left.
func addSaturating(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<63 - 1
}

// snapshotConfig makes a snapshot's nil config replace the stored one, where
// a delta's nil config means unchanged.
func snapshotConfig(config []byte) []byte {
	if config == nil {
		return []byte{}
	}
	return config
}

// counterOwner is whose local usage counter an identity's traffic goes to:
// the email itself when it has a counter (a user's own identity), else its
// owner's (a device identity, protocol.OwnerEmail).
func counterOwner(email string, used map[string]int64) string {
	if _, ok := used[email]; ok {
		return email
	}
	return protocol.OwnerEmail(email)
}

func trafficBytes(t Traffic) int64 { return addSaturating(t.Up, t.Down) }

// SameUser reports whether a and b are the same record as the store sees it:
// SaveSnapshot keeps a user's enforcement only when this holds for its old
// and new record. The agent uses it to know, before it saves, which users
// the new state leaves enforced.
func SameUser(a, b protocol.User) bool {
	return a.Email == b.Email && string(encodeUser(nil, a)) == string(encodeUser(nil, b))
}
