// Package alerts evaluates the fleet alert rules (node offline, revision
// lag, usage journal backlog, certificate expiry) on a tick, as a job of
// the jobs scheduler: only the replica holding the jobs lease evaluates,
// so two replicas never both send an alert.
//
// One tick reads the nodes (one query), the panel's revision, the node
// hub's presence and health (in memory, with Redis one presence probe per
// node) and the certificates the panel knows of: O(nodes), never O(users).
// It compares what holds with the alert state in the database and records
// the differences in one transaction (state.ApplyAlerts), which also
// enqueues alert.fired and alert.resolved in the webhook outbox, so they go
// to every configured webhook and chat. The state being in the database,
// a new leader neither fires again what fired nor forgets how long a
// condition has held.
package alerts

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/xrayconf"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// DefaultEvery is how often the rules are evaluated.
const DefaultEvery = 30 * time.Second

// JobName is the evaluator's name among the scheduler's jobs.
const JobName = "alerts"

// Store is the part of the panel's state the evaluator reads and writes
// (*state.State).
type Store interface {
	Nodes(ctx context.Context) ([]model.Node, error)
	Inbounds(ctx context.Context) ([]xrayconf.Inbound, error)
	AlertSettings(ctx context.Context) (state.AlertSettings, error)
	Alerts(ctx context.Context) ([]model.Alert, error)
	ApplyAlerts(ctx context.Context, t state.AlertTransitions) (fired, resolved []model.Alert, err error)
}

// Fleet is what the node hub knows of live sessions and of the revision
// nodes are brought to (*hub.Hub).
type Fleet interface {
	Connected(nodeID int64) bool
	Health(nodeID int64) (hub.NodeHealth, bool)
	// DesiredRevision is the hub's revision (0: not loaded yet).
	DesiredRevision() int64
}

// Options configure an Evaluator.
type Options struct {
	// PanelCert is the leaf of the certificate the panel serves HTTPS
	// with (nil without TLS).
	PanelCert *x509.Certificate
	Now       func() time.Time
	Log       *slog.Logger
}

// Evaluator runs the rules.
type Evaluator struct {
	st    Store
	fleet Fleet
	opts  Options
	// started is when this evaluator began: offline time counts from no
	// earlier (rules.go, offlineRule).
	started time.Time

	// mu guards backlog, the only memory a tick changes. It is a leaf:
	// held only while the rules run on a snapshot already read, never
	// while calling the store or the hub. Ticks may overlap (a lease
	// handover): the store's conditional writes make each transition once.
	mu      sync.Mutex
	backlog map[int64]*backlogTrack
}

// New builds an evaluator.
func New(st Store, fleet Fleet, opts Options) *Evaluator {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Evaluator{st: st, fleet: fleet, opts: opts, started: opts.Now().UTC(), backlog: map[int64]*backlogTrack{}}
}

// Job is the evaluator as a scheduler job run every every (DefaultEvery
// when 0).
func (e *Evaluator) Job(every time.Duration) jobs.Job {
	if every <= 0 {
		every = DefaultEvery
	}
	return jobs.Job{Name: JobName, Every: every, Run: func(ctx context.Context) error {
		_, _, err := e.Tick(ctx)
		return err
	}}
}

// key is a rule and a subject: one alert.
type key struct{ rule, subject string }

// Tick evaluates every rule once and records what changed. It returns the
// alerts it fired and resolved.
func (e *Evaluator) Tick(ctx context.Context) (fired, resolved []model.Alert, err error) {
	set, err := e.st.AlertSettings(ctx)
	if err != nil {
		return nil, nil, err
	}
	snap, err := e.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	rows, err := e.st.Alerts(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading alert state: %w", err)
	}
	stored := make(map[key]model.Alert, len(rows))
	for _, a := range rows {
		stored[key{a.Rule, a.Subject}] = a
	}
	t := e.diff(snap, set, stored)
	fired, resolved, err = e.st.ApplyAlerts(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range fired {
		e.opts.Log.Warn("alert fired", "rule", a.Rule, "subject", a.Subject, "message", a.Message)
	}
	for _, a := range resolved {
		e.opts.Log.Info("alert resolved", "rule", a.Rule, "subject", a.Subject, "message", a.Message)
	}
	return fired, resolved, nil
}

// diff compares the rules' observations with the stored state.
func (e *Evaluator) diff(snap *Snapshot, set state.AlertSettings, stored map[key]model.Alert) state.AlertTransitions {
	var obs []observation
	obs = append(obs, offlineRule(snap, set, e.started)...)
	obs = append(obs, revisionLagRule(snap, set, stored)...)
	e.mu.Lock()
	obs = append(obs, backlogRule(snap, set, e.backlog)...)
	e.mu.Unlock()
	obs = append(obs, certRule(snap, set)...)
	if set.CertExpiryDays > 0 {
		obs = append(obs, unknownNodeCerts(snap, stored)...)
	}
	return transitions(snap.Now, obs, stored)
}

// transitions turns observations into the writes that make the stored
// state match: a condition that began is stored pending (or fired at once),
// a pending one fires when the rule says, a tracked one that no longer
// holds is dropped (resolved if it had fired), and so is one whose subject
// is gone (a deleted node, a rule turned off). Nothing is written for a
// condition that stays as stored.
func transitions(now time.Time, obs []observation, stored map[key]model.Alert) state.AlertTransitions {
	var t state.AlertTransitions
	seen := make(map[key]bool, len(obs))
	for _, o := range obs {
		k := key{o.alert.Rule, o.alert.Subject}
		seen[k] = true
		prev, tracked := stored[k]
		switch {
		case !o.known:
		case !o.holds:
			if tracked {
				a := prev
				a.Value = o.alert.Value
				if o.resolved != "" {
					a.Message = o.resolved
				}
				t.Drop = append(t.Drop, a)
			}
		case tracked && prev.FiredAt != nil:
			// Fired already: nothing to say until it resolves.
		case o.fire:
			a := o.alert
			if tracked && !prev.Since.IsZero() && prev.Since.Before(a.Since) && prev.Ref == a.Ref {
				a.Since = prev.Since
			}
			if a.Since.IsZero() {
				a.Since = now
			}
			at := now
			a.FiredAt = &at
			t.Fire = append(t.Fire, a)
		default:
			a := o.alert
			if a.Since.IsZero() {
				a.Since = now
			}
			if !tracked || !prev.Since.Equal(a.Since) || prev.Ref != a.Ref {
				t.Pending = append(t.Pending, a)
			}
		}
	}
	for k, a := range stored {
		if !seen[k] {
			a.Message = "no longer watched: " + a.Target + " was removed or the rule turned off"
			t.Drop = append(t.Drop, a)
		}
	}
	return t
}

// snapshot reads what the rules look at.
func (e *Evaluator) snapshot(ctx context.Context) (*Snapshot, error) {
	snap := &Snapshot{Now: e.opts.Now().UTC()}
	if e.fleet != nil {
		// The hub's revision, not the database's: a revision nodes never
		// hear of (a usage reset) must not count as a lag.
		snap.Head = e.fleet.DesiredRevision()
	}
	nodes, err := e.st.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading nodes: %w", err)
	}
	snap.Nodes = make([]NodeView, 0, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		v := NodeView{ID: n.ID, Name: n.Name, Disabled: n.Status == model.NodeDisabled, LastSeen: n.LastSeen,
			Applied: n.AppliedRevision}
		if e.fleet != nil {
			v.Connected = e.fleet.Connected(n.ID)
			if h, ok := e.fleet.Health(n.ID); ok {
				v.Health = &Health{JournalBacklog: h.JournalBacklog, ReportedAt: h.ReportedAt}
				snap.Certs = append(snap.Certs, nodeCerts(n, h.Certs)...)
			} else if !v.Disabled {
				if snap.CertsUnknown == nil {
					snap.CertsUnknown = map[int64]bool{}
				}
				snap.CertsUnknown[n.ID] = true
			}
		}
		snap.Nodes = append(snap.Nodes, v)
	}
	if c := e.opts.PanelCert; c != nil {
		snap.Certs = append(snap.Certs, CertView{Subject: subjectPanel, Target: "the panel (" + certName(c) + ")", NotAfter: c.NotAfter})
	}
	inbounds, err := e.st.Inbounds(ctx)
	if err != nil {
		// A core config that does not parse is the config editor's to
		// report; the other rules still run.
		e.opts.Log.Warn("alerts: reading inbounds for certificates", "err", err)
	}
	for _, in := range inbounds {
		for i, na := range in.CertificatesNotAfter {
			subject, target := subjectInboundPrefx+in.Tag, "inbound "+in.Tag
			if i > 0 {
				subject += "#" + strconv.Itoa(i+1)
				target += " (certificate " + strconv.Itoa(i+1) + ")"
			}
			snap.Certs = append(snap.Certs, CertView{Subject: subject, Target: target, NotAfter: na})
		}
	}
	return snap, nil
}

// nodeCerts are the certificate files a node reported. One that could not
// be read is not an expiry: the node's status shows why.
func nodeCerts(n *model.Node, certs []protocol.CertExpiry) []CertView {
	out := make([]CertView, 0, len(certs))
	for _, c := range certs {
		if c.Error != "" || c.NotAfter <= 0 {
			continue
		}
		out = append(out, CertView{Subject: nodeCertSubject(n.ID, c.Inbound, c.File),
			Target:   "node " + n.Name + ", inbound " + c.Inbound + " (" + c.File + ")",
			NotAfter: time.Unix(c.NotAfter, 0).UTC()})
	}
	return out
}

// certName is what a certificate is for: its first DNS name, else its
// subject's common name.
func certName(c *x509.Certificate) string {
	for _, n := range c.DNSNames {
		if n = strings.TrimSpace(n); n != "" {
			return n
		}
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return "its certificate"
}

// ActiveCounts is how many alerts have fired and not resolved, per rule
// (every rule present, 0 when none): outpost_alerts_active.
func ActiveCounts(rows []model.Alert) map[string]int {
	out := make(map[string]int, len(Rules))
	for _, r := range Rules {
		out[r] = 0
	}
	for _, a := range rows {
		if a.FiredAt != nil {
			out[a.Rule]++
		}
	}
	return out
}
