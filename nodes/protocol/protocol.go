// Package protocol is the wire protocol between the panel and its node agents.
// Both sides import it; docs/protocol.md describes it for humans.
//
// Version history (bump Version on any incompatible change and add a line):
//
//	1 (2026-11-26): hello/welcome, chunked snapshot, delta, ack, usage journal
//	                batches with sequence ranges, enforced, status; restart
//	                (additive: an agent that does not know it ignores it);
//	                logs / log_lines (additive the same way: a panel that
//	                asks an older agent for logs gets none).
//	1 (2026-12-06): additive, no bump: ack.code (typed refusal reason,
//	                was a "bad_state:" prefix in ack.error), hello.fenced
//	                (this agent's last session was taken over by another
//	                session with the same token), error code
//	                invalid_message; the panel bounds every node frame
//	                (validate.go) and refuses usage before hello.
//	1 (2026-12-06): additive, no bump: the panel's close frame carries the
//	                error code as a 4xxx status (ErrorCode.CloseStatus);
//	                a peer that does not know a status reads 1000's meaning.
//	1 (2026-12-06): no bump, below the protocol: the panel offers
//	                permessage-deflate and the agent asks for it in the
//	                WebSocket handshake; either side without it gets the
//	                same frames uncompressed.
//	1 (2026-12-06): additive, no bump: error code move (close status
//	                4005): a panel that drains on SIGTERM sends it; the
//	                node redials at once (an older agent redials with its
//	                usual backoff).
//	1 (2026-12-06): additive, no bump: usage.online (the source addresses
//	                each user was seen from in the last interval); a panel
//	                that does not know it ignores it, and an agent that does
//	                not send it leaves the panel's address list empty.
//	1 (2026-12-07): additive, no bump: user.per_device and user.devices
//	                (credentials per device, devices.go); usage
//	                reports name device identities "<email>#<device id>"
//	                (online reports name users). An agent that predates
//	                them refuses such states (its state hash lacks them):
//	                upgrade nodes before turning the mode on.
//	1 (2026-12-07): additive, no bump: status.certs (expiry of the
//	                certificate files the node's inbounds read), for the
//	                panel's certificate alert.
package protocol

import (
	"encoding/json"
	"strings"
	"time"
)

// Version is the one integer protocol version. A node and a panel that
// disagree refuse the session with a clear error instead of guessing.
const Version = 1

// WSPath is where the panel accepts node sessions.
const WSPath = "/api/node/ws"

// TokenHeader carries the node token on the WebSocket upgrade request, as
// TokenValue writes it and TokenFromValue reads it.
const TokenHeader = "Authorization"

const tokenScheme = "Bearer "

// TokenValue is the TokenHeader value that presents token.
func TokenValue(token string) string { return tokenScheme + token }

// TokenFromValue reads the token out of a TokenHeader value; ok is false
// when the value is not a bearer token or the token is empty.
func TokenFromValue(v string) (token string, ok bool) {
	token, ok = strings.CutPrefix(v, tokenScheme)
	return token, ok && token != ""
}

// Message types.
const (
	TypeHello    = "hello"    // node -> panel, first message
	TypeWelcome  = "welcome"  // panel -> node, answer to hello
	TypeSnapshot = "snapshot" // panel -> node, full desired state, chunked
	TypeDelta    = "delta"    // panel -> node, changes after a revision
	TypeAck      = "ack"      // node -> panel, revision applied and persisted
	TypeUsage    = "usage"    // node -> panel, journaled traffic batch
	TypeUsageAck = "usage_ack"
	TypeEnforced = "enforced" // node -> panel, users the node removed on its own
	TypeStatus   = "status"   // node -> panel, health and inbound errors
	TypeError    = "error"    // either way, fatal for the session
	TypeRestart  = "restart"  // panel -> node, the admin asked for a core restart
	TypeLogs     = "logs"     // panel -> node, start or stop streaming Xray's log lines
	TypeLogLines = "log_lines"
)

// Message is the one envelope on the wire: Type says which field is set.
type Message struct {
	Type     string    `json:"type"`
	Hello    *Hello    `json:"hello,omitempty"`
	Welcome  *Welcome  `json:"welcome,omitempty"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Delta    *Delta    `json:"delta,omitempty"`
	Ack      *Ack      `json:"ack,omitempty"`
	Usage    *Usage    `json:"usage,omitempty"`
	UsageAck *UsageAck `json:"usage_ack,omitempty"`
	Enforced *Enforced `json:"enforced,omitempty"`
	Status   *Status   `json:"status,omitempty"`
	Error    *Error    `json:"error,omitempty"`
	Logs     *Logs     `json:"logs,omitempty"`
	LogLines *LogLines `json:"log_lines,omitempty"`
}

// Logs turns the node's stream of Xray log lines on or off. The panel asks
// for it only while an admin watches the logs; a node streams nothing
// otherwise, and stops by itself when the session ends.
type Logs struct {
	On bool `json:"on"`
}

// LogLines is a batch of Xray log lines, oldest first, each prefixed with
// the node's time. Dropped counts lines the node threw away since the last
// batch because the session could not keep up: logs never slow the node.
type LogLines struct {
	Lines   []string `json:"lines"`
	Dropped int64    `json:"dropped,omitempty"`
}

// Hello opens a session.
type Hello struct {
	Protocol        int    `json:"protocol"`
	NodeID          int64  `json:"node_id"`
	AppliedRevision int64  `json:"applied_revision"`
	StateHash       string `json:"state_hash"`
	AgentVersion    string `json:"agent_version"`
	XrayVersion     string `json:"xray_version"`
	// Fenced says this agent's previous session ended because another
	// session with the same token took over: two agents share the token.
	Fenced bool `json:"fenced,omitempty"`
}

// Welcome accepts a session. UsageAckedSeq is the last usage sequence number
// the panel has recorded for this node: the node drops journal entries up to
// it and resends the rest, so a batch whose ack was lost is never counted twice.
type Welcome struct {
	Protocol      int   `json:"protocol"`
	NodeID        int64 `json:"node_id"`
	UsageAckedSeq int64 `json:"usage_acked_seq"`
	// PingSeconds is how often the panel pings; the node treats silence for
	// three intervals as a dead session.
	PingSeconds int `json:"ping_seconds"`
	// UsageSeconds is how often the node should read and journal counters.
	UsageSeconds int `json:"usage_seconds"`
}

// Account credentials of a user, per protocol.
type VLESS struct {
	ID   string `json:"id"`
	Flow string `json:"flow,omitempty"`
}

type VMess struct {
	ID string `json:"id"`
}

type Trojan struct {
	Password string `json:"password"`
}

type Shadowsocks struct {
	Password string `json:"password"`
	Method   string `json:"method"`
}

// User is a user as a node needs it: credentials, and what the node enforces
// on its own while the panel is away. A user is present in every inbound whose
// protocol it has credentials for, except the tags in Excluded; so a new
// inbound in the core config reaches every user without touching user records.
type User struct {
	ID          int64        `json:"id"`
	Email       string       `json:"email"` // "<id>.<username>", the Xray identity
	Excluded    []string     `json:"excluded,omitempty"`
	VLESS       *VLESS       `json:"vless,omitempty"`
	VMess       *VMess       `json:"vmess,omitempty"`
	Trojan      *Trojan      `json:"trojan,omitempty"`
	Shadowsocks *Shadowsocks `json:"shadowsocks,omitempty"`
	// Expire is a unix time in seconds; 0 means never.
	Expire int64 `json:"expire,omitempty"`
	// BytesLeft is what the user may still move, counted from the revision
	// that carried this value; nil means unlimited.
	BytesLeft *int64 `json:"bytes_left,omitempty"`
	// PerDevice: the user is not installed under its own credentials; each
	// of Devices (device ids, ascending) is an Xray identity of its own with
	// credentials derived from the user's (devices.go). Expire and
	// BytesLeft hold for the user over all its identities. An agent that
	// predates these fields drops them when decoding, so its state hash
	// differs from the panel's: it refuses the state with bad_state and
	// keeps its last-known-good one.
	PerDevice bool    `json:"per_device,omitempty"`
	Devices   []int64 `json:"devices,omitempty"`
}

// Snapshot is the full desired state at Revision, sent in chunks. The first
// chunk (Chunk == 0) carries Config; every chunk carries a slice of Users;
// the chunk with Last set ends it. The node applies nothing until Last.
type Snapshot struct {
	Revision  int64           `json:"revision"`
	StateHash string          `json:"state_hash"`
	Chunk     int             `json:"chunk"`
	Last      bool            `json:"last"`
	Config    json.RawMessage `json:"config,omitempty"`
	Users     []User          `json:"users"`
}

// Delta moves a node from FromRevision to Revision. Config is set only when
// the core config changed. Removes lists emails.
type Delta struct {
	FromRevision int64           `json:"from_revision"`
	Revision     int64           `json:"revision"`
	StateHash    string          `json:"state_hash"`
	Config       json.RawMessage `json:"config,omitempty"`
	Upserts      []User          `json:"upserts,omitempty"`
	Removes      []string        `json:"removes,omitempty"`
}

// Ack says the node persisted and applied Revision. Error is set when the
// state was refused (the node keeps its last-known-good state); InboundErrors
// lists inbounds that could not start (port taken, ...) by tag.
type Ack struct {
	Revision  int64  `json:"revision"`
	StateHash string `json:"state_hash"`
	Error     string `json:"error,omitempty"`
	// Code is the typed reason of a refusal (ErrCodeBadState: send a
	// snapshot; ErrCodeRefused: the state does not build or apply). Read
	// it with RefusalCode, which also understands agents that predate it.
	Code          ErrorCode         `json:"code,omitempty"`
	InboundErrors map[string]string `json:"inbound_errors,omitempty"`
}

// UserTraffic is bytes moved by one user.
type UserTraffic struct {
	Email    string `json:"email"`
	Uplink   int64  `json:"up"`
	Downlink int64  `json:"down"`
}

// Usage carries the journal entries with sequence numbers in (FromSeq, ToSeq],
// merged per user. The panel counts it only if ToSeq is past what it recorded.
type Usage struct {
	FromSeq int64         `json:"from_seq"`
	ToSeq   int64         `json:"to_seq"`
	At      int64         `json:"at"` // unix seconds of the newest entry
	Users   []UserTraffic `json:"users"`
	// Online, when set, lists the source addresses users were seen from
	// since the node's last report. It is not journaled: a batch resent
	// after a lost session may carry none, and no traffic is counted from
	// it. Older panels ignore it.
	Online *Online `json:"online,omitempty"`
}

// Online is a sample of who is connected from where: the addresses of each
// user's live connections (Xray's per-user online map, statsUserOnline),
// merged over the samples the node took since its last report, at most
// MaxOnlineAddrs per user.
type Online struct {
	At    int64        `json:"at"` // unix seconds of the newest sample
	Users []UserOnline `json:"users"`
}

// DefaultOnlineEvery is how often a node samples who is online when the
// panel's welcome gave no usage_seconds (none yet, or an interval under a
// second); otherwise it samples every usage_seconds. The panel counts
// addresses seen within two sampling intervals as "at once".
const DefaultOnlineEvery = 10 * time.Second

// OnlineEvery is how often nodes sample who is online for a panel whose
// usage interval is usageEvery (what it sends as usage_seconds).
func OnlineEvery(usageEvery time.Duration) time.Duration {
	if usageEvery < time.Second {
		return DefaultOnlineEvery
	}
	return usageEvery.Truncate(time.Second)
}

// UserOnline is one user's source addresses (IPv4 or IPv6, no port).
type UserOnline struct {
	Email string   `json:"email"`
	IPs   []string `json:"ips"`
}

// UsageAck lets the node delete journal entries up to Seq.
type UsageAck struct {
	Seq int64 `json:"seq"`
}

// EnforcedUser is a user the node removed on its own.
type EnforcedUser struct {
	Email  string `json:"email"`
	Reason string `json:"reason"` // "expired" or "limited"
	At     int64  `json:"at"`
}

// Enforced reports local removals since the last report.
type Enforced struct {
	Users []EnforcedUser `json:"users"`
}

// Status is the node's health, sent after each apply and periodically.
type Status struct {
	AppliedRevision int64             `json:"applied_revision"`
	Users           int               `json:"users"`
	JournalBacklog  int               `json:"journal_backlog"`
	InboundErrors   map[string]string `json:"inbound_errors,omitempty"`
	Message         string            `json:"message,omitempty"`
	XrayVersion     string            `json:"xray_version,omitempty"`
	// CoreRestarts counts the agent's Xray restarts since it started
	// (panels before it ignore the field).
	CoreRestarts int `json:"core_restarts,omitempty"`
	// Certs are the TLS certificates the node's inbounds read from its
	// own disk (certificateFile), at most MaxStatusCerts (panels before
	// it ignore the field).
	Certs []CertExpiry `json:"certs,omitempty"`
}

// CertExpiry is one certificate file an inbound of the node's config
// names: when its leaf expires, or why it could not be read.
type CertExpiry struct {
	Inbound string `json:"inbound"` // the inbound's tag
	File    string `json:"file"`
	// NotAfter is the leaf's expiry, unix seconds; 0 when Error is set.
	NotAfter int64  `json:"not_after,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Error ends a session with a reason (bad protocol version, fenced, ...).
// Code is for programs, Message for people.
type Error struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
}

// Error makes a received error frame a Go error, so the side that got it
// can return it (wrapped with who sent it) and its caller can read the
// code with errors.As.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// ErrorCode is the typed reason in error.code (session-ending) and
// ack.code (refusals). Unknown codes from a newer peer are kept as they are.
type ErrorCode string

// Error codes.
const (
	ErrCodeProtocol ErrorCode = "protocol_mismatch"
	ErrCodeFenced   ErrorCode = "fenced"          // a newer session for this node took over
	ErrCodeBadState ErrorCode = "bad_state"       // ack: the node must get a snapshot
	ErrCodeRefused  ErrorCode = "refused"         // ack: the state does not build or apply
	ErrCodeInvalid  ErrorCode = "invalid_message" // a frame broke the protocol (bounds, order)
	ErrCodeClosed   ErrorCode = "closed"          // the panel ended the session (node deleted, token rotated)
	// ErrCodeMove: the panel is shutting down (SIGTERM, a rolling
	// upgrade); the node redials at once, with no backoff, and with
	// several panel addresses dials the next one first.
	ErrCodeMove ErrorCode = "move"
)

// WebSocket close statuses (the private range 4000-4999) that carry a
// session-ending code in the close frame too, so a node whose error frame
// was lost (a write deadline, a proxy in between) still learns it.
var closeStatuses = map[ErrorCode]int{
	ErrCodeProtocol: 4001,
	ErrCodeFenced:   4002,
	ErrCodeInvalid:  4003,
	ErrCodeClosed:   4004,
	ErrCodeMove:     4005,
}

// CloseStatus is the WebSocket close status that ends a session for code;
// 1000 (normal closure) for no code or one without a status of its own.
func (c ErrorCode) CloseStatus() int {
	if st, ok := closeStatuses[c]; ok {
		return st
	}
	return 1000
}

// CodeOfCloseStatus reads a close status back; ok is false for a status
// that names no code.
func CodeOfCloseStatus(status int) (ErrorCode, bool) {
	for c, st := range closeStatuses {
		if st == status {
			return c, true
		}
	}
	return "", false
}
