package protocol

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// Bounds on what a node may send. Every number a node sends has a range,
// checked here and only here (the panel calls Message.ValidateFromNode on
// every frame); a frame outside them breaks the protocol and ends the
// session with an error of code ErrCodeInvalid. Panel-to-node frames
// (snapshots, deltas) are not bound by MaxNodeFrameBytes.
const (
	// MaxNodeFrameBytes caps one frame from a node. The largest frame a
	// node needs is a usage batch: MaxUsageUsers users at about 120 bytes
	// each with the longest emails and 19-digit counters.
	MaxNodeFrameBytes = 16 << 20
	// MaxUsageUsers is how many users one usage batch may carry. The agent
	// stops merging journal entries into a batch once it holds this many.
	MaxUsageUsers = 100_000
	// MaxUsageSeqAdvance is how far one usage batch may move the node's
	// sequence: the agent merges at most UsageBatchEntries journal entries,
	// and only a panel database restored behind the node's trimmed journal
	// shows a wider gap. A batch can never push the sequence near 2^63.
	MaxUsageSeqAdvance = 1 << 20
	// UsageBatchEntries is how many journal entries the agent merges into
	// one batch at most.
	UsageBatchEntries = 500
	// MaxBatchBytes caps the bytes one batch may report, per direction,
	// summed over its users: 2^50 bytes (1 PiB) is 16 times what a
	// 100 Gbit/s node moves in the 500 ten-second intervals a batch merges
	// at most, so a batch covering a long outage still fits, while no sum
	// of batches can wrap a 64-bit counter in any plausible lifetime.
	MaxBatchBytes = 1 << 50
	// MaxEmailBytes bounds an email ("<id>.<username>") on the wire.
	MaxEmailBytes = 256
	// MaxUnixTime is the last second of year 9999.
	MaxUnixTime = 253402300799
	// MaxLogLinesPerBatch and MaxLogLineBytes bound a log_lines batch
	// (the agent sends at most 256 lines a batch).
	MaxLogLinesPerBatch = 1024
	MaxLogLineBytes     = 8 << 10
	// MaxTextBytes bounds free text a node sends (ack errors, status
	// messages, versions, inbound errors).
	MaxTextBytes = 4 << 10
	// MaxStatusCerts bounds status.certs, and MaxCertNameBytes the
	// inbound tag and file path of one.
	MaxStatusCerts   = 256
	MaxCertNameBytes = 1024
	// MaxInboundErrors bounds the inbound_errors map.
	MaxInboundErrors = 1024
	// MaxEnforcedUsers bounds one enforced report.
	MaxEnforcedUsers = 1_000_000
	// MaxOnlineUsers bounds the users of one online report, and
	// MaxOnlineAddrs the addresses of one user in it: the node keeps the
	// first it saw past that, the panel keeps at most as many per user.
	MaxOnlineUsers = 100_000
	MaxOnlineAddrs = 64
	// MaxOnlineAddrsTotal bounds the addresses of one report summed over
	// its users, so a report stays well inside MaxNodeFrameBytes.
	MaxOnlineAddrsTotal = 200_000
)

// ErrInvalid is what every refusal wraps.
var ErrInvalid = errors.New("invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}

func checkText(field, s string) error {
	if len(s) > MaxTextBytes {
		return invalid("%s is %d bytes, more than %d", field, len(s), MaxTextBytes)
	}
	return nil
}

func checkInboundErrors(m map[string]string) error {
	if len(m) > MaxInboundErrors {
		return invalid("%d inbound errors, more than %d", len(m), MaxInboundErrors)
	}
	for tag, e := range m {
		if err := checkText("inbound tag", tag); err != nil {
			return err
		}
		if err := checkText("inbound error", e); err != nil {
			return err
		}
	}
	return nil
}

// ValidateFromNode checks a frame a node sent: a known node-to-panel type
// with its body, every number in range. It does not know the session:
// sequencing against what the panel recorded is the hub's (one place).
func (m *Message) ValidateFromNode() error {
	switch m.Type {
	case TypeHello:
		if m.Hello == nil {
			return invalid("hello without body")
		}
		return m.Hello.Validate()
	case TypeAck:
		if m.Ack == nil {
			return invalid("ack without body")
		}
		return m.Ack.Validate()
	case TypeUsage:
		if m.Usage == nil {
			return invalid("usage without body")
		}
		return m.Usage.Validate()
	case TypeEnforced:
		if m.Enforced == nil {
			return nil
		}
		return m.Enforced.Validate()
	case TypeStatus:
		if m.Status == nil {
			return nil
		}
		return m.Status.Validate()
	case TypeLogLines:
		if m.LogLines == nil {
			return nil
		}
		return m.LogLines.Validate()
	case TypeError:
		if m.Error != nil {
			if err := checkText("error code", string(m.Error.Code)); err != nil {
				return err
			}
			return checkText("error message", m.Error.Message)
		}
		return nil
	default:
		return invalid("message type %q is not one a node sends", m.Type)
	}
}

// Validate checks a hello's numbers and text.
func (h *Hello) Validate() error {
	if h.NodeID < 0 {
		return invalid("hello: negative node_id")
	}
	if h.AppliedRevision < 0 {
		return invalid("hello: negative applied_revision")
	}
	for f, s := range map[string]string{"state_hash": h.StateHash, "agent_version": h.AgentVersion, "xray_version": h.XrayVersion} {
		if err := checkText("hello: "+f, s); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks an ack.
func (a *Ack) Validate() error {
	if a.Revision < 0 {
		return invalid("ack: negative revision")
	}
	switch a.Code {
	case "", ErrCodeBadState, ErrCodeRefused:
	default:
		return invalid("ack: unknown code %q", a.Code)
	}
	if err := checkText("ack: state_hash", a.StateHash); err != nil {
		return err
	}
	if err := checkText("ack: error", a.Error); err != nil {
		return err
	}
	return checkInboundErrors(a.InboundErrors)
}

// Validate checks a usage batch on its own: a sequence range that starts
// at or after zero, ends after it starts and moves at most
// MaxUsageSeqAdvance; non-negative bytes whose sums per direction stay
// within MaxBatchBytes; a bounded number of users with bounded emails.
func (u *Usage) Validate() error {
	if u.FromSeq < 0 || u.ToSeq <= u.FromSeq {
		return invalid("usage: sequence range (%d, %d]", u.FromSeq, u.ToSeq)
	}
	if u.ToSeq-u.FromSeq > MaxUsageSeqAdvance {
		return invalid("usage: sequence range (%d, %d] moves more than %d", u.FromSeq, u.ToSeq, MaxUsageSeqAdvance)
	}
	if u.At < 0 || u.At > MaxUnixTime {
		return invalid("usage: at %d out of range", u.At)
	}
	if len(u.Users) > MaxUsageUsers {
		return invalid("usage: %d users, more than %d", len(u.Users), MaxUsageUsers)
	}
	var up, down int64
	for _, t := range u.Users {
		if len(t.Email) > MaxEmailBytes {
			return invalid("usage: email of %d bytes", len(t.Email))
		}
		if t.Uplink < 0 || t.Downlink < 0 {
			return invalid("usage: negative traffic for %q", t.Email)
		}
		up, down = AddSaturating(up, t.Uplink), AddSaturating(down, t.Downlink)
		if up > MaxBatchBytes || down > MaxBatchBytes {
			return invalid("usage: more than %d bytes in one direction in one batch", int64(MaxBatchBytes))
		}
	}
	if u.Online != nil {
		return u.Online.Validate()
	}
	return nil
}

// Validate checks an online report: bounded users and addresses, each
// address an IP literal without zone or port.
func (o *Online) Validate() error {
	if o.At < 0 || o.At > MaxUnixTime {
		return invalid("online: at %d out of range", o.At)
	}
	if len(o.Users) > MaxOnlineUsers {
		return invalid("online: %d users, more than %d", len(o.Users), MaxOnlineUsers)
	}
	total := 0
	for _, u := range o.Users {
		if len(u.Email) > MaxEmailBytes {
			return invalid("online: email of %d bytes", len(u.Email))
		}
		if len(u.IPs) > MaxOnlineAddrs {
			return invalid("online: %d addresses for %q, more than %d", len(u.IPs), u.Email, MaxOnlineAddrs)
		}
		total += len(u.IPs)
		if total > MaxOnlineAddrsTotal {
			return invalid("online: more than %d addresses", MaxOnlineAddrsTotal)
		}
		for _, ip := range u.IPs {
			if a, err := netip.ParseAddr(ip); len(ip) > 64 || err != nil || a.Zone() != "" {
				return invalid("online: %q is not an IP address", ip)
			}
		}
	}
	return nil
}

// Validate checks an enforced report.
func (e *Enforced) Validate() error {
	if len(e.Users) > MaxEnforcedUsers {
		return invalid("enforced: %d users", len(e.Users))
	}
	for _, u := range e.Users {
		if len(u.Email) > MaxEmailBytes || len(u.Reason) > MaxTextBytes {
			return invalid("enforced: oversized entry")
		}
		if u.At < 0 || u.At > MaxUnixTime {
			return invalid("enforced: at %d out of range", u.At)
		}
	}
	return nil
}

// Validate checks a status report.
func (s *Status) Validate() error {
	if s.AppliedRevision < 0 || s.Users < 0 || s.JournalBacklog < 0 || s.CoreRestarts < 0 {
		return invalid("status: negative count")
	}
	if err := checkText("status: message", s.Message); err != nil {
		return err
	}
	if err := checkText("status: xray_version", s.XrayVersion); err != nil {
		return err
	}
	if len(s.Certs) > MaxStatusCerts {
		return invalid("status: %d certificates, more than %d", len(s.Certs), MaxStatusCerts)
	}
	for _, c := range s.Certs {
		if c.NotAfter < 0 || c.NotAfter > MaxUnixTime {
			return invalid("status: certificate not_after %d out of range", c.NotAfter)
		}
		if len(c.Inbound) > MaxCertNameBytes || len(c.File) > MaxCertNameBytes {
			return invalid("status: certificate inbound or file longer than %d bytes", MaxCertNameBytes)
		}
		if err := checkText("status: certificate error", c.Error); err != nil {
			return err
		}
	}
	return checkInboundErrors(s.InboundErrors)
}

// Validate checks a log batch.
func (l *LogLines) Validate() error {
	if l.Dropped < 0 {
		return invalid("log_lines: negative dropped")
	}
	if len(l.Lines) > MaxLogLinesPerBatch {
		return invalid("log_lines: %d lines, more than %d", len(l.Lines), MaxLogLinesPerBatch)
	}
	for _, line := range l.Lines {
		if len(line) > MaxLogLineBytes {
			return invalid("log_lines: a line of %d bytes, more than %d", len(line), MaxLogLineBytes)
		}
	}
	return nil
}

// AddSaturating adds two non-negative counters, stopping at MaxInt64.
func AddSaturating(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// RefusalCode is the typed reason of a refused ack. Agents before the code
// field (2026-12-06) put "bad_state: " at the start of Error; that one
// prefix is still read, here only, so they keep getting snapshots.
func (a *Ack) RefusalCode() ErrorCode {
	if a.Code != "" || a.Error == "" {
		return a.Code
	}
	if strings.HasPrefix(a.Error, string(ErrCodeBadState)+":") {
		return ErrCodeBadState
	}
	return ErrCodeRefused
}
