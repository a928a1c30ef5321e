package alerts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Rule names: the "rule" of an alert, its webhook payload and the label of
// outpost_alerts_active.
const (
	RuleNodeOffline     = "node_offline"
	RuleRevisionLag     = "node_revision_lag"
	RuleJournalBacklog  = "node_journal_backlog"
	RuleCertExpiry      = "cert_expiry"
	subjectPanel        = "panel"
	healthFreshness     = 3 * time.Minute // a status report older than this says nothing of the node now
	secondsPerDay       = 24 * 3600
	subjectNodePrefix   = "node:"
	subjectInboundPrefx = "inbound:"
)

// Rules lists every rule, in the order the dashboard shows them.
var Rules = []string{RuleNodeOffline, RuleRevisionLag, RuleJournalBacklog, RuleCertExpiry}

// Snapshot is what one evaluation looks at: the nodes as the directory and
// the hub know them, the panel's revision and the certificates the panel
// knows of. Building it costs O(nodes) and reads nothing per user.
type Snapshot struct {
	Now time.Time
	// Head is the revision nodes are brought to (the hub's desired
	// state); 0 when not known yet, which leaves revision lag as stored.
	Head  int64
	Nodes []NodeView
	Certs []CertView
	// CertsUnknown are the nodes whose certificate files are not known
	// this tick (no status report heard): their certificate alerts stay
	// as stored rather than resolve.
	CertsUnknown map[int64]bool
}

// NodeView is one node at evaluation time.
type NodeView struct {
	ID       int64
	Name     string
	Disabled bool
	// Connected: some replica holds a live session for it.
	Connected bool
	// LastSeen is the last time a session of it wrote its status (nil:
	// never connected).
	LastSeen *time.Time
	Applied  int64 // acknowledged revision
	// Health is its last status report, when one was heard.
	Health *Health
}

// nodeCertSubject is the subject of a certificate file a node's inbound
// reads: "node:<id>:cert:<inbound>:<file>".
func nodeCertSubject(id int64, inbound, file string) string {
	return nodeSubject(id) + ":cert:" + inbound + ":" + file
}

// nodeOfCertSubject reads the node id back out of a nodeCertSubject.
func nodeOfCertSubject(subject string) (int64, bool) {
	rest, ok := strings.CutPrefix(subject, subjectNodePrefix)
	if !ok {
		return 0, false
	}
	idStr, _, ok := strings.Cut(rest, ":cert:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	return id, err == nil
}

// Health is the part of a node's status report the rules read.
type Health struct {
	JournalBacklog int
	ReportedAt     time.Time
}

// CertView is one TLS certificate the panel knows of.
type CertView struct {
	Subject  string // "panel", "inbound:<tag>"
	Target   string // for people
	NotAfter time.Time
}

// observation is what a rule says of one subject this tick.
type observation struct {
	alert model.Alert // Rule, Subject, Target, Since, Value, Threshold, Ref, Message
	// known false: the rule cannot tell now (a node without a fresh
	// report); its stored state stays as it is.
	known bool
	holds bool // the condition holds
	fire  bool // ... and long (or far) enough to fire
	// resolved is the message of the resolution, if the stored alert
	// ends this tick.
	resolved string
}

// backlogTrack is the journal backlog rule's memory of one node: its last
// report and how many reports in a row rose. It lives in the evaluator's
// memory; a new leader starts counting afresh (it only delays a rising
// alert, and a fired one is in the database).
type backlogTrack struct {
	last   int
	at     time.Time
	streak int
}

func nodeSubject(id int64) string  { return subjectNodePrefix + strconv.FormatInt(id, 10) }
func nodeTarget(n NodeView) string { return "node " + n.Name }

// duration renders d for a message: "45s", "7m", "2h5m".
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// offlineRule: a node that has connected before is offline for
// NodeOfflineSeconds. The time counts from its last status write, or from
// when this evaluator started if that is later, so a panel that was down
// itself does not blame every node for its own absence.
func offlineRule(snap *Snapshot, set state.AlertSettings, started time.Time) []observation {
	limit := time.Duration(set.NodeOfflineSeconds) * time.Second
	if limit <= 0 {
		return nil
	}
	out := make([]observation, 0, len(snap.Nodes))
	for _, n := range snap.Nodes {
		o := observation{known: true, alert: model.Alert{Rule: RuleNodeOffline, Subject: nodeSubject(n.ID), Target: nodeTarget(n),
			Threshold: limit.Seconds()}}
		switch {
		case n.Disabled:
			o.resolved = n.Name + " was disabled"
		case n.Connected:
			o.resolved = fmt.Sprintf("node %s is back online", n.Name)
		case n.LastSeen == nil:
			o.resolved = fmt.Sprintf("node %s has not connected since it was created", n.Name)
		default:
			since := n.LastSeen.UTC()
			if started.After(since) {
				since = started
			}
			off := max(snap.Now.Sub(since), 0)
			o.holds, o.fire = true, off >= limit
			o.alert.Since = since
			o.alert.Value = math.Round(off.Seconds())
			o.alert.Message = fmt.Sprintf("node %s offline for %s (threshold %s)", n.Name, duration(off), duration(limit))
		}
		out = append(out, o)
	}
	return out
}

// unknownNodeCerts keeps the stored certificate alerts of nodes whose
// certificates are not known this tick as they are: a node that went
// offline (or a leader that has not heard from it yet) neither resolves
// nor fires them.
func unknownNodeCerts(snap *Snapshot, stored map[key]model.Alert) []observation {
	if len(snap.CertsUnknown) == 0 {
		return nil
	}
	var out []observation
	for k, a := range stored {
		if k.rule != RuleCertExpiry {
			continue
		}
		if id, ok := nodeOfCertSubject(k.subject); ok && snap.CertsUnknown[id] {
			out = append(out, observation{known: false, alert: a})
		}
	}
	return out
}

// revisionLagRule: a connected node is more than RevisionLagRevisions
// behind the panel's revision, or has not reached, RevisionLagSeconds
// later, the revision the panel was at when it fell behind. The revision
// to reach is the alert's Ref, kept in the database with its Since, so a
// node that keeps up with a busy panel (always a revision or two behind for
// a moment) never counts as lagging, and a new leader keeps the clock.
func revisionLagRule(snap *Snapshot, set state.AlertSettings, stored map[key]model.Alert) []observation {
	byCount, byTime := set.RevisionLagRevisions, time.Duration(set.RevisionLagSeconds)*time.Second
	if byCount <= 0 && byTime <= 0 {
		return nil
	}
	out := make([]observation, 0, len(snap.Nodes))
	for _, n := range snap.Nodes {
		subject := nodeSubject(n.ID)
		o := observation{known: true, alert: model.Alert{Rule: RuleRevisionLag, Subject: subject, Target: nodeTarget(n),
			Threshold: float64(byCount)}}
		if !n.Disabled && (!n.Connected || snap.Head == 0) {
			// An offline node is the offline rule's; its lag state waits,
			// as does every node's while the hub has not loaded.
			o.known = false
			out = append(out, o)
			continue
		}
		lag := max(snap.Head-n.Applied, 0)
		o.alert.Value = float64(lag)
		if n.Disabled || lag == 0 {
			o.resolved = fmt.Sprintf("node %s caught up with revision %d", n.Name, n.Applied)
			out = append(out, o)
			continue
		}
		prev, tracked := stored[key{RuleRevisionLag, subject}]
		overCount := byCount > 0 && lag > byCount
		if tracked && n.Applied < prev.Ref {
			// Still short of the revision it fell behind at.
			o.alert.Since, o.alert.Ref = prev.Since, prev.Ref
		} else if tracked && prev.FiredAt != nil && !overCount {
			// It reached that revision: the alert resolves, and a new
			// clock starts next tick if it is behind again.
			o.resolved = fmt.Sprintf("node %s reached revision %d", n.Name, prev.Ref)
			out = append(out, o)
			continue
		} else {
			o.alert.Since, o.alert.Ref = snap.Now, snap.Head
		}
		behind := snap.Now.Sub(o.alert.Since)
		o.holds = true
		o.fire = overCount || (byTime > 0 && behind >= byTime)
		o.alert.Message = fmt.Sprintf("node %s is %d revisions behind the panel (at %d of %d) and has not reached revision %d for %s",
			n.Name, lag, n.Applied, snap.Head, o.alert.Ref, duration(behind))
		out = append(out, o)
	}
	return out
}

// backlogRule: a connected node's usage journal backlog is at least
// BacklogSize, or rose in BacklogReports status reports in a row (a
// report equal to the one before neither counts nor breaks the run; a
// smaller one breaks it).
func backlogRule(snap *Snapshot, set state.AlertSettings, tracks map[int64]*backlogTrack) []observation {
	size, reports := set.BacklogSize, set.BacklogReports
	if size <= 0 && reports <= 0 {
		clear(tracks)
		return nil
	}
	out := make([]observation, 0, len(snap.Nodes))
	seen := make(map[int64]bool, len(snap.Nodes))
	for _, n := range snap.Nodes {
		seen[n.ID] = true
		o := observation{known: true, alert: model.Alert{Rule: RuleJournalBacklog, Subject: nodeSubject(n.ID), Target: nodeTarget(n),
			Threshold: float64(size), Since: snap.Now}}
		if n.Disabled {
			o.resolved = n.Name + " was disabled"
			out = append(out, o)
			continue
		}
		if !n.Connected || n.Health == nil || snap.Now.Sub(n.Health.ReportedAt) > healthFreshness {
			o.known = false
			out = append(out, o)
			continue
		}
		b := n.Health.JournalBacklog
		t := tracks[n.ID]
		if t == nil {
			t = &backlogTrack{last: b, at: n.Health.ReportedAt}
			tracks[n.ID] = t
		} else if n.Health.ReportedAt.After(t.at) {
			switch {
			case b > t.last:
				t.streak++
			case b < t.last || b == 0:
				t.streak = 0
			}
			t.last, t.at = b, n.Health.ReportedAt
		}
		overSize := size > 0 && int64(b) >= size
		rising := reports > 0 && int64(t.streak) >= reports
		o.alert.Value = float64(b)
		if overSize || rising {
			o.holds, o.fire = true, true
			why := fmt.Sprintf("at least %d", size)
			if !overSize {
				why = fmt.Sprintf("rising in %d reports in a row", t.streak)
			}
			o.alert.Message = fmt.Sprintf("node %s holds %d usage journal entries unacknowledged (%s)", n.Name, b, why)
		} else {
			o.resolved = fmt.Sprintf("node %s's usage journal backlog is down to %d", n.Name, b)
		}
		out = append(out, o)
	}
	for id := range tracks {
		if !seen[id] {
			delete(tracks, id)
		}
	}
	return out
}

// certRule: a certificate expires within CertExpiryDays (or has expired).
func certRule(snap *Snapshot, set state.AlertSettings) []observation {
	if set.CertExpiryDays <= 0 {
		return nil
	}
	within := time.Duration(set.CertExpiryDays) * 24 * time.Hour
	out := make([]observation, 0, len(snap.Certs))
	for _, c := range snap.Certs {
		left := c.NotAfter.Sub(snap.Now)
		days := math.Floor(left.Seconds() / secondsPerDay)
		o := observation{known: true, alert: model.Alert{Rule: RuleCertExpiry, Subject: c.Subject, Target: c.Target,
			Threshold: float64(set.CertExpiryDays), Value: days, Since: snap.Now}}
		if left <= within {
			o.holds, o.fire = true, true
			when := c.NotAfter.UTC().Format("2006-01-02 15:04 UTC")
			if left <= 0 {
				o.alert.Message = fmt.Sprintf("the TLS certificate of %s expired on %s", c.Target, when)
			} else {
				o.alert.Message = fmt.Sprintf("the TLS certificate of %s expires on %s, in %d days (threshold %d)", c.Target, when, int(days), set.CertExpiryDays)
			}
		} else {
			o.resolved = fmt.Sprintf("the TLS certificate of %s is valid until %s", c.Target, c.NotAfter.UTC().Format("2006-01-02"))
		}
		out = append(out, o)
	}
	return out
}
