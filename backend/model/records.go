package model

import (
	"errors"
	"time"
)

// The types below are what the panel's state hands its callers about users'
// traffic, listings and the webhook outbox. The store reads and writes them
// (its names for them are aliases), but callers get them from state: no
// package outside state names the store.

// ErrFenced is returned for a write from a node session that a newer session
// of the same node has replaced.
var ErrFenced = errors.New("node session fenced")

// UserFilter selects and orders users for a users list.
type UserFilter struct {
	Offset, Limit int // Limit <= 0: no limit
	// Usernames, when not empty, keeps only these (any letter case).
	Usernames []string
	// Search matches a case-insensitive substring of username or note.
	Search   string
	AdminIDs []int64
	Status   Status
	// Sort is one of username, used_traffic, data_limit, expire, created_at,
	// with a '-' prefix for descending; empty sorts by id.
	Sort string
	// ExpireAfter and ExpireBefore (Unix seconds; 0: no bound) keep users
	// that expire, after the one and at or before the other.
	ExpireAfter, ExpireBefore int64
	// DataLeftBelowPercent (1-100; 0: no filter) keeps users with a data
	// limit whose bytes left are under that share of it (users over their
	// limit included). See the store's dataLeftBelow.
	DataLeftBelowPercent int
}

// UserTraffic is one user's bytes in a node's usage batch.
type UserTraffic struct {
	UserID   int64
	Up, Down int64
	// DeviceID is the device whose identity moved the bytes (credentials
	// per device), 0 for the user's own; the bytes count for the user
	// either way.
	DeviceID int64
}

// UsagePoint is traffic in one hour, for usage reports.
type UsagePoint struct {
	NodeID   int64
	Hour     time.Time
	Uplink   int64 // node usage only
	Downlink int64 // node usage only
	Used     int64 // per-user usage, coefficient applied
}

// UsageLog is one reset of a user's used_traffic.
type UsageLog struct {
	UserID             int64
	UsedTrafficAtReset int64
	ResetAt            time.Time
}

// DayTotal is bytes used in one UTC day.
type DayTotal struct {
	Day  int64 // Unix seconds at 00:00 UTC
	Used int64
}

// WebhookRow is one notification bound for one webhook address.
type WebhookRow struct {
	ID        int64
	Address   string
	Action    string
	Payload   []byte // one JSON object; the dispatcher sends arrays of them
	CreatedAt time.Time
	Attempts  int
}

// WebhookTargetStat is the outbox as one target sees it: notifications
// waiting (Retrying of them failed at least once), given up (kept for the
// retention time), and the newest error of a notification not delivered.
type WebhookTargetStat struct {
	Address   string
	Pending   int
	Retrying  int
	Failed    int
	LastError string
}

// SubVersions are the counters that version what subscription servers cache.
type SubVersions struct {
	// Config is the revision the core config was stored at (0: none).
	Config   int64
	Hosts    int64
	Settings int64
}

// ChangedUser is a user changed or deleted after some revision.
type ChangedUser struct {
	ID       int64
	Username string
	AdminID  int64 // 0: no owner
	Deleted  bool
}

// UserChanges is what changed after a revision, as of Revision.
type UserChanges struct {
	Revision int64
	Users    []ChangedUser
	// Truncated means more than the limit changed: Users is incomplete and
	// a reader should treat every user as changed.
	Truncated bool
	// Pruned means tombstones after the asked revision were pruned:
	// deletions may be missing, so a reader should treat every user as
	// changed.
	Pruned bool
}

// ConfigVersion is one saved core config; Data is left empty by listings.
type ConfigVersion struct {
	ID        int64
	Admin     string
	CreatedAt time.Time
	Size      int64
	SHA256    string
	Data      []byte
}

// NodeWrite is what one node session reported since the last batch: its
// latest ack (Ack), its latest status (Status), or both, all guarded by
// the session's fence like NodeRecordAck and NodeSetStatus.
type NodeWrite struct {
	ID, Fence int64

	Ack       bool
	Revision  int64
	StateHash string

	Status       bool
	NodeStatus   NodeStatus
	Message      string
	AgentVersion string // "" keeps the stored one
	XrayVersion  string // "" keeps the stored one
	Seen         time.Time
}

// UsageBatch is one node's journaled usage batch, entries (FromSeq,
// ToSeq], measured at At, from the session holding Fence.
type UsageBatch struct {
	NodeID, Fence, FromSeq, ToSeq int64
	At                            time.Time
	Traffic                       []UserTraffic
}

// UsageResult is what became of one UsageBatch recorded with others.
type UsageResult struct {
	Applied bool  // counted now (false: recorded before, or Err)
	Err     error // fenced, a missing node, a bad range, or the transaction's failure
}

// Alert is one condition the fleet alert evaluator tracks (backend/alerts):
// pending until it has held long enough, then fired until it resolves.
type Alert struct {
	Rule    string // node_offline, node_revision_lag, node_journal_backlog, cert_expiry
	Subject string // what it is about: "node:12", "panel", "inbound:<tag>"
	// Since is when the condition began; FiredAt nil while pending.
	Since   time.Time
	FiredAt *time.Time
	// Value is the measure when it fired (minutes offline, revisions
	// behind, journal entries, days left), Threshold what it was held to.
	Value     float64
	Threshold float64
	// Ref is the rule's own memo carried from tick to tick (revision lag:
	// the revision the node has to reach).
	Ref int64
	// Target names the subject for people ("node de-1"); Message says
	// what is wrong in a sentence.
	Target  string
	Message string
}
