package alerts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

var t0 = time.Unix(1_800_000_000, 0).UTC()

func ptr[T any](v T) *T { return &v }

// eval runs the rules of one tick on snap against stored and returns the
// transitions, as Tick would record them.
func eval(e *Evaluator, snap *Snapshot, set state.AlertSettings, stored []model.Alert) state.AlertTransitions {
	m := map[key]model.Alert{}
	for _, a := range stored {
		m[key{a.Rule, a.Subject}] = a
	}
	return e.diff(snap, set, m)
}

func subjects(as []model.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Rule+" "+a.Subject)
	}
	slices.Sort(out)
	return out
}

func only(set state.AlertSettings, rule string) state.AlertSettings {
	off := state.AlertSettings{}
	switch rule {
	case RuleNodeOffline:
		off.NodeOfflineSeconds = set.NodeOfflineSeconds
	case RuleRevisionLag:
		off.RevisionLagRevisions, off.RevisionLagSeconds = set.RevisionLagRevisions, set.RevisionLagSeconds
	case RuleJournalBacklog:
		off.BacklogReports, off.BacklogSize = set.BacklogReports, set.BacklogSize
	case RuleCertExpiry:
		off.CertExpiryDays = set.CertExpiryDays
	}
	return off
}

func TestOfflineRule(t *testing.T) {
	set := only(state.DefaultAlertSettings(), RuleNodeOffline) // 5 minutes
	e := New(nil, nil, Options{Now: func() time.Time { return t0.Add(-time.Hour) }})
	seen := t0.Add(-4 * time.Minute)
	snap := &Snapshot{Now: t0, Nodes: []NodeView{
		{ID: 1, Name: "up", Connected: true, LastSeen: &seen},
		{ID: 2, Name: "down", LastSeen: &seen},
		{ID: 3, Name: "never"},
		{ID: 4, Name: "off", Disabled: true, LastSeen: ptr(t0.Add(-time.Hour))},
	}}
	// 4 minutes down: pending, not fired.
	tr := eval(e, snap, set, nil)
	if len(tr.Fire) != 0 || !slices.Equal(subjects(tr.Pending), []string{"node_offline node:2"}) {
		t.Fatalf("at 4 minutes: fire %v, pending %v", subjects(tr.Fire), subjects(tr.Pending))
	}
	if !tr.Pending[0].Since.Equal(seen) {
		t.Fatalf("pending since %v, want the last status write %v", tr.Pending[0].Since, seen)
	}
	stored := tr.Pending
	// Same tick again: nothing to write.
	if tr := eval(e, snap, set, stored); !tr.Empty() {
		t.Fatalf("unchanged condition wrote %+v", tr)
	}
	// 6 minutes down: fires, with the value in seconds.
	snap.Now = t0.Add(2 * time.Minute)
	tr = eval(e, snap, set, stored)
	if !slices.Equal(subjects(tr.Fire), []string{"node_offline node:2"}) || tr.Fire[0].Value != 360 || tr.Fire[0].Threshold != 300 {
		t.Fatalf("at 6 minutes: %+v", tr.Fire)
	}
	fired := tr.Fire
	// Still down: no repeat.
	snap.Now = t0.Add(time.Hour)
	if tr := eval(e, snap, set, fired); !tr.Empty() {
		t.Fatalf("fired alert repeated: %+v", tr)
	}
	// Back: resolved.
	snap.Nodes[1].Connected = true
	tr = eval(e, snap, set, fired)
	if !slices.Equal(subjects(tr.Drop), []string{"node_offline node:2"}) || tr.Drop[0].FiredAt == nil {
		t.Fatalf("back online: drop %+v", tr.Drop)
	}
}

func TestOfflineCountsFromEvaluatorStart(t *testing.T) {
	// A panel that was down an hour itself must not blame every node the
	// moment it starts: offline time counts from its own start.
	set := only(state.DefaultAlertSettings(), RuleNodeOffline)
	e := New(nil, nil, Options{Now: func() time.Time { return t0 }})
	seen := t0.Add(-time.Hour)
	snap := &Snapshot{Now: t0.Add(time.Minute), Nodes: []NodeView{{ID: 1, Name: "a", LastSeen: &seen}}}
	if tr := eval(e, snap, set, nil); len(tr.Fire) != 0 {
		t.Fatalf("fired a minute after the panel started: %+v", tr.Fire)
	}
	snap.Now = t0.Add(5 * time.Minute)
	if tr := eval(e, snap, set, nil); len(tr.Fire) != 1 {
		t.Fatalf("not fired five minutes after the panel started: %+v", tr)
	}
}

func TestRevisionLagRule(t *testing.T) {
	set := only(state.AlertSettings{RevisionLagRevisions: 100, RevisionLagSeconds: 600}, RuleRevisionLag)
	e := New(nil, nil, Options{Now: func() time.Time { return t0 }})
	node := NodeView{ID: 7, Name: "n7", Connected: true, Applied: 995}
	snap := &Snapshot{Now: t0, Head: 1000, Nodes: []NodeView{node}}

	// Behind by 5: pending, remembering revision 1000.
	tr := eval(e, snap, set, nil)
	if len(tr.Fire) != 0 || len(tr.Pending) != 1 || tr.Pending[0].Ref != 1000 {
		t.Fatalf("behind by 5: %+v", tr)
	}
	stored := tr.Pending
	// A busy panel: the node keeps up (reaches 1000) while the head moves
	// on. The clock restarts: never fires though always a little behind.
	for i := 1; i <= 30; i++ {
		snap.Now = t0.Add(time.Duration(i) * time.Minute)
		snap.Nodes[0].Applied = snap.Head
		snap.Head += 3
		tr = eval(e, snap, set, stored)
		if len(tr.Fire) != 0 {
			t.Fatalf("a node that keeps up fired at minute %d: %+v", i, tr.Fire)
		}
		if len(tr.Pending) == 1 {
			stored = tr.Pending
		}
	}
	// Stuck: it stays short of the revision it fell behind at for 10 minutes.
	stuckAt := snap.Now
	ref := stored[0].Ref
	for snap.Now.Sub(stuckAt) < 10*time.Minute {
		snap.Now = snap.Now.Add(time.Minute)
		snap.Head++
		tr = eval(e, snap, set, stored)
		if len(tr.Pending) == 1 {
			stored = tr.Pending
		}
	}
	if len(tr.Fire) != 1 || tr.Fire[0].Ref != ref {
		t.Fatalf("stuck 10 minutes: %+v (stored %+v)", tr, stored)
	}
	fired := tr.Fire
	// Reaches the revision: resolved.
	snap.Nodes[0].Applied = ref
	tr = eval(e, snap, set, fired)
	if len(tr.Drop) != 1 {
		t.Fatalf("caught up: %+v", tr)
	}

	// Far behind fires at once, whatever the time.
	snap.Nodes[0].Applied = snap.Head - 101
	if tr := eval(e, snap, set, nil); len(tr.Fire) != 1 || tr.Fire[0].Value != 101 {
		t.Fatalf("101 behind with a limit of 100: %+v", tr)
	}
	// An offline node's lag is left as stored (the offline rule speaks).
	snap.Nodes[0].Connected = false
	if tr := eval(e, snap, set, fired); !tr.Empty() {
		t.Fatalf("offline node changed its lag alert: %+v", tr)
	}
	// So is every node's while the hub has not loaded its revision.
	snap.Nodes[0].Connected, snap.Head = true, 0
	if tr := eval(e, snap, set, fired); !tr.Empty() {
		t.Fatalf("unknown head changed the lag alert: %+v", tr)
	}
}

func TestJournalBacklogRule(t *testing.T) {
	set := only(state.AlertSettings{BacklogReports: 3, BacklogSize: 1000}, RuleJournalBacklog)
	e := New(nil, nil, Options{Now: func() time.Time { return t0 }})
	snap := &Snapshot{Now: t0, Nodes: []NodeView{{ID: 1, Name: "a", Connected: true}}}
	var stored []model.Alert
	report := func(i, backlog int) state.AlertTransitions {
		snap.Now = t0.Add(time.Duration(i) * 30 * time.Second)
		snap.Nodes[0].Health = &Health{JournalBacklog: backlog, ReportedAt: snap.Now}
		tr := eval(e, snap, set, stored)
		stored = append(stored, tr.Fire...)
		for _, d := range tr.Drop {
			stored = slices.DeleteFunc(stored, func(a model.Alert) bool { return a.Subject == d.Subject })
		}
		return tr
	}
	// 2, 4, 4 (equal: no rise, no break), 6: two rises so far... then 8: three.
	for i, b := range []int{2, 4, 4, 6} {
		if tr := report(i, b); len(tr.Fire) != 0 {
			t.Fatalf("report %d (%d) fired: %+v", i, b, tr.Fire)
		}
	}
	// The same report seen again (no new status) counts once.
	if tr := eval(e, snap, set, stored); len(tr.Fire) != 0 {
		t.Fatalf("a report counted twice: %+v", tr.Fire)
	}
	if tr := report(4, 8); len(tr.Fire) != 1 || tr.Fire[0].Value != 8 {
		t.Fatalf("third rise in a row: %+v", tr)
	}
	if tr := report(5, 9); !tr.Empty() {
		t.Fatalf("fired alert repeated: %+v", tr)
	}
	if tr := report(6, 3); len(tr.Drop) != 1 {
		t.Fatalf("falling backlog did not resolve: %+v", tr)
	}
	// Over the size fires at once.
	if tr := report(7, 1000); len(tr.Fire) != 1 {
		t.Fatalf("backlog at the size limit: %+v", tr)
	}
	// A stale report says nothing: the alert stays.
	snap.Now = snap.Now.Add(time.Hour)
	if tr := eval(e, snap, set, stored); !tr.Empty() {
		t.Fatalf("stale report changed the alert: %+v", tr)
	}
}

func TestCertExpiryRule(t *testing.T) {
	set := only(state.DefaultAlertSettings(), RuleCertExpiry) // 14 days
	e := New(nil, nil, Options{Now: func() time.Time { return t0 }})
	snap := &Snapshot{Now: t0, Certs: []CertView{
		{Subject: "panel", Target: "the panel", NotAfter: t0.Add(13*24*time.Hour + time.Hour)},
		{Subject: "inbound:ok", Target: "inbound ok", NotAfter: t0.Add(90 * 24 * time.Hour)},
		{Subject: "inbound:old", Target: "inbound old", NotAfter: t0.Add(-time.Hour)},
	}}
	tr := eval(e, snap, set, nil)
	if !slices.Equal(subjects(tr.Fire), []string{"cert_expiry inbound:old", "cert_expiry panel"}) {
		t.Fatalf("fired %v", subjects(tr.Fire))
	}
	for _, a := range tr.Fire {
		if a.Subject == "panel" && a.Value != 13 {
			t.Fatalf("panel: %v days left, want 13", a.Value)
		}
	}
	// Renewed: resolved. Removed (inbound gone): resolved too.
	snap.Certs = snap.Certs[:2]
	snap.Certs[0].NotAfter = t0.Add(90 * 24 * time.Hour)
	tr = eval(e, snap, set, tr.Fire)
	if !slices.Equal(subjects(tr.Drop), []string{"cert_expiry inbound:old", "cert_expiry panel"}) {
		t.Fatalf("dropped %v", subjects(tr.Drop))
	}
}

func TestAlertSettingsValidate(t *testing.T) {
	good := state.DefaultAlertSettings()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	off := state.AlertSettings{}
	if err := off.Validate(); err != nil {
		t.Fatalf("all off: %v", err)
	}
	for _, bad := range []state.AlertSettings{
		{NodeOfflineSeconds: 5}, {NodeOfflineSeconds: -1}, {BacklogReports: 1}, {CertExpiryDays: 366},
		{RevisionLagSeconds: 8 * 24 * 3600}, {BacklogSize: -3},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// fakeFleet is the hub's view of sessions, set by the test.
type fakeFleet struct {
	mu        sync.Mutex
	connected map[int64]bool
	head      int64
}

func (f *fakeFleet) DesiredRevision() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head
}

func (f *fakeFleet) Connected(id int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected[id]
}
func (f *fakeFleet) Health(int64) (hub.NodeHealth, bool) { return hub.NodeHealth{}, false }
func (f *fakeFleet) set(id int64, up bool) {
	f.mu.Lock()
	f.connected[id] = up
	f.mu.Unlock()
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func openState(t testing.TB, engine string, clock *testClock) *state.State {
	t.Helper()
	url := ""
	if engine == "postgres" {
		url = testenv.Postgres(t)
	}
	s, err := state.Open(context.Background(), url, t.TempDir(), feed.NewMemory(1000), slog.New(slog.DiscardHandler), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Bootstrap(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	return s
}

// outboxAlerts is every alert notification waiting in the outbox.
func outboxAlerts(t *testing.T, s *state.State, now time.Time) []state.AlertNotification {
	t.Helper()
	rows, err := s.ClaimWebhooks(context.Background(), now.Add(time.Hour), 24*time.Hour, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []state.AlertNotification
	for _, r := range rows {
		var n state.AlertNotification
		if err := json.Unmarshal(r.Payload, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// TestLeaderChangeDoesNotResend: the leader fires an alert and dies; the
// next leader (a fresh evaluator, nothing in memory) sends nothing again,
// and sends the resolution once.
func TestLeaderChangeDoesNotResend(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			clock := &testClock{now: t0}
			s := openState(t, engine, clock)
			s.SetWebhookAddresses([]string{"http://127.0.0.1:9/hook"})
			if err := s.SetAlertSettings(ctx, state.AlertSettings{NodeOfflineSeconds: 60, CertExpiryDays: 14}); err != nil {
				t.Fatal(err)
			}
			n := &model.Node{Name: "edge-1", Address: "198.51.100.1"}
			if _, err := s.CreateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
			fence, _, err := s.NodeSessionStart(ctx, n.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.NodeSetStatus(ctx, n.ID, fence, model.NodeConnecting, "disconnected", "", ""); err != nil {
				t.Fatal(err)
			}
			fleet := &fakeFleet{connected: map[int64]bool{}}
			cert := selfSigned(t, t0.Add(3*24*time.Hour))

			first := New(s, fleet, Options{Now: clock.Now, PanelCert: cert})
			if f, _, err := first.Tick(ctx); err != nil || len(f) != 1 || f[0].Rule != RuleCertExpiry {
				t.Fatalf("first tick fired %+v, %v; want the certificate only", f, err)
			}
			clock.Add(61 * time.Second)
			if f, _, err := first.Tick(ctx); err != nil || len(f) != 1 || f[0].Rule != RuleNodeOffline {
				t.Fatalf("after 61 s offline fired %+v, %v", f, err)
			}
			if got := outboxAlerts(t, s, clock.Now()); len(got) != 2 || got[1].Action != state.ActionAlertFired || got[1].Target != "node edge-1" {
				t.Fatalf("outbox after firing: %+v", got)
			}

			// The leader dies; another replica's evaluator takes over.
			clock.Add(10 * time.Minute)
			second := New(s, fleet, Options{Now: clock.Now, PanelCert: cert})
			for range 3 {
				clock.Add(30 * time.Second)
				f, r, err := second.Tick(ctx)
				if err != nil || len(f)+len(r) != 0 {
					t.Fatalf("new leader sent fired %+v resolved %+v (%v)", f, r, err)
				}
			}
			// The first one, not yet aware it lost the lease, ticks once more.
			if f, r, err := first.Tick(ctx); err != nil || len(f)+len(r) != 0 {
				t.Fatalf("old leader sent fired %+v resolved %+v (%v)", f, r, err)
			}
			if got := outboxAlerts(t, s, clock.Now()); len(got) != 0 {
				t.Fatalf("outbox after the leader change: %+v", got)
			}
			active, err := s.Alerts(ctx)
			if err != nil || ActiveCounts(active)[RuleNodeOffline] != 1 || ActiveCounts(active)[RuleCertExpiry] != 1 {
				t.Fatalf("active alerts %+v, %v", active, err)
			}

			fleet.set(n.ID, true)
			_, r, err := second.Tick(ctx)
			if err != nil || len(r) != 1 || r[0].Rule != RuleNodeOffline {
				t.Fatalf("back online resolved %+v, %v", r, err)
			}
			if _, r, _ := first.Tick(ctx); len(r) != 0 {
				t.Fatalf("resolved twice: %+v", r)
			}
			got := outboxAlerts(t, s, clock.Now())
			if len(got) != 1 || got[0].Action != state.ActionAlertResolved || got[0].Rule != RuleNodeOffline || got[0].ResolvedAt == nil {
				t.Fatalf("outbox after resolving: %+v", got)
			}
		})
	}
}

func selfSigned(t *testing.T, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "panel.example"},
		DNSNames: []string{"panel.example"}, NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNodeCertificateFiles(t *testing.T) {
	set := only(state.DefaultAlertSettings(), RuleCertExpiry) // 14 days
	e := New(nil, nil, Options{Now: func() time.Time { return t0 }})
	n := &model.Node{ID: 4, Name: "fra-1"}
	certs := []protocol.CertExpiry{
		{Inbound: "vless-tls", File: "/etc/ssl/soon.pem", NotAfter: t0.Add(3 * 24 * time.Hour).Unix()},
		{Inbound: "trojan-tls", File: "/etc/ssl/fine.pem", NotAfter: t0.Add(200 * 24 * time.Hour).Unix()},
		{Inbound: "broken", File: "/etc/ssl/gone.pem", Error: "no such file"},
	}
	snap := &Snapshot{Now: t0, Certs: nodeCerts(n, certs)}
	tr := eval(e, snap, set, nil)
	soon := "cert_expiry node:4:cert:vless-tls:/etc/ssl/soon.pem"
	if !slices.Equal(subjects(tr.Fire), []string{soon}) {
		t.Fatalf("fired %v", subjects(tr.Fire))
	}
	if a := tr.Fire[0]; a.Value != 3 || a.Target != "node fra-1, inbound vless-tls (/etc/ssl/soon.pem)" {
		t.Fatalf("alert %+v", a)
	}
	if id, ok := nodeOfCertSubject(tr.Fire[0].Subject); !ok || id != 4 {
		t.Fatalf("node of subject: %d %v", id, ok)
	}
	// The node goes silent: its alert stays as it is (neither resolved nor
	// fired again), while a certificate of another kind would resolve.
	fired := tr.Fire
	silent := &Snapshot{Now: t0, CertsUnknown: map[int64]bool{4: true}}
	tr = eval(e, silent, set, fired)
	if len(tr.Drop) != 0 || len(tr.Fire) != 0 || len(tr.Pending) != 0 {
		t.Fatalf("a silent node's certificate alert changed: %+v", tr)
	}
	// It reports again with the file renewed: resolved.
	certs[0].NotAfter = t0.Add(90 * 24 * time.Hour).Unix()
	tr = eval(e, &Snapshot{Now: t0, Certs: nodeCerts(n, certs)}, set, fired)
	if !slices.Equal(subjects(tr.Drop), []string{soon}) {
		t.Fatalf("dropped %v", subjects(tr.Drop))
	}
	// A deleted (or disabled) node is not "unknown": its alerts end.
	tr = eval(e, &Snapshot{Now: t0}, set, fired)
	if !slices.Equal(subjects(tr.Drop), []string{soon}) {
		t.Fatalf("a deleted node's alert stayed: %v", subjects(tr.Drop))
	}
}
