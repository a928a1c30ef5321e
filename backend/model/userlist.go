package model

import (
	"fmt"
	"strings"
)

// UserSorts are the keys a users list sorts by (UserFilter.Sort, with a
// '-' prefix for descending).
var UserSorts = []string{"username", "used_traffic", "data_limit", "expire", "created_at"}

// MaxListedNames bounds a UserFilter's Usernames and AdminIDs; it keeps
// SQLite IN lists far below its bound-parameter limit.
const MaxListedNames = 1000

// Check validates f as every way of listing users does.
func (f *UserFilter) Check() error {
	if f.Sort != "" {
		name := strings.TrimPrefix(f.Sort, "-")
		known := false
		for _, s := range UserSorts {
			known = known || s == name
		}
		if !known {
			return fmt.Errorf("sort %q: %w", f.Sort, ErrInvalid)
		}
	}
	if len(f.Usernames) > MaxListedNames || len(f.AdminIDs) > MaxListedNames {
		return fmt.Errorf("more than %d usernames or admins: %w", MaxListedNames, ErrInvalid)
	}
	if f.Status != "" && !f.Status.Valid() {
		return fmt.Errorf("status %q: %w", f.Status, ErrInvalid)
	}
	if f.ExpireAfter < 0 || f.ExpireBefore < 0 || f.DataLeftBelowPercent < 0 || f.DataLeftBelowPercent > 100 {
		return fmt.Errorf("expire bounds %d, %d or data left percent %d: %w", f.ExpireAfter, f.ExpireBefore, f.DataLeftBelowPercent, ErrInvalid)
	}
	return nil
}

// The user directory (backend/directory) keeps the listed fields of every
// user in memory and catches up from the database by revision. These are
// what the store hands it.

// UserListEntry is one user's fields a users list filters and sorts by.
type UserListEntry struct {
	ID int64
	// Name is the username in ASCII lower case, as both engines fold it.
	Name string
	// Note is lower(note) as the database folds it.
	Note                         string
	AdminID                      int64 // 0: no owner
	Status                       Status
	Used                         int64
	DataLimit, Expire, CreatedAt int64
	// Revision is the revision of the user's last stamped change.
	Revision int64
}

// UsageSignature identifies the usage batches recorded so far: every batch
// raises its node's usage_seq, and the count covers nodes added or
// deleted.
type UsageSignature struct {
	Seqs, Nodes int64
}

// UserListChanges is what one database snapshot says changed since a
// revision: every user (Full) or the users stamped after it and the ids of
// users deleted after it.
type UserListChanges struct {
	Revision int64
	Full     bool
	Entries  []UserListEntry // ascending id
	Gone     []int64
	// Usage is the usage signature of a full read's snapshot.
	Usage UsageSignature
}

// UsedTraffic is every user's used_traffic in one snapshot, with the
// snapshot's revision and usage signature.
type UsedTraffic struct {
	Revision int64
	Usage    UsageSignature
	IDs      []int64 // ascending
	Used     []int64
}

// ASCIILower folds ASCII letters only, as SQLite's lower() and LIKE do and
// PostgreSQL's lower() in the "C" collation of users.username. It returns s
// itself when s has no upper-case ASCII letter.
func ASCIILower(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for k := i; k < len(b); k++ {
		if c := b[k]; 'A' <= c && c <= 'Z' {
			b[k] = c + ('a' - 'A')
		}
	}
	return string(b)
}
