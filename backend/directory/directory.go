// Package directory is the users list's read model: each replica's
// in-memory copy of the fields a users list filters and sorts by, kept
// coherent with the database by revision. It reads the database only
// through Source, which the store implements; backend/state owns one and
// serves GET /api/users from it.
package directory

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/model"
)

// Source is what the directory reads from the database: the store
// implements it, one query or one snapshot per method.
type Source interface {
	// Engine names the database engine ("sqlite" or "postgres"): the two
	// fold letter case differently.
	Engine() string
	// UserListHead reads the current revision; with search set on
	// PostgreSQL, also the database's lower() of search.
	UserListHead(ctx context.Context, search string) (rev int64, folded string, err error)
	// UserListChanges reads, in one snapshot, the current revision and
	// every user (full, or when the tombstones after after were pruned) or
	// the users and tombstones after revision after.
	UserListChanges(ctx context.Context, full bool, after int64) (*model.UserListChanges, error)
	// UsageSignature reads the usage signature.
	UsageSignature(ctx context.Context) (model.UsageSignature, error)
	// UsedTraffic reads every user's used_traffic in one snapshot.
	UsedTraffic(ctx context.Context) (*model.UsedTraffic, error)
	// UsersByID reads the users of ids, in that order, in one statement.
	UsersByID(ctx context.Context, ids []int64) ([]model.User, error)
	// ListUsers answers a filter the directory does not serve, in SQL.
	ListUsers(ctx context.Context, f model.UserFilter) ([]model.User, int, error)
}

// The user directory is each replica's in-memory copy of the fields a users
// list filters and sorts by (id, lower(username), lower(note), status,
// owner, data_limit, expire, created_at, used_traffic): about 120 bytes a
// user, 11.7 MB of heap at 100,000 users. A list request filters, counts
// and picks its page there, then loads
// only the page's rows from the database, so every value it shows is read
// fresh. In SQL the same request is a scan: a substring search like "1"
// matches tens of thousands of users, which no index narrows, and they are
// then sorted by used_traffic, which has no index on purpose (every usage
// batch rewrites it) and counted.
//
// Coherence, with several replicas on one database:
//
//   - Every change to a listed field other than used_traffic commits at a
//     revision and stamps it on the user (users.revision): state.change
//     takes the revision first, and the row lock on the counter makes
//     transactions commit in revision order. Once a reader sees revision R,
//     every change at or below R is committed. Deletions leave a tombstone
//     at their revision (migration 0006). Writers outside state.change that
//     touch a listed field take a revision themselves (DeleteAdmin,
//     ResetUserUsage); a write that stamps no new revision stays unseen
//     until the user's next stamped change.
//   - Before serving, a request reads the current revision (one single-row
//     query). When it is ahead of the directory's watermark, the request
//     reads, in one snapshot (Source.UserListChanges: REPEATABLE READ on
//     PostgreSQL, so the revision and the rows agree), the revision R, the tombstones and
//     the users rows after the watermark, applies them and moves the
//     watermark to R. The request after a replica's own write therefore
//     sees that write.
//   - used_traffic changes with every usage batch and takes no revision.
//     This replica's batches add their deltas as they commit (BeginUsage,
//     the store's usage hook)
//     and move the directory's copy of the usage signature (the sum of
//     the nodes' usage_seq) with them; other replicas' batches show as a
//     signature that moved further, which a background refresh polls at
//     most every usedRefreshEvery, re-reading every user's used_traffic
//     when it did. A replica that records every batch itself (one panel,
//     or one replica holding the node sessions) never re-reads them all. A request never
//     waits for that: sorting by used_traffic may lag other replicas'
//     batches by a few seconds (after a long quiet spell, the first request
//     sorts by the values of before it). Resets take a revision, so they
//     show at once. The used_traffic a page shows is always the row's.
//
// Tombstones older than a day are pruned by an hourly scheduler job
// (state.PruneUserTombstones), whether or not anyone lists users; a
// directory whose watermark is below the pruned horizon reloads
// everything.
type Directory struct {
	src      Source
	log      *slog.Logger
	postgres bool

	// refreshMu makes catching up one at a time: requests that find the
	// directory behind wait for the one catching up, then need nothing.
	// Lock order: refreshMu before mu, never the reverse (mu is a leaf).
	refreshMu sync.Mutex

	mu sync.RWMutex
	// table holds every user in ascending id order. Deleted users stay,
	// with status dirStatusDead, until compaction (dead counts them), so
	// an update is a binary search and a write in place.
	table     dirTable
	dead      int
	watermark int64 // the revision entries reflect
	loaded    bool
	// usage is the nodes' usage signature entries' used_traffic reflects.
	usage      model.UsageSignature
	usageKnown bool
	// Refreshes of used_traffic, catch-ups and this replica's usage
	// batches may overlap and apply in the other order than they read;
	// these counters detect that (see refreshUsed, catchUp and
	// noteUsage), which then forces another refresh of used_traffic.
	usedStarted, usedFinished, catchStarted, caughtUp uint64
	// usedReads counts refreshes that re-read every user's used_traffic.
	usedReads uint64

	// usedDirty forces the next background refresh of used_traffic even if
	// the usage signature did not move: set after this replica's batches
	// and after overlapping refreshes.
	usedDirty atomic.Bool
	// usedRunning makes the background refresh single-flight; usedChecked
	// is when it last started (Unix nanoseconds).
	usedRunning atomic.Bool
	usedChecked atomic.Int64
	// usedEvery is usedRefreshEvery; 0 turns the background refresh off,
	// for tests that call refreshUsed themselves.
	usedEvery  time.Duration
	background sync.WaitGroup
	// closed stops new background work once the database is closing.
	closed atomic.Bool
}

const (
	// usedRefreshEvery bounds how often a replica polls for other replicas'
	// usage batches (and re-reads every user's used_traffic if there were
	// any): a 100k-user read costs tens of milliseconds.
	usedRefreshEvery = 3 * time.Second
	// maxPage bounds the pages the directory serves: a larger one (an
	// export) goes to SQL, as an unlimited one does.
	maxPage = 1000
	// compactAfter is the number of dead entries worth a compaction (and at
	// least a quarter of all entries).
	compactAfter = 1024
)

// New makes an empty directory over src; the first List loads it. log
// may be nil. Call Close before closing src.
func New(src Source, log *slog.Logger) *Directory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Directory{src: src, log: log, postgres: src.Engine() == "postgres", usedEvery: usedRefreshEvery}
}

// dirEntry is one user's list fields as read from the database.
type dirEntry struct {
	id int64
	// name is lower(username): ASCII case folding, as both engines do it
	// (SQLite's lower, PostgreSQL's in the username's "C" collation).
	name string
	// note is lower(note) as the database folds it, matched against the
	// database's lower() of the search.
	note                                    string
	adminID                                 int64 // 0: no owner
	status                                  dirStatus
	used, dataLimit, expire, createdAt, rev int64
}

func entryOf(e *model.UserListEntry) dirEntry {
	return dirEntry{id: e.ID, name: e.Name, note: e.Note, adminID: e.AdminID, status: toDirStatus(e.Status),
		used: e.Used, dataLimit: e.DataLimit, expire: e.Expire, createdAt: e.CreatedAt, rev: e.Revision}
}

func entriesOf(es []model.UserListEntry) []dirEntry {
	out := make([]dirEntry, len(es))
	for i := range es {
		out[i] = entryOf(&es[i])
	}
	return out
}

// dirTable holds the directory's users in ascending id order, a slice per
// field. A request streams only the columns its filter reads: the
// statuses, the byte sets of names, and names only where those pass. Every
// field of every user (12 MB at 100k users) would cost more in memory
// bandwidth than the tests themselves.
type dirTable struct {
	id      []int64
	status  []dirStatus
	adminID []int64 // 0: no owner
	name    []string
	note    []string
	// nameSet and noteSet are byteSets of name and note (0 for no note): a
	// search whose byteSet is not within them cannot match, which settles
	// most users without a substring search.
	nameSet, noteSet []uint64
	used, dataLimit  []int64
	expire           []int64
	createdAt        []int64
	// rev is users.revision: a refresh of used_traffic read at an older
	// revision leaves the user's used alone (see refreshUsed).
	rev []int64
}

func (t *dirTable) len() int { return len(t.id) }

// newDirTable makes a table of rows (ascending id), sized exactly.
func newDirTable(rows []dirEntry) dirTable {
	n := len(rows)
	t := dirTable{
		id: make([]int64, 0, n), status: make([]dirStatus, 0, n), adminID: make([]int64, 0, n),
		name: make([]string, 0, n), note: make([]string, 0, n), nameSet: make([]uint64, 0, n),
		noteSet: make([]uint64, 0, n), used: make([]int64, 0, n), dataLimit: make([]int64, 0, n),
		expire: make([]int64, 0, n), createdAt: make([]int64, 0, n), rev: make([]int64, 0, n),
	}
	for i := range rows {
		t.push(&rows[i])
	}
	return t
}

func (t *dirTable) push(e *dirEntry) {
	t.id = append(t.id, e.id)
	t.status = append(t.status, e.status)
	t.adminID = append(t.adminID, e.adminID)
	t.name = append(t.name, e.name)
	t.note = append(t.note, e.note)
	t.nameSet = append(t.nameSet, byteSet(e.name))
	t.noteSet = append(t.noteSet, byteSet(e.note))
	t.used = append(t.used, e.used)
	t.dataLimit = append(t.dataLimit, e.dataLimit)
	t.expire = append(t.expire, e.expire)
	t.createdAt = append(t.createdAt, e.createdAt)
	t.rev = append(t.rev, e.rev)
}

func (t *dirTable) set(i int, e *dirEntry) {
	t.id[i], t.status[i], t.adminID[i] = e.id, e.status, e.adminID
	t.name[i], t.note[i], t.nameSet[i], t.noteSet[i] = e.name, e.note, byteSet(e.name), byteSet(e.note)
	t.used[i], t.dataLimit[i], t.expire[i], t.createdAt[i], t.rev[i] = e.used, e.dataLimit, e.expire, e.createdAt, e.rev
}

func (t *dirTable) row(i int) dirEntry {
	return dirEntry{id: t.id[i], name: t.name[i], note: t.note[i], adminID: t.adminID[i], status: t.status[i],
		used: t.used[i], dataLimit: t.dataLimit[i], expire: t.expire[i], createdAt: t.createdAt[i], rev: t.rev[i]}
}

// find returns the index of id, or where it would go.
func (t *dirTable) find(id int64) (int, bool) { return slices.BinarySearch(t.id, id) }

// dirStatus is a user status in a byte.
type dirStatus uint8

const (
	// dirStatusOther is a status this binary does not know; no status
	// filter (they are validated) matches it.
	dirStatusOther dirStatus = iota
	dirStatusActive
	dirStatusDisabled
	dirStatusLimited
	dirStatusExpired
	dirStatusOnHold
	// dirStatusDead marks a deleted user until compaction.
	dirStatusDead
)

func toDirStatus(s model.Status) dirStatus {
	switch s {
	case model.StatusActive:
		return dirStatusActive
	case model.StatusDisabled:
		return dirStatusDisabled
	case model.StatusLimited:
		return dirStatusLimited
	case model.StatusExpired:
		return dirStatusExpired
	case model.StatusOnHold:
		return dirStatusOnHold
	}
	return dirStatusOther
}

// dirSort is a sort key of UserFilter.Sort.
type dirSort uint8

const (
	sortByID dirSort = iota
	sortByUsername
	sortByUsed
	sortByDataLimit
	sortByExpire
	sortByCreatedAt
)

// dirSorts are model.UserSorts.
var dirSorts = map[string]dirSort{
	"username":     sortByUsername,
	"used_traffic": sortByUsed,
	"data_limit":   sortByDataLimit,
	"expire":       sortByExpire,
	"created_at":   sortByCreatedAt,
}

// dirQuery is a UserFilter compiled for the directory.
type dirQuery struct {
	sort   dirSort
	desc   bool
	status dirStatus // 0: any
	// admins (nil: any) is searched in a slice when short, in adminSet
	// when long.
	admins        []int64
	adminSet      map[int64]bool
	names         map[string]bool
	rest          bool // admins, names, search or a dashboard filter is set
	search        string
	nameNeedle    string // what a username must contain
	noteNeedle    string // what a note must contain; set after the database folded it
	nameNeedleSet uint64 // byteSet(nameNeedle)
	noteNeedleSet uint64 // byteSet(noteNeedle)
	offset, limit int

	// dashboard holds the expiry and data-left filters (users_filters.go).
	dashboard dirDashboard
}

// compileQuery turns f (checked) into a directory query; ok is false for
// what the directory does not serve: pages over maxPage or
// unlimited (exports), owner ids below 1 (a NULL owner is stored as 0) and
// searches the database would reject (NUL bytes, invalid UTF-8), so that
// those keep SQL's answer.
func compileQuery(f *model.UserFilter, postgres bool) (q dirQuery, ok bool) {
	if f.Limit < 1 || f.Limit > maxPage {
		return q, false
	}
	if f.Search != "" && (!utf8.ValidString(f.Search) || strings.IndexByte(f.Search, 0) >= 0) {
		return q, false
	}
	q.offset, q.limit = max(f.Offset, 0), f.Limit
	if f.Sort != "" {
		name, desc := strings.CutPrefix(f.Sort, "-")
		q.sort, q.desc = dirSorts[name], desc
	}
	if f.Status != "" {
		q.status = toDirStatus(f.Status)
	}
	if len(f.AdminIDs) > 0 {
		for _, id := range f.AdminIDs {
			if id < 1 {
				return q, false
			}
		}
		q.admins = f.AdminIDs
		if len(q.admins) > 8 {
			q.adminSet = make(map[int64]bool, len(q.admins))
			for _, id := range q.admins {
				q.adminSet[id] = true
			}
		}
	}
	if len(f.Usernames) > 0 {
		q.names = make(map[string]bool, len(f.Usernames))
		for _, n := range f.Usernames {
			q.names[strings.ToLower(n)] = true
		}
	}
	if f.Search != "" {
		q.search = f.Search
		if postgres {
			// SQL: lower(u.username) LIKE '%' || Go's ToLower(search) || '%'.
			q.nameNeedle = strings.ToLower(f.Search)
		} else {
			// SQL: u.username LIKE '%search%', which folds ASCII only.
			q.nameNeedle = model.ASCIILower(f.Search)
			q.noteNeedle = q.nameNeedle
		}
		q.nameNeedleSet, q.noteNeedleSet = byteSet(q.nameNeedle), byteSet(q.noteNeedle)
	}
	q.dashboard = compileDashboard(f)
	q.rest = q.admins != nil || q.names != nil || q.search != "" || q.dashboard.set()
	return q, true
}

// List returns one page of users matching f and the number of users
// matching f across all pages, exactly as the store's ListUsers (SQL)
// would in a read transaction. Pages of 1 to 1000 users are picked from
// the directory and only their rows are read; other requests go to SQL.
func (d *Directory) List(ctx context.Context, f model.UserFilter) ([]model.User, int, error) {
	if err := f.Check(); err != nil {
		return nil, 0, fmt.Errorf("listing users: %w", err)
	}
	q, ok := compileQuery(&f, d.postgres)
	if !ok {
		return d.src.ListUsers(ctx, f)
	}
	ids, total, err := d.list(ctx, &q)
	if err != nil {
		return nil, 0, fmt.Errorf("listing users: %w", err)
	}
	users, err := d.src.UsersByID(ctx, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("listing users: %w", err)
	}
	return users, total, nil
}

// list brings the directory up to the current revision and returns the
// ids of q's page and the number of users matching q.
func (d *Directory) list(ctx context.Context, q *dirQuery) ([]int64, int, error) {
	// On PostgreSQL, ILIKE folds both sides with the database's lower(),
	// whose result depends on its locale: the database folds the search
	// too, in the same round trip.
	rev, folded, err := d.src.UserListHead(ctx, q.search)
	if err != nil {
		return nil, 0, err
	}
	if q.search != "" && d.postgres {
		q.noteNeedle = folded
		q.noteNeedleSet = byteSet(q.noteNeedle)
	}
	d.mu.RLock()
	current := d.loaded && d.watermark >= rev
	d.mu.RUnlock()
	if !current {
		if err := d.catchUp(ctx, rev); err != nil {
			return nil, 0, err
		}
	}
	d.kickUsedRefresh()
	ids, total := d.page(q)
	return ids, total, nil
}

// page picks q's page under the read lock: a walk in id order for the
// default sort, else the first offset+limit matches in q's order kept in a
// bounded heap, so the cost is one pass over the users whatever the page
// (0.3 to 2 milliseconds at 100k users).
func (d *Directory) page(q *dirQuery) ([]int64, int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	t := &d.table
	n := t.len()
	end := q.offset + q.limit
	if end < q.offset || end > n { // overflow, or past every user
		end = n
	}
	ids := []int64{}
	total := 0
	switch {
	case q.sort == sortByID:
		q.eachMatch(t, q.desc, func(i int) {
			if total >= q.offset && total < end {
				ids = append(ids, t.id[i])
			}
			total++
		})
	case q.offset >= end:
		q.eachMatch(t, false, func(int) { total++ })
	case q.sort == sortByUsername:
		top := firstK[string]{k: end, desc: q.desc}
		q.eachMatch(t, false, func(i int) {
			total++
			top.offer(ranked[string]{t.name[i], t.id[i]})
		})
		ids = top.ids(q.offset)
	default:
		var keys []int64
		switch q.sort {
		case sortByUsed:
			keys = t.used
		case sortByDataLimit:
			keys = t.dataLimit
		case sortByExpire:
			keys = t.expire
		case sortByCreatedAt:
			keys = t.createdAt
		}
		top := firstK[int64]{k: end, desc: q.desc}
		q.eachMatch(t, false, func(i int) {
			total++
			top.offer(ranked[int64]{keys[i], t.id[i]})
		})
		ids = top.ids(q.offset)
	}
	return ids, total
}

// eachMatch calls visit with the index of every user matching q, in id
// order (descending when reverse). The loop settles most users itself, by
// status and by the byte sets of a search; the rest go to matchesRest.
func (q *dirQuery) eachMatch(t *dirTable, reverse bool, visit func(i int)) {
	status, nameSet, noteSet := t.status, t.nameSet, t.noteSet
	n := len(status)
	for k := range n {
		i := k
		if reverse {
			i = n - 1 - k
		}
		// A status filter never asks for dirStatusDead.
		if st := status[i]; st != q.status && (q.status != 0 || st == dirStatusDead) {
			continue
		}
		if q.search != "" && q.nameNeedleSet&^nameSet[i] != 0 && (noteSet[i] == 0 || q.noteNeedleSet&^noteSet[i] != 0) {
			continue // neither the name nor the note has every byte of the search
		}
		if q.rest && !q.matchesRest(t, i) {
			continue
		}
		visit(i)
	}
}

func (q *dirQuery) matchesRest(t *dirTable, i int) bool {
	if q.admins != nil {
		a := t.adminID[i]
		if a == 0 {
			return false
		}
		if q.adminSet != nil {
			if !q.adminSet[a] {
				return false
			}
		} else if !slices.Contains(q.admins, a) {
			return false
		}
	}
	if q.names != nil && !q.names[t.name[i]] {
		return false
	}
	if q.dashboard.set() && !q.dashboard.matches(t, i) {
		return false
	}
	if q.search != "" {
		// The note is tested only when not empty (noteSet 0), as in SQL
		// (an empty note contains no search anyway).
		return (q.nameNeedleSet&^t.nameSet[i] == 0 && strings.Contains(t.name[i], q.nameNeedle)) ||
			(t.noteSet[i] != 0 && q.noteNeedleSet&^t.noteSet[i] == 0 && strings.Contains(t.note[i], q.noteNeedle))
	}
	return true
}

// ranked is a matching user's sort key and id. Tx.ListUsers orders by the
// key, then by the id in the same direction; usernames compare as bytes on
// both engines.
type ranked[K cmp.Ordered] struct {
	key K
	id  int64
}

// firstK keeps the k users offered that come first in the order, as a
// binary heap whose root is the last of them: most users are turned away
// by one comparison with the root.
type firstK[K cmp.Ordered] struct {
	k    int
	desc bool
	heap []ranked[K]
}

// before reports whether a comes before b.
func (f *firstK[K]) before(a, b ranked[K]) bool {
	if a.key != b.key {
		return (a.key < b.key) != f.desc
	}
	return (a.id < b.id) != f.desc
}

func (f *firstK[K]) offer(r ranked[K]) {
	h := f.heap
	if len(h) < f.k {
		h = append(h, r)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !f.before(h[p], h[i]) {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		f.heap = h
		return
	}
	if !f.before(r, h[0]) {
		return
	}
	h[0] = r
	for i := 0; ; {
		last, l := i, 2*i+1
		if l < len(h) && f.before(h[last], h[l]) {
			last = l
		}
		if r := l + 1; r < len(h) && f.before(h[last], h[r]) {
			last = r
		}
		if last == i {
			return
		}
		h[i], h[last] = h[last], h[i]
		i = last
	}
}

// ids returns the ids kept, in order, from the offset-th on.
func (f *firstK[K]) ids(offset int) []int64 {
	slices.SortFunc(f.heap, func(a, b ranked[K]) int {
		switch {
		case a.id == b.id:
			return 0
		case f.before(a, b):
			return -1
		}
		return 1
	})
	ids := make([]int64, 0, max(len(f.heap)-offset, 0))
	for _, r := range f.heap[min(offset, len(f.heap)):] {
		ids = append(ids, r.id)
	}
	return ids
}

// catchUp brings the directory to at least revision rev.
func (d *Directory) catchUp(ctx context.Context, rev int64) error {
	d.refreshMu.Lock()
	defer d.refreshMu.Unlock()
	d.mu.RLock()
	loaded, after := d.loaded, d.watermark
	startedBefore, finishedBefore := d.usedStarted, d.usedFinished
	d.mu.RUnlock()
	if loaded && after >= rev {
		return nil // caught up by the request before this one
	}
	d.mu.Lock()
	d.catchStarted++
	d.mu.Unlock()
	c, err := d.src.UserListChanges(ctx, !loaded, after)
	var rows []dirEntry
	if err == nil {
		rows = entriesOf(c.Entries) // outside the lock: a full read is every user
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.caughtUp++ // finished, applied or not
	if err != nil {
		return fmt.Errorf("refreshing user directory after revision %d: %w", after, err)
	}
	if c.Full {
		d.table, d.dead = newDirTable(rows), 0
		d.usage, d.usageKnown = c.Usage, true
	} else {
		d.merge(rows, c.Gone)
	}
	d.watermark, d.loaded = max(d.watermark, c.Revision), true
	if d.usedStarted != startedBefore || d.usedFinished != finishedBefore {
		// A refresh of used_traffic ran while this snapshot was read: one of
		// the two may have written older used_traffic over newer.
		d.usedDirty.Store(true)
	}
	return nil
}

// merge applies changed rows (ascending id) and deletions under the write
// lock.
func (d *Directory) merge(rows []dirEntry, gone []int64) {
	t := &d.table
	var added []dirEntry
	for i := range rows {
		if j, ok := t.find(rows[i].id); ok {
			if t.status[j] == dirStatusDead {
				d.dead--
			}
			t.set(j, &rows[i])
		} else {
			added = append(added, rows[i])
		}
	}
	if len(added) > 0 {
		if n := t.len(); n == 0 || added[0].id > t.id[n-1] {
			for i := range added { // new users: the usual case
				t.push(&added[i])
			}
		} else {
			// An id below the newest (an import with ids of its own):
			// rebuild in order.
			merged := make([]dirEntry, 0, t.len()+len(added))
			j := 0
			for i := range t.len() {
				for j < len(added) && added[j].id < t.id[i] {
					merged = append(merged, added[j])
					j++
				}
				merged = append(merged, t.row(i))
			}
			d.table = newDirTable(append(merged, added[j:]...))
			t = &d.table
		}
	}
	for _, id := range gone {
		if j, ok := t.find(id); ok && t.status[j] != dirStatusDead {
			t.set(j, &dirEntry{id: id, status: dirStatusDead})
			d.dead++
		}
	}
	if d.dead >= compactAfter && d.dead*4 >= t.len() {
		alive := make([]dirEntry, 0, t.len()-d.dead)
		for i := range t.len() {
			if t.status[i] != dirStatusDead {
				alive = append(alive, t.row(i))
			}
		}
		d.table, d.dead = newDirTable(alive), 0
	}
}

// usageEpoch is the state of the directory's refreshes and catch-ups,
// taken before a usage batch's transaction starts, for noteUsage.
type usageEpoch struct {
	usedStarted, usedFinished, catchStarted, caughtUp uint64
}

func (d *Directory) epoch() usageEpoch {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return usageEpoch{d.usedStarted, d.usedFinished, d.catchStarted, d.caughtUp}
}

// BeginUsage is the store's usage hook (Store.ObserveUsage): called before
// a usage batch's transaction, it takes the epoch, and returns what the
// store calls once the batch counted.
func (d *Directory) BeginUsage() func(ids, used []int64, seqs int64) {
	e := d.epoch()
	return func(ids, used []int64, seqs int64) { d.noteUsage(ids, used, seqs, e) }
}

// noteUsage adds this replica's committed usage batch to the used_traffic
// sort keys: ids ascending, used the bytes added to each (coefficient
// applied), seqs how much the batch raised the usage signature, e the
// epoch taken before the batch's transaction. A directory not loaded yet
// reads the counters when it loads.
//
// A refresh of used_traffic or a catch-up that read the counters after the
// batch committed but applied them before this would count the batch
// twice; one that read before and applied after would lose it. When one
// ran or runs between e and now, the next refresh re-reads every user's
// used_traffic (usedDirty, set only now, so that refresh reads after the
// batch and applies after this). Otherwise the batch is the only change to
// the counters since the directory's last read, and the directory's usage
// signature moves with it: a replica whose usage batches are all its own
// never re-reads every user's used_traffic.
func (d *Directory) noteUsage(ids, used []int64, seqs int64, e usageEpoch) {
	d.mu.Lock()
	overlapped := e != usageEpoch{d.usedStarted, d.usedFinished, d.catchStarted, d.caughtUp} ||
		d.usedStarted != d.usedFinished || d.catchStarted != d.caughtUp
	if t := &d.table; d.loaded {
		// Both lists ascend: a batch of most users is one walk of both, a
		// small one a binary search per user in what is left.
		walk := len(ids)*16 >= t.len()
		lo := 0
		for j, id := range ids {
			if walk {
				for lo < t.len() && t.id[lo] < id {
					lo++
				}
			} else {
				i, _ := slices.BinarySearch(t.id[lo:], id)
				lo += i
			}
			if lo < t.len() && t.id[lo] == id && t.status[lo] != dirStatusDead {
				t.used[lo] += used[j]
			}
		}
	}
	if !overlapped && d.usageKnown {
		d.usage.Seqs += seqs
	}
	d.mu.Unlock()
	if overlapped {
		d.usedDirty.Store(true)
	}
}

// Close waits for the background refresh, if one runs, and starts no more;
// the store calls it (Store.OnClose) before it closes its pools: a query
// still running when the pools close would close its connection
// afterwards, and SQLite removes or writes its -wal and -shm files then (a
// test's temporary directory was seen not empty at removal). A request
// racing Close may still kick one off after the flag is set and before
// Wait; that refresh fails on the closed pools at once.
func (d *Directory) Close() {
	d.closed.Store(true)
	d.background.Wait()
}

// kickUsedRefresh starts a background refresh of used_traffic if none ran
// for usedEvery and none is running. The request that kicks it does not
// wait for it.
func (d *Directory) kickUsedRefresh() {
	now := time.Now().UnixNano()
	if d.closed.Load() || d.usedEvery <= 0 || now-d.usedChecked.Load() < int64(d.usedEvery) || !d.usedRunning.CompareAndSwap(false, true) {
		return
	}
	d.usedChecked.Store(now)
	d.background.Add(1)
	go func() {
		defer d.background.Done()
		defer d.usedRunning.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.refreshUsed(ctx); err != nil {
			// Only the used_traffic order lags; the next request retries.
			// Debug: it also fails once the store is closed.
			d.log.Debug("refreshing used_traffic of the user directory failed", "err", err)
		}
	}()
}

// refreshUsed re-reads every user's used_traffic when other batches were
// recorded since the directory last read them (or usedDirty says it must).
//
// It may overlap a catch-up, and the two may apply in the other order than
// they read. An entry whose revision is newer than this read's snapshot
// keeps the used_traffic a catch-up gave it (a reset, say); anything else
// an overlap could leave behind (some bytes of a batch missing or counted
// twice) sets usedDirty, and the next refresh, which reads after all of
// it, sets every value again.
func (d *Directory) refreshUsed(ctx context.Context) error {
	sig, err := d.src.UsageSignature(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if !d.loaded || (d.usageKnown && d.usage == sig && !d.usedDirty.Load()) {
		d.mu.Unlock()
		return nil
	}
	// Cleared before the snapshot: what sets it from here on is seen by a
	// later refresh.
	d.usedDirty.Store(false)
	d.usedStarted++
	caughtUpBefore := d.caughtUp
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.usedFinished++
		d.mu.Unlock()
	}()

	snap, err := d.src.UsedTraffic(ctx)
	if err != nil {
		d.usedDirty.Store(true)
		return err
	}
	rev, ids, used := snap.Revision, snap.IDs, snap.Used
	sig = snap.Usage

	d.mu.Lock()
	defer d.mu.Unlock()
	d.usedReads++
	t := &d.table
	j := 0
	for i := range t.len() {
		for j < len(ids) && ids[j] < t.id[i] {
			j++
		}
		if j < len(ids) && ids[j] == t.id[i] && t.status[i] != dirStatusDead && t.rev[i] <= rev {
			t.used[i] = used[j]
		}
	}
	d.usage, d.usageKnown = sig, true
	if d.caughtUp != caughtUpBefore {
		d.usedDirty.Store(true)
	}
	return nil
}

// byteSet maps each byte of s to one of 64 bits (b mod 64). A string
// containing another has every bit of the other's set.
func byteSet(s string) uint64 {
	var set uint64
	for i := 0; i < len(s); i++ {
		set |= 1 << (s[i] & 63)
	}
	return set
}
