// Package fleet runs many simulated node agents against a panel, speaking
// the real protocol with the real nodes/protocol types but without Xray:
// each agent keeps its applied revision and state hash across reconnects,
// acknowledges snapshots and deltas, journals usage with a sequence and
// sends it in batches (one in flight, trimmed on usage_ack), reports local
// enforcement, and redials with capped exponential backoff and jitter.
//
// The fleet-backed end-to-end test (backend/e2e) and the benchmark command
// (backend/cmd/fleet, `make bench-fleet`) share it.
//
// Decoding 1,000 copies of a 100,000-user snapshot would take the fleet more
// CPU than the panel it measures, so only verifier agents (Config.VerifyEvery)
// keep every user's digest and recompute the state hash of each snapshot and
// delta; the others read a snapshot chunk's header fields and adopt the
// hash the panel names. A verifier that lands on another hash than the panel
// says refuses with bad_state, as the real agent does, and Stats counts it.
package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Config describes a fleet.
type Config struct {
	// PanelURLs are the panel's base URLs; agent i dials PanelURLs[i % len].
	PanelURLs []string
	// Rotate gives every agent all of PanelURLs, starting at its own, as
	// a node started with --panel A,B: a session that ends or a dial that
	// fails goes on to the next address at once, and only a whole round
	// of failures waits the backoff (nodes/agent/rotation.go's policy).
	Rotate bool
	// Tokens are the node tokens, one agent each.
	Tokens []string
	// MinBackoff and MaxBackoff bound the redial wait (0.5 s and 30 s, as
	// the real agent, when zero). The wait is backoff ±50 %, doubling after
	// each failed session and reset after one that reached welcome.
	MinBackoff, MaxBackoff time.Duration
	// VerifyEvery makes every VerifyEvery-th agent (from the first) a
	// verifier; 1 verifies all, 0 none.
	VerifyEvery int
	// UsageEvery is how often each agent journals traffic for UsageEmails
	// (0: never).
	UsageEvery time.Duration
	// UsageEmails are the Xray identities ("<id>.<username>") the agents
	// report traffic for, a few per tick, round robin.
	UsageEmails []string
	// NoCompression stops the agents from asking for permessage-deflate,
	// as agents before 2026-12-06 did; the real agent asks for it. Asking
	// costs the simulated fleet the inflating of every snapshot on the
	// panel's two cores, which real nodes do on their own.
	NoCompression bool
	// Observer, when set, is told of every acknowledged delta.
	Observer func(agent int, revision int64, upserts []string, at time.Time)
	Log      *slog.Logger
}

// Stats are the fleet's counters since it started.
type Stats struct {
	Dials        int64 // dial attempts
	DialFailures int64
	Sessions     int64 // sessions that reached welcome
	Snapshots    int64 // complete snapshots applied
	Deltas       int64 // deltas applied
	BadState     int64 // states refused because the hash did not match
	// ClosedByPanel counts sessions the panel ended on purpose: an error
	// frame or a close frame (fence, read deadline, protocol error).
	ClosedByPanel int64
	// Dropped counts sessions that ended without a word from the panel
	// (connection reset, EOF, silence): a panel that died.
	Dropped int64
	// Moves counts sessions a draining panel ended with move (close
	// 4005); the agent redialed at once, without backoff.
	Moves int64
	// Rotations counts redials to the next address (Rotate) at once,
	// without a wait, after a session ended or a dial failed.
	Rotations     int64
	UsageBatches  int64 // usage batches the panel acknowledged
	UsageBytes    int64 // bytes in acknowledged journal entries, up + down
	EnforcedSent  int64 // users reported in enforced frames
	LastCloseText string
}

// Fleet is a running set of agents.
type Fleet struct {
	cfg    Config
	agents []*Agent
	stats  struct {
		dials, dialFailures, sessions, snapshots, deltas, badState                   atomic.Int64
		closedByPanel, dropped, usageBatches, usageBytes, enforced, moves, rotations atomic.Int64
	}
	closeMu   sync.Mutex
	lastClose string
	// usagePaused stops journaling, so a test can drain every journal and
	// compare what the panel counted with what the fleet sent.
	usagePaused atomic.Bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a fleet; Start runs it.
func New(cfg Config) (*Fleet, error) {
	if len(cfg.PanelURLs) == 0 {
		return nil, errors.New("fleet: no panel URL")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{cfg: cfg}
	urls := make([]string, len(cfg.PanelURLs))
	for i, base := range cfg.PanelURLs {
		u, err := wsURL(base)
		if err != nil {
			return nil, err
		}
		urls[i] = u
	}
	for i, tok := range cfg.Tokens {
		own := []string{urls[i%len(urls)]}
		if cfg.Rotate {
			own = own[:0]
			for k := range urls {
				own = append(own, urls[(i+k)%len(urls)])
			}
		}
		a := &Agent{f: f, index: i, token: tok, urls: own, verify: cfg.VerifyEvery > 0 && i%cfg.VerifyEvery == 0}
		if a.verify {
			a.users = map[string][32]byte{}
		}
		f.agents = append(f.agents, a)
	}
	return f, nil
}

// Start dials every agent, spread over spread so a cold start does not open
// N connections in the same millisecond.
func (f *Fleet) Start(ctx context.Context, spread time.Duration) {
	ctx, f.cancel = context.WithCancel(ctx)
	for i, a := range f.agents {
		delay := time.Duration(0)
		if len(f.agents) > 1 {
			delay = spread * time.Duration(i) / time.Duration(len(f.agents))
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			a.run(ctx)
		}()
	}
}

// Stop ends every agent and waits for them.
func (f *Fleet) Stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// PauseUsage stops (or, with false, resumes) journaling new traffic;
// journals already written are still sent.
func (f *Fleet) PauseUsage(paused bool) { f.usagePaused.Store(paused) }

// Backlog is how many journal entries the fleet's agents hold unacknowledged.
func (f *Fleet) Backlog() int {
	n := 0
	for _, a := range f.agents {
		n += a.State().Backlog
	}
	return n
}

// Agents are the fleet's agents, in token order.
func (f *Fleet) Agents() []*Agent { return f.agents }

// Stats reads the counters.
func (f *Fleet) Stats() Stats {
	f.closeMu.Lock()
	last := f.lastClose
	f.closeMu.Unlock()
	return Stats{
		Dials: f.stats.dials.Load(), DialFailures: f.stats.dialFailures.Load(),
		Sessions: f.stats.sessions.Load(), Snapshots: f.stats.snapshots.Load(), Deltas: f.stats.deltas.Load(),
		BadState: f.stats.badState.Load(), ClosedByPanel: f.stats.closedByPanel.Load(), Dropped: f.stats.dropped.Load(),
		UsageBatches: f.stats.usageBatches.Load(), UsageBytes: f.stats.usageBytes.Load(),
		EnforcedSent: f.stats.enforced.Load(), Moves: f.stats.moves.Load(), Rotations: f.stats.rotations.Load(), LastCloseText: last,
	}
}

// Converged reports whether every agent is connected and has applied
// revision rev; lagging counts those that are not.
func (f *Fleet) Converged(rev int64) (ok bool, lagging int) {
	for _, a := range f.agents {
		st := a.State()
		if !st.Connected || st.Revision != rev {
			lagging++
		}
	}
	return lagging == 0, lagging
}

// Agreement is the state hashes the connected agents hold (with how many
// hold each), the lowest and highest revision among them, and how many
// agents are not connected.
func (f *Fleet) Agreement() (hashes map[string]int, lowest, highest int64, offline int) {
	hashes = map[string]int{}
	lowest = -1
	for _, a := range f.agents {
		st := a.State()
		if !st.Connected {
			offline++
			continue
		}
		hashes[st.Hash]++
		if lowest < 0 || st.Revision < lowest {
			lowest = st.Revision
		}
		highest = max(highest, st.Revision)
	}
	return hashes, lowest, highest, offline
}

// Hashes is the set of state hashes the agents at rev hold, with how many
// agents hold each: one entry when the fleet agrees.
func (f *Fleet) Hashes(rev int64) map[string]int {
	out := map[string]int{}
	for _, a := range f.agents {
		if st := a.State(); st.Revision == rev {
			out[st.Hash]++
		}
	}
	return out
}

// Agent is one simulated node agent.
type Agent struct {
	f      *Fleet
	index  int
	token  string
	verify bool
	// urls are the addresses the agent dials, in turn (Config.Rotate);
	// cur is the one of the next dial, failed the sessions ended in a row
	// since the last full round.
	urls        []string
	cur, failed int

	// Everything below survives reconnects, as the real agent's state dir
	// does: the applied revision and hash, the usage journal, the
	// enforcement reports not yet sent. users (verifiers only) is the
	// digest of every user by email, so the hash can be recomputed.
	mu         sync.Mutex
	connected  bool
	panel      int
	revision   int64
	hash       protocol.StateHash
	users      map[string][32]byte
	configSum  [32]byte
	hasConfig  bool
	journal    []journalEntry
	nextSeq    int64
	enforced   []protocol.EnforcedUser
	usageRound int
}

type journalEntry struct {
	seq   int64
	at    int64
	users []protocol.UserTraffic
}

// AgentState is what an agent holds now.
type AgentState struct {
	Connected bool
	// Panel is the index in Config.PanelURLs of the address of the
	// agent's session (the last one, when not connected).
	Panel    int
	Revision int64
	Hash     string
	Backlog  int // journal entries not yet acknowledged
}

// State reads the agent's state.
func (a *Agent) State() AgentState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AgentState{Connected: a.connected, Panel: a.panel, Revision: a.revision, Hash: a.hash.String(), Backlog: len(a.journal)}
}

// Enforce queues a local removal report, sent at once when a session is up
// or right after the next welcome.
func (a *Agent) Enforce(email, reason string) {
	a.mu.Lock()
	a.enforced = append(a.enforced, protocol.EnforcedUser{Email: email, Reason: reason, At: time.Now().Unix()})
	a.mu.Unlock()
}

func wsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("panel url: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("panel url %q: scheme must be http or https", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + protocol.WSPath
	return u.String(), nil
}

func (a *Agent) run(ctx context.Context) {
	cfg := a.f.cfg
	backoff := cfg.MinBackoff
	for ctx.Err() == nil {
		welcomed, byPanel, err := a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if isMove(err) {
			// A draining panel (close 4005, or its error frame): redial
			// now, with no backoff, at the next address, as the real agent
			// does (nodes/agent/rotation.go). A move is the panel's plan,
			// not a failure: it is counted apart from ClosedByPanel.
			a.f.stats.moves.Add(1)
			backoff = cfg.MinBackoff
			a.cur, a.failed = (a.cur+1)%len(a.urls), 0
			cfg.Log.Debug("fleet agent moved by a draining panel", "agent", a.index)
			continue
		}
		if welcomed {
			backoff = cfg.MinBackoff
			if byPanel {
				a.f.stats.closedByPanel.Add(1)
				a.f.closeMu.Lock()
				a.f.lastClose = fmt.Sprintf("agent %d: %v", a.index, err)
				a.f.closeMu.Unlock()
			} else {
				a.f.stats.dropped.Add(1)
			}
		}
		cfg.Log.Debug("fleet agent session ended", "agent", a.index, "err", err)
		if welcomed {
			a.failed = 0
		}
		a.failed++
		a.cur = (a.cur + 1) % len(a.urls)
		if a.failed < len(a.urls) {
			// An address not tried in this round: at once.
			a.f.stats.rotations.Add(1)
			continue
		}
		a.failed = 0
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, cfg.MaxBackoff)
	}
}

// errPanelClosed marks a session the panel ended with a word.
var errPanelClosed = errors.New("closed by the panel")

// isMove reports whether the panel ended the session with move (close
// status 4005 or an error frame with that code): it drains, redial at once.
func isMove(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == protocol.ErrCodeMove
}

// session runs one session; welcomed says it got that far, byPanel that
// the panel ended it on purpose.
func (a *Agent) session(ctx context.Context) (welcomed, byPanel bool, err error) {
	a.f.stats.dials.Add(1)
	hdr := http.Header{}
	hdr.Set(protocol.TokenHeader, "Bearer "+a.token)
	d := &websocket.Dialer{HandshakeTimeout: 15 * time.Second, ReadBufferSize: 64 << 10, WriteBufferSize: 16 << 10,
		EnableCompression: !a.f.cfg.NoCompression}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	conn, resp, err := d.DialContext(dctx, a.urls[a.cur], hdr)
	cancel()
	if err != nil {
		a.f.stats.dialFailures.Add(1)
		if resp != nil {
			return false, false, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return false, false, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	conn.SetReadLimit(1 << 30)
	conn.EnableWriteCompression(false) // as the real agent: deflate is for the panel's frames
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { <-sctx.Done(); _ = conn.SetReadDeadline(time.Now()) }()

	s := &agentSession{a: a, conn: conn, ctx: sctx, out: make(chan protocol.Message, 16), ping: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.writeLoop(sctx) }()
	defer func() {
		stop()
		wg.Wait()
		a.mu.Lock()
		a.connected = false
		a.mu.Unlock()
	}()

	a.mu.Lock()
	hello := protocol.Hello{Protocol: protocol.Version, AppliedRevision: a.revision, StateHash: a.hash.String(),
		AgentVersion: "fleet", XrayVersion: "none"}
	if a.revision == 0 {
		hello.StateHash = ""
	}
	a.mu.Unlock()
	if !s.send(sctx, protocol.Message{Type: protocol.TypeHello, Hello: &hello}) {
		return false, false, ctx.Err()
	}
	conn.SetPingHandler(func(data string) error {
		s.touch()
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	err = s.readLoop(sctx)
	return s.welcomed.Load(), errors.Is(err, errPanelClosed), err
}

type agentSession struct {
	a        *Agent
	conn     *websocket.Conn
	ctx      context.Context // ends with the session (or the fleet)
	out      chan protocol.Message
	welcomed atomic.Bool
	ping     time.Duration
	inflight atomic.Int64 // usage to_seq sent and not yet acked (0: none)
	// snapshot being received (chunks until last)
	snapRev   int64
	snapHash  string
	snapUsers map[string][32]byte
	snapCfg   []byte
	snapOK    bool
}

func (s *agentSession) touch() {
	// Once the session (or the fleet) is stopping, a ping must not undo
	// the deadline that unblocks the reader: Stop hung on agents whose
	// panel kept pinging them.
	if s.ctx.Err() != nil {
		return
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(3 * s.ping))
}

func (s *agentSession) send(ctx context.Context, m protocol.Message) bool {
	select {
	case s.out <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *agentSession) writeLoop(ctx context.Context) {
	var tick <-chan time.Time
	if every := s.a.f.cfg.UsageEvery; every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	statusTick := time.NewTicker(statusEvery)
	defer statusTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-statusTick.C:
			if s.welcomed.Load() {
				_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if err := s.conn.WriteJSON(s.status()); err != nil {
					_ = s.conn.SetReadDeadline(time.Now())
					return
				}
			}
		case m := <-s.out:
			_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if err := s.conn.WriteJSON(m); err != nil {
				_ = s.conn.SetReadDeadline(time.Now())
				return
			}
		case <-tick:
			// Written here, not queued: this loop is the queue's reader.
			s.a.journalTick()
			// Welcomed first: usageBatch marks the batch in flight.
			if !s.welcomed.Load() {
				continue
			}
			if m, ok := s.usageBatch(); ok {
				_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if err := s.conn.WriteJSON(m); err != nil {
					_ = s.conn.SetReadDeadline(time.Now())
					return
				}
			}
		}
	}
}

// journalTick appends one journal entry: a few of UsageEmails, round robin.
func (a *Agent) journalTick() {
	emails := a.f.cfg.UsageEmails
	if len(emails) == 0 || a.f.usagePaused.Load() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var users []protocol.UserTraffic
	for k := 0; k < min(3, len(emails)); k++ {
		e := emails[(a.usageRound+a.index+k)%len(emails)]
		users = append(users, protocol.UserTraffic{Email: e, Uplink: 1000, Downlink: 4000})
	}
	a.usageRound++
	a.nextSeq++
	a.journal = append(a.journal, journalEntry{seq: a.nextSeq, at: time.Now().Unix(), users: users})
}

// usageBatch takes the unacknowledged journal as one batch, (acked, last]
// merged per user, unless one is in flight.
func (s *agentSession) usageBatch() (protocol.Message, bool) {
	// The reader (after a usage_ack) and the writer (on its tick) both
	// call this: claim the one in-flight slot before building a batch.
	if !s.inflight.CompareAndSwap(0, -1) {
		return protocol.Message{}, false
	}
	a := s.a
	a.mu.Lock()
	if len(a.journal) == 0 {
		a.mu.Unlock()
		s.inflight.Store(0)
		return protocol.Message{}, false
	}
	from := a.journal[0].seq - 1
	to := a.journal[len(a.journal)-1].seq
	merged := map[string]*protocol.UserTraffic{}
	var order []string
	at := int64(0)
	for _, e := range a.journal {
		at = max(at, e.at)
		for _, u := range e.users {
			m := merged[u.Email]
			if m == nil {
				m = &protocol.UserTraffic{Email: u.Email}
				merged[u.Email] = m
				order = append(order, u.Email)
			}
			m.Uplink += u.Uplink
			m.Downlink += u.Downlink
		}
	}
	a.mu.Unlock()
	batch := &protocol.Usage{FromSeq: from, ToSeq: to, At: at}
	for _, e := range order {
		batch.Users = append(batch.Users, *merged[e])
	}
	s.inflight.Store(to)
	return protocol.Message{Type: protocol.TypeUsage, Usage: batch}, true
}

// sendUsage queues the next batch, if any and none is in flight.
func (s *agentSession) sendUsage(ctx context.Context) {
	if m, ok := s.usageBatch(); ok && !s.send(ctx, m) {
		s.inflight.Store(0)
	}
}

// trim drops journal entries up to seq and returns the bytes they held.
func (a *Agent) trim(seq int64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var bytes int64
	n := 0
	for _, e := range a.journal {
		if e.seq > seq {
			break
		}
		for _, u := range e.users {
			bytes += u.Uplink + u.Downlink
		}
		n++
	}
	a.journal = append(a.journal[:0], a.journal[n:]...)
	if a.nextSeq < seq {
		a.nextSeq = seq
	}
	return bytes
}

func (s *agentSession) readLoop(ctx context.Context) error {
	s.touch()
	for {
		typ, r, err := s.conn.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			// 1006 is no close frame at all: the connection just ended.
			if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure && ctx.Err() == nil {
				if code, ok := protocol.CodeOfCloseStatus(ce.Code); ok {
					return fmt.Errorf("%w: close %d: %w", errPanelClosed, ce.Code, &protocol.Error{Code: code, Message: ce.Text})
				}
				return fmt.Errorf("%w: close %d %q", errPanelClosed, ce.Code, ce.Text)
			}
			return err
		}
		s.touch()
		if typ != websocket.TextMessage {
			continue
		}
		if err := s.handle(ctx, r); err != nil {
			return err
		}
	}
}

// snapshotHeader is the part of a snapshot frame a non-verifier reads.
type snapshotHeader struct {
	Type     string `json:"type"`
	Snapshot *struct {
		Revision  int64  `json:"revision"`
		StateHash string `json:"state_hash"`
		Chunk     int    `json:"chunk"`
		Last      bool   `json:"last"`
	} `json:"snapshot"`
}

func (s *agentSession) handle(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 4096)
	// A snapshot chunk is the only large frame. A non-verifier reads its
	// header fields from the frame's start (the panel writes the envelope's
	// type and the snapshot's scalar fields before its users) and discards
	// the rest; everything else is decoded whole.
	head, _ := br.Peek(512)
	if !s.a.verify && bytes.HasPrefix(head, []byte(`{"type":"snapshot"`)) {
		if h, ok := parseSnapshotHeader(head); ok {
			_, _ = io.Copy(io.Discard, br)
			return s.onSnapshotHeader(ctx, h)
		}
	}
	if !s.a.verify && bytes.HasPrefix(head, []byte(`{"type":"delta"`)) {
		// A non-verifier needs a delta's revisions, hash and user names,
		// not every user's credentials: a thousand agents decoding each
		// delta whole cost the harness as much CPU as the panel (issue 12).
		var m deltaHeader
		if err := json.NewDecoder(br).Decode(&m); err != nil {
			return fmt.Errorf("decoding %q: %w", head[:min(len(head), 40)], err)
		}
		return s.onDelta(ctx, m.delta())
	}
	var m protocol.Message
	if err := json.NewDecoder(br).Decode(&m); err != nil {
		return fmt.Errorf("decoding %q: %w", head[:min(len(head), 40)], err)
	}
	a := s.a
	switch m.Type {
	case protocol.TypeWelcome:
		if m.Welcome == nil {
			return errors.New("welcome without body")
		}
		if m.Welcome.PingSeconds > 0 {
			s.ping = time.Duration(m.Welcome.PingSeconds) * time.Second
			s.touch()
		}
		// Entries the panel recorded before an ack was lost are trimmed
		// here, not resent: they were counted.
		a.f.stats.usageBytes.Add(a.trim(m.Welcome.UsageAckedSeq))
		s.welcomed.Store(true)
		a.f.stats.sessions.Add(1)
		a.mu.Lock()
		a.connected = true
		a.panel = (a.index + a.cur) % len(a.f.cfg.PanelURLs)
		enforced := a.enforced
		a.enforced = nil
		a.mu.Unlock()
		s.send(ctx, s.status()) // as the real agent does on welcome
		if len(enforced) > 0 {
			a.f.stats.enforced.Add(int64(len(enforced)))
			s.send(ctx, protocol.Message{Type: protocol.TypeEnforced, Enforced: &protocol.Enforced{Users: enforced}})
		}
		s.sendUsage(ctx)
	case protocol.TypeSnapshot:
		return s.onSnapshot(ctx, m.Snapshot)
	case protocol.TypeDelta:
		return s.onDelta(ctx, m.Delta)
	case protocol.TypeUsageAck:
		if m.UsageAck == nil {
			return nil
		}
		if b := a.trim(m.UsageAck.Seq); b > 0 {
			a.f.stats.usageBatches.Add(1)
			a.f.stats.usageBytes.Add(b)
		}
		if s.inflight.Load() <= m.UsageAck.Seq {
			s.inflight.Store(0)
		}
		s.sendUsage(ctx)
	case protocol.TypeError:
		if m.Error != nil {
			return fmt.Errorf("%w: %w", errPanelClosed, m.Error)
		}
	case protocol.TypeLogs, protocol.TypeRestart:
		// No Xray, no logs and nothing to restart.
	}
	return nil
}

// deltaHeader is the part of a delta a non-verifier reads.
type deltaHeader struct {
	Delta *struct {
		FromRevision int64           `json:"from_revision"`
		Revision     int64           `json:"revision"`
		StateHash    string          `json:"state_hash"`
		Config       json.RawMessage `json:"config"`
		Upserts      []struct {
			Email string `json:"email"`
		} `json:"upserts"`
	} `json:"delta"`
}

func (h deltaHeader) delta() *protocol.Delta {
	if h.Delta == nil {
		return nil
	}
	d := &protocol.Delta{FromRevision: h.Delta.FromRevision, Revision: h.Delta.Revision, StateHash: h.Delta.StateHash,
		Upserts: make([]protocol.User, len(h.Delta.Upserts))}
	if len(h.Delta.Config) > 0 && string(h.Delta.Config) != "null" {
		d.Config = h.Delta.Config
	}
	for i, u := range h.Delta.Upserts {
		d.Upserts[i].Email = u.Email
	}
	return d
}

func parseSnapshotHeader(head []byte) (snapshotHeader, bool) {
	// Cut the frame at the users array and close the objects: what is left
	// is the envelope with the snapshot's scalar fields.
	i := bytes.Index(head, []byte(`"users":`))
	j := bytes.Index(head, []byte(`"config":`))
	if j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return snapshotHeader{}, false
	}
	prefix := bytes.TrimRight(head[:i], ",")
	var h snapshotHeader
	if err := json.Unmarshal(append(append([]byte(nil), prefix...), "}}"...), &h); err != nil || h.Snapshot == nil {
		return snapshotHeader{}, false
	}
	return h, true
}

// onSnapshotHeader is a non-verifier's snapshot: the last chunk completes it.
func (s *agentSession) onSnapshotHeader(ctx context.Context, h snapshotHeader) error {
	sn := h.Snapshot
	if sn.Chunk == 0 {
		s.snapRev, s.snapHash, s.snapOK = sn.Revision, sn.StateHash, true
	}
	if !sn.Last {
		return nil
	}
	if !s.snapOK || s.snapRev != sn.Revision {
		return fmt.Errorf("snapshot chunk %d of revision %d without its start", sn.Chunk, sn.Revision)
	}
	s.snapOK = false
	var hash protocol.StateHash
	if err := decodeHash(sn.StateHash, &hash); err != nil {
		return err
	}
	a := s.a
	a.mu.Lock()
	a.revision, a.hash = sn.Revision, hash
	a.mu.Unlock()
	a.f.stats.snapshots.Add(1)
	return s.ack(ctx, sn.Revision, sn.StateHash, nil, true)
}

// onSnapshot is a verifier's snapshot: every user is hashed.
func (s *agentSession) onSnapshot(ctx context.Context, sn *protocol.Snapshot) error {
	if sn == nil {
		return errors.New("snapshot without body")
	}
	if !s.a.verify {
		return s.onSnapshotHeader(ctx, snapshotHeader{Type: protocol.TypeSnapshot, Snapshot: &struct {
			Revision  int64  `json:"revision"`
			StateHash string `json:"state_hash"`
			Chunk     int    `json:"chunk"`
			Last      bool   `json:"last"`
		}{sn.Revision, sn.StateHash, sn.Chunk, sn.Last}})
	}
	if sn.Chunk == 0 {
		s.snapRev, s.snapHash, s.snapOK = sn.Revision, sn.StateHash, true
		s.snapUsers = make(map[string][32]byte, len(sn.Users))
		s.snapCfg = append([]byte(nil), sn.Config...)
	}
	if !s.snapOK || s.snapRev != sn.Revision {
		return fmt.Errorf("snapshot chunk %d of revision %d without its start", sn.Chunk, sn.Revision)
	}
	for _, u := range sn.Users {
		s.snapUsers[u.Email] = protocol.UserDigest(u)
	}
	if !sn.Last {
		return nil
	}
	s.snapOK = false
	var hash protocol.StateHash
	hash.ToggleConfig(s.snapCfg)
	for _, d := range s.snapUsers {
		xorInto(&hash, d)
	}
	a := s.a
	if hash.String() != s.snapHash {
		a.f.stats.badState.Add(1)
		return s.refuse(ctx, fmt.Sprintf("snapshot %d hashes to %s, panel says %s", sn.Revision, hash, s.snapHash))
	}
	a.mu.Lock()
	a.revision, a.hash, a.users = sn.Revision, hash, s.snapUsers
	a.configSum, a.hasConfig = protocol.ConfigDigest(s.snapCfg), true
	a.mu.Unlock()
	s.snapUsers, s.snapCfg = nil, nil
	a.f.stats.snapshots.Add(1)
	return s.ack(ctx, sn.Revision, hash.String(), nil, true)
}

func (s *agentSession) onDelta(ctx context.Context, d *protocol.Delta) error {
	if d == nil {
		return errors.New("delta without body")
	}
	a := s.a
	a.mu.Lock()
	if d.FromRevision != a.revision {
		a.mu.Unlock()
		a.f.stats.badState.Add(1)
		return s.refuse(ctx, fmt.Sprintf("delta from %d, applied %d", d.FromRevision, a.revision))
	}
	if !a.verify {
		if err := decodeHash(d.StateHash, &a.hash); err != nil {
			a.mu.Unlock()
			return err
		}
		a.revision = d.Revision
		a.mu.Unlock()
	} else {
		// Build the new state aside and keep it only if it lands on the
		// panel's hash, as the real agent applies nothing it cannot verify.
		hash := a.hash
		changed := map[string]*[32]byte{}
		digest := func(email string) ([32]byte, bool) {
			if c, ok := changed[email]; ok {
				if c == nil {
					return [32]byte{}, false
				}
				return *c, true
			}
			v, ok := a.users[email]
			return v, ok
		}
		if len(d.Config) > 0 {
			if a.hasConfig {
				xorInto(&hash, a.configSum)
			}
			hash.ToggleConfig(d.Config)
		}
		for _, e := range d.Removes {
			if old, ok := digest(e); ok {
				xorInto(&hash, old)
				changed[e] = nil
			}
		}
		for _, u := range d.Upserts {
			if old, ok := digest(u.Email); ok {
				xorInto(&hash, old)
			}
			nd := protocol.UserDigest(u)
			xorInto(&hash, nd)
			changed[u.Email] = &nd
		}
		if hash.String() != d.StateHash {
			a.mu.Unlock()
			a.f.stats.badState.Add(1)
			return s.refuse(ctx, fmt.Sprintf("delta to %d hashes to %s, panel says %s", d.Revision, hash, d.StateHash))
		}
		for e, v := range changed {
			if v == nil {
				delete(a.users, e)
			} else {
				a.users[e] = *v
			}
		}
		if len(d.Config) > 0 {
			a.configSum, a.hasConfig = protocol.ConfigDigest(d.Config), true
		}
		a.revision, a.hash = d.Revision, hash
		a.mu.Unlock()
	}
	a.f.stats.deltas.Add(1)
	var emails []string
	if a.f.cfg.Observer != nil {
		emails = make([]string, len(d.Upserts))
		for i, u := range d.Upserts {
			emails[i] = u.Email
		}
	}
	return s.ack(ctx, d.Revision, d.StateHash, emails, len(d.Config) > 0)
}

// ack acknowledges a state; withStatus follows it with a status, as the
// real agent does after a snapshot and after a delta that carries a
// config (nodes/agent/session.go); otherwise statuses go every
// statusEvery. Until 2026-12-07 the harness sent one after every ack,
// twice the frames a real fleet makes the panel read.
func (s *agentSession) ack(ctx context.Context, rev int64, hash string, upserts []string, withStatus bool) error {
	a := s.a
	s.send(ctx, protocol.Message{Type: protocol.TypeAck, Ack: &protocol.Ack{Revision: rev, StateHash: hash}})
	if obs := a.f.cfg.Observer; obs != nil && len(upserts) > 0 {
		obs(a.index, rev, upserts, time.Now())
	}
	if withStatus {
		s.send(ctx, s.status())
	}
	return nil
}

// statusEvery is how often an agent sends a status unasked, as the real
// agent does.
const statusEvery = 30 * time.Second

func (s *agentSession) status() protocol.Message {
	st := s.a.State()
	return protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{
		AppliedRevision: st.Revision, JournalBacklog: st.Backlog, XrayVersion: "none",
	}}
}

// refuse answers a state the agent cannot reach with bad_state: the panel
// then sends a snapshot.
func (s *agentSession) refuse(ctx context.Context, why string) error {
	st := s.a.State()
	s.a.f.cfg.Log.Warn("fleet agent refused state", "agent", s.a.index, "why", why)
	s.send(ctx, protocol.Message{Type: protocol.TypeAck, Ack: &protocol.Ack{
		Revision: st.Revision, StateHash: st.Hash, Error: string(protocol.ErrCodeBadState) + ": " + why, Code: protocol.ErrCodeBadState,
	}})
	return nil
}

func decodeHash(s string, h *protocol.StateHash) error {
	if len(s) != 2*len(h) {
		return fmt.Errorf("state hash %q: not %d hex bytes", s, len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return fmt.Errorf("state hash %q: not %d hex bytes", s, len(h))
	}
	return nil
}

func xorInto(h *protocol.StateHash, d [32]byte) {
	for i := range h {
		h[i] ^= d[i]
	}
}
