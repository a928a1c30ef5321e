package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	fastws "github.com/fasthttp/websocket"
	"github.com/gofiber/websocket/v2"

	"github.com/outpost-panel/outpost/backend/metrics"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// session is one live node connection. One goroutine reads, one writes; the
// writer sends at most one state message (delta or snapshot) until the node
// acknowledges it, so a node is never asked to apply out of order.
type session struct {
	h     *Hub
	conn  *websocket.Conn
	node  *model.Node
	fence int64
	log   *slog.Logger

	out     chan protocol.Message
	snapc   chan *snapJob    // a snapshot for the writer, one at a time
	deltac  chan *deltaEntry // a delta for the writer, one at a time
	wake    chan struct{}
	done    chan struct{}
	closeMu sync.Once
	reason  string
	code    protocol.ErrorCode // sent to the node with the close; "" sends none

	// dlMu orders read-deadline changes with close: once done is closed
	// nothing extends the deadline close cut short.
	dlMu sync.Mutex
	// snapPending is set from a snapshot's first chunk to the node's ack:
	// the node reads (and then applies) it before it reads our pings, which
	// wait behind it in the socket buffers, so its silence is given
	// snapshotGrace more.
	snapPending atomic.Bool

	mu           sync.Mutex
	hello        *protocol.Hello
	applied      int64 // revision the node acknowledged
	inflight     int64 // revision sent and not yet acknowledged (0 = none)
	needSnapshot bool
	refused      int64 // a revision the node refused; not resent until the state moves past it
	logsOn       bool  // the node was asked to stream its log lines (logs.go)
	usageSeq     int64 // the last usage sequence recorded for the node
	usageBusy    bool  // a usage batch is being recorded (onUsage); its ack not sent yet
	sharedToken  bool  // the node said another agent took its last session over
	backlog      int   // journal entries the node holds unsent, as of its last status (-1: none yet)

	// When inflight was sent and what it was, for the ack latency metric.
	sentAt   time.Time
	sentKind string // "snapshot" or "delta"

	// usageWG counts the goroutine recording a usage batch (onUsage).
	usageWG sync.WaitGroup
}

// sharedTokenMessage is the node's message while two agents fence each other.
const sharedTokenMessage = "two agents share this token: each new session of one ends the other's; give each node its own token"

var (
	errProtocolMismatch = errors.New("protocol version not supported")
	errBeforeHello      = errors.New("message before hello")
)

func newSession(h *Hub, c *websocket.Conn, n *model.Node, fence int64) *session {
	return &session{
		h: h, conn: c, node: n, fence: fence, usageSeq: n.UsageSeq, backlog: -1,
		log:   h.log.With("node", n.ID),
		out:   make(chan protocol.Message, 64),
		snapc: make(chan *snapJob), deltac: make(chan *deltaEntry, 1),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

func (s *session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close ends the session; code (a protocol.ErrCode*, or "") is sent to the
// node in an error frame so it can tell a fence from a protocol violation
// without reading the reason.
func (s *session) close(code protocol.ErrorCode, reason string) {
	s.closeMu.Do(func() {
		s.code, s.reason = code, reason
		close(s.done)
	})
	// Unblock the reader (outside the Once: no lock while taking another).
	s.dlMu.Lock()
	_ = s.conn.SetReadDeadline(time.Now())
	s.dlMu.Unlock()
}

// extendRead gives the node another read deadline from now, unless the
// session is closing. The reader calls it on every frame and pong, the
// writer after each snapshot chunk the node took: a node that is reading
// a 30 MB snapshot is alive even if its pong waits behind the chunks.
func (s *session) extendRead() {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	d := 3 * s.h.opts.PingInterval
	if s.snapPending.Load() {
		d += snapshotGrace
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
}

// snapshotGrace is how much longer a node that was sent a snapshot may be
// silent: reading 30 MB and applying 100,000 users can take a loaded node
// longer than three pings, and it pongs only after that.
const snapshotGrace = 2 * time.Minute

func (s *session) send(m protocol.Message) bool {
	select {
	case s.out <- m:
		return true
	case <-s.done:
		return false
	}
}

// askLogs tells the node to start or stop streaming its log lines, as
// logsOn now says, if the send queue has room; if not, logsOn goes back
// and the next round of syncLogStreams asks again.
func (s *session) askLogs() {
	s.mu.Lock()
	on := s.logsOn
	s.mu.Unlock()
	select {
	case s.out <- protocol.Message{Type: protocol.TypeLogs, Logs: &protocol.Logs{On: on}}:
	default:
		s.mu.Lock()
		if s.logsOn == on {
			s.logsOn = !on
		}
		s.mu.Unlock()
	}
}

// run serves the session until it ends and returns why.
func (s *session) run(ctx context.Context) string {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.writeLoop() }()
	go func() { defer wg.Done(); s.stateLoop(ctx) }()
	s.readLoop(ctx)
	s.close("", s.reasonOr("connection closed"))
	wg.Wait()
	s.usageWG.Wait()
	return s.reason
}

// fail ends the session for an error handling a frame of type typ: a
// fence, a protocol mismatch or violation get their code, anything else
// (a database error) none.
func (s *session) fail(typ string, err error) {
	switch {
	case errors.Is(err, model.ErrFenced):
		s.close(protocol.ErrCodeFenced, "fenced by a newer session")
	case errors.Is(err, errProtocolMismatch):
		s.close(protocol.ErrCodeProtocol, err.Error())
	case errors.Is(err, protocol.ErrInvalid), errors.Is(err, errBeforeHello):
		s.log.Warn("node broke the protocol", "type", typ, "err", err)
		s.close(protocol.ErrCodeInvalid, "protocol error: "+err.Error())
	default:
		s.log.Warn("node message", "type", typ, "err", err)
		s.close("", "error: "+err.Error())
	}
}

func (s *session) reasonOr(r string) string {
	select {
	case <-s.done:
		return s.reason
	default:
		return r
	}
}

// snapJob is a snapshot for the writer: its chunks, shared with every
// session written the same revision, and done, closed when the last chunk
// was written (or the session ended).
type snapJob struct {
	e    *snapEntry
	done chan struct{}
}

// compressAbove is the encoded size from which a delta is deflated (when
// the node negotiated it): small frames are not worth a flate writer.
const compressAbove = 32 << 10

func (s *session) writeLoop() {
	ping := time.NewTicker(s.h.opts.PingInterval)
	defer ping.Stop()
	// Messages other than snapshots and big deltas go uncompressed.
	s.conn.EnableWriteCompression(false)
	var job *snapJob
	next := 0
	defer func() {
		if job != nil {
			close(job.done)
		}
	}()
	for {
		if job != nil {
			// Between chunks: a ping or a queued message (welcome, usage
			// ack, logs) goes first, so nothing waits for a whole snapshot.
			select {
			case <-s.done:
				s.goodbye()
				return
			case <-ping.C:
				if !s.writePing() {
					return
				}
			case m := <-s.out:
				if !s.writeMessage(m) {
					return
				}
			default:
				s.conn.EnableWriteCompression(true)
				_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				err := s.conn.WritePreparedMessage(job.e.chunks[next])
				s.conn.EnableWriteCompression(false)
				if err != nil {
					s.close("", "write failed: "+err.Error())
					return
				}
				s.extendRead()
				if next++; next == len(job.e.chunks) {
					close(job.done)
					job = nil
				}
			}
			continue
		}
		select {
		case <-s.done:
			s.goodbye()
			return
		case m := <-s.out:
			if !s.writeMessage(m) {
				return
			}
		case j := <-s.snapc:
			job, next = j, 0
		case e := <-s.deltac:
			if !s.writeDelta(e) {
				return
			}
		case <-ping.C:
			if !s.writePing() {
				return
			}
		}
	}
}

// writeDelta writes the messages queued before the delta (the welcome
// above all: the state loop queues a delta only after the hello's welcome),
// then the delta's shared bytes.
func (s *session) writeDelta(e *deltaEntry) bool {
	for queued := len(s.out); queued > 0; queued-- {
		if !s.writeMessage(<-s.out) {
			return false
		}
	}
	if e.big {
		s.conn.EnableWriteCompression(true)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	err := s.conn.WritePreparedMessage(e.pm)
	if e.big {
		s.conn.EnableWriteCompression(false)
	}
	if err != nil {
		s.close("", "write failed: "+err.Error())
		return false
	}
	return true
}

// goodbye tells the node why the session ends, best effort, so a fenced
// node does not redial in a loop and a node that broke the protocol knows how.
func (s *session) goodbye() {
	if s.code != "" {
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = s.conn.WriteJSON(protocol.Message{Type: protocol.TypeError, Error: &protocol.Error{Code: s.code, Message: s.reason}})
	}
	// A control frame holds 125 bytes; a longer reason would lose
	// the whole frame, and with it the status that carries the code.
	reason := s.reason
	if len(reason) > 123 {
		reason = strings.ToValidUTF8(reason[:123], "")
	}
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(s.code.CloseStatus(), reason), time.Now().Add(time.Second))
}

func (s *session) writePing() bool {
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
		s.close("", "ping failed: "+err.Error())
		return false
	}
	return true
}

func (s *session) writeMessage(m protocol.Message) bool {
	b, err := json.Marshal(m)
	if err != nil {
		s.close("", "encoding "+m.Type+": "+err.Error())
		return false
	}
	big := len(b) > compressAbove
	if big {
		s.conn.EnableWriteCompression(true)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	err = s.conn.WriteMessage(websocket.TextMessage, b)
	if big {
		s.conn.EnableWriteCompression(false)
	}
	if err != nil {
		s.close("", "write failed: "+err.Error())
		return false
	}
	return true
}

func (s *session) readLoop(ctx context.Context) {
	// Snapshots and deltas go the other way: nothing a node sends needs
	// more than this, and a bigger frame is refused before it is read
	// (readFrame bounds a deflated frame's inflated size the same way).
	s.conn.SetReadLimit(protocol.MaxNodeFrameBytes)
	s.extendRead()
	s.conn.SetPongHandler(func(string) error {
		s.extendRead()
		return nil
	})
	for {
		var m protocol.Message
		if err := s.readFrame(&m); err != nil {
			if errors.Is(err, fastws.ErrReadLimit) {
				s.log.Warn("node frame over the limit", "limit", protocol.MaxNodeFrameBytes)
				s.close(protocol.ErrCodeInvalid, fmt.Sprintf("protocol error: a frame larger than %d bytes", protocol.MaxNodeFrameBytes))
				return
			}
			var syntax *json.SyntaxError
			var typ *json.UnmarshalTypeError
			if errors.As(err, &syntax) || errors.As(err, &typ) {
				s.close(protocol.ErrCodeInvalid, "protocol error: malformed frame: "+err.Error())
				return
			}
			s.close("", s.reasonOr("read: "+err.Error()))
			return
		}
		s.extendRead()
		if err := s.handle(ctx, m); err != nil {
			s.fail(m.Type, err)
			return
		}
		// Time spent handling the frame (a database write queued behind a
		// thousand others) is ours, not the node's silence: its pongs wait
		// in the socket meanwhile.
		s.extendRead()
	}
}

// readFrame reads one JSON frame, at most MaxNodeFrameBytes once
// inflated: the read limit counts a compressed frame's wire bytes, so a
// small deflated frame could otherwise inflate to gigabytes.
func (s *session) readFrame(m *protocol.Message) error {
	_, r, err := s.conn.NextReader()
	if err != nil {
		return err
	}
	err = json.NewDecoder(&frameLimit{r: r, left: protocol.MaxNodeFrameBytes}).Decode(m)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // an empty frame, as ReadJSON says it
	}
	return err
}

// frameLimit fails a read past left bytes with ErrReadLimit.
type frameLimit struct {
	r    io.Reader
	left int64
}

func (l *frameLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more is over the limit; none more is the frame's end.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fastws.ErrReadLimit
		}
		return l.r.Read(p)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// check refuses a frame that breaks the protocol, before anything acts on
// it: out of its bounds (protocol.Message.ValidateFromNode), anything but
// hello first, a second hello, or a usage batch that does not follow the
// sequence the panel recorded. A refused frame changes nothing.
func (s *session) check(m *protocol.Message) error {
	if err := m.ValidateFromNode(); err != nil {
		return err
	}
	s.mu.Lock()
	hello, recorded, busy := s.hello != nil, s.usageSeq, s.usageBusy
	s.mu.Unlock()
	switch {
	case m.Type == protocol.TypeHello && hello:
		return fmt.Errorf("a second hello: %w", protocol.ErrInvalid)
	case m.Type != protocol.TypeHello && m.Type != protocol.TypeError && !hello:
		return fmt.Errorf("%s: %w", m.Type, errBeforeHello)
	case m.Type == protocol.TypeUsage && busy:
		return fmt.Errorf("a usage batch before the previous one's usage_ack: %w", protocol.ErrInvalid)
	case m.Type == protocol.TypeUsage:
		u := m.Usage
		// A batch already recorded (to_seq at or below) is acked again and
		// counted once; any other must start where the panel's record
		// ends, which is what welcome and each usage_ack told the node.
		if u.ToSeq > recorded && u.FromSeq != recorded {
			return fmt.Errorf("usage (%d, %d] does not follow the recorded sequence %d: %w", u.FromSeq, u.ToSeq, recorded, protocol.ErrInvalid)
		}
	}
	return nil
}

func (s *session) handle(ctx context.Context, m protocol.Message) error {
	if err := s.check(&m); err != nil {
		return err
	}
	switch m.Type {
	case protocol.TypeError:
		return fmt.Errorf("node error: %w", m.Error)
	case protocol.TypeHello:
		if m.Hello.Protocol != protocol.Version {
			return fmt.Errorf("panel speaks protocol %d, node %d: %w", protocol.Version, m.Hello.Protocol, errProtocolMismatch)
		}
		applied := m.Hello.AppliedRevision
		rev, hash := s.h.current().head()
		if applied > rev {
			// This replica may just be behind (it missed wake-ups, Redis was
			// away): catch up before judging, and never push older state.
			if err := s.h.follow(ctx); err != nil {
				s.log.Warn("catching up before hello", "err", err)
			}
			rev, hash = s.h.current().head()
		}
		need := applied <= 0 || (applied == rev && m.Hello.StateHash != hash.String())
		if applied > rev {
			stored, err := s.h.storedRevision(ctx)
			if err != nil {
				return fmt.Errorf("reading revision: %w", err)
			}
			// Ahead of the database itself: a restored database, whose word
			// is final. Ahead of this replica only: wait until it catches up.
			need = applied > stored
			if !need {
				s.log.Info("node is ahead of this replica; waiting to catch up", "node_revision", applied, "replica_revision", rev)
			}
		}
		s.mu.Lock()
		s.hello = m.Hello
		s.applied = applied
		s.needSnapshot = need
		s.sharedToken = m.Hello.Fenced
		s.mu.Unlock()
		msg := ""
		if m.Hello.Fenced {
			s.log.Warn("the node's agent was fenced by another session with its token: two agents share it")
			msg = sharedTokenMessage
		}
		s.send(protocol.Message{Type: protocol.TypeWelcome, Welcome: &protocol.Welcome{
			Protocol: protocol.Version, NodeID: s.node.ID, UsageAckedSeq: s.node.UsageSeq,
			PingSeconds: int(s.h.opts.PingInterval / time.Second), UsageSeconds: int(s.h.opts.UsageInterval / time.Second),
		}})
		s.recordStatus(model.NodeConnected, msg, m.Hello.AgentVersion, m.Hello.XrayVersion)
		s.kick()
	case protocol.TypeAck:
		return s.onAck(ctx, m.Ack)
	case protocol.TypeUsage:
		return s.onUsage(ctx, m.Usage)
	case protocol.TypeEnforced:
		if m.Enforced != nil && len(m.Enforced.Users) > 0 {
			s.log.Info("node enforced limits while away", "users", len(m.Enforced.Users))
			// The review job owns status changes; run it now rather than at its next tick.
			go func() {
				if _, err := s.h.st.Review(context.Background()); err != nil {
					s.log.Warn("review after enforcement report", "err", err)
				}
			}()
		}
	case protocol.TypeLogLines:
		if m.LogLines != nil && (len(m.LogLines.Lines) > 0 || m.LogLines.Dropped > 0) {
			s.h.publishLogs(LogEvent{NodeID: s.node.ID, Node: s.node.Name, Lines: m.LogLines.Lines, Dropped: m.LogLines.Dropped})
		}
	case protocol.TypeStatus:
		if m.Status == nil {
			return nil
		}
		s.mu.Lock()
		shared := s.sharedToken
		s.backlog = m.Status.JournalBacklog
		s.mu.Unlock()
		metrics.JournalBacklog.WithLabelValues(metrics.NodeLabel(s.node.ID)).Set(float64(m.Status.JournalBacklog))
		s.h.recordHealth(ctx, s.node.ID, m.Status)
		msg := statusMessage(m.Status)
		if shared {
			msg = strings.TrimSuffix(sharedTokenMessage+"; "+msg, "; ")
		}
		s.recordStatus(model.NodeConnected, msg, "", m.Status.XrayVersion)
		return nil
	default:
		return fmt.Errorf("unknown message type %q", m.Type)
	}
	return nil
}

// statusMessage turns the node's health into the node's "message".
func statusMessage(st *protocol.Status) string {
	var parts []string
	if st.Message != "" {
		parts = append(parts, st.Message)
	}
	tags := make([]string, 0, len(st.InboundErrors))
	for t := range st.InboundErrors {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	for _, t := range tags {
		parts = append(parts, fmt.Sprintf("inbound %q: %s", t, st.InboundErrors[t]))
	}
	return strings.Join(parts, "; ")
}

func (s *session) onAck(ctx context.Context, a *protocol.Ack) error {
	if s.snapPending.Swap(false) {
		s.extendRead()
	}
	s.mu.Lock()
	sent := s.inflight
	s.inflight = 0
	if a.Error != "" {
		s.log.Warn("node refused state", "revision", sent, "error", a.Error)
		if a.RefusalCode() == protocol.ErrCodeBadState {
			s.needSnapshot = true
			defer s.kick() // the snapshot goes now, not at the next change
		} else {
			s.refused = sent
		}
		s.mu.Unlock()
		s.recordStatus(model.NodeError, "refused revision "+strconv.FormatInt(sent, 10)+": "+a.Error, "", "")
		return nil
	}
	s.applied = a.Revision
	kind, sentAt := s.sentKind, s.sentAt
	s.mu.Unlock()
	observeAck(kind, sentAt)
	// Recorded behind (nodewrites.go): the next delta need not wait for
	// the database, and the reader goes on to the node's next frame.
	s.recordAck(a.Revision, a.StateHash)
	s.kick()
	return nil
}

// onUsage records a journaled batch once, then lets the node trim it. The
// recording runs beside the reader: the batch waits for the usage group
// commit (usage.go), which waits for the database's writer, and meanwhile
// the node's acks of deltas must still be read, or every change's way to
// the fleet waits for the slowest usage commit. A node has one batch in
// flight (it sends the next after usage_ack; check refuses one that comes
// sooner), so batches of a session are still recorded in order.
func (s *session) onUsage(ctx context.Context, u *protocol.Usage) error {
	// check bounded the numbers (protocol.Usage.Validate) and the sequence.
	traffic := make([]model.UserTraffic, 0, len(u.Users))
	for _, t := range u.Users {
		id, ok := userIDFromEmail(t.Email)
		if !ok {
			continue
		}
		// A device identity ("<id>.<username>#<device>", credentials per
		// device) counts for its user and for the device; the store merges
		// a user's identities and ignores a device that is not the user's.
		device, _ := protocol.DeviceOf(t.Email)
		traffic = append(traffic, model.UserTraffic{UserID: id, Up: t.Uplink, Down: t.Downlink, DeviceID: device})
	}
	now := s.h.st.Now().UTC()
	at := time.Unix(u.At, 0).UTC()
	if u.At <= 0 || at.After(now) {
		at = now // a node clock ahead of ours does not book usage into the future
	}
	batch := model.UsageBatch{NodeID: s.node.ID, Fence: s.fence, FromSeq: u.FromSeq, ToSeq: u.ToSeq, At: at, Traffic: traffic}
	s.mu.Lock()
	s.usageBusy = true
	s.mu.Unlock()
	s.usageWG.Add(1)
	go func() {
		defer s.usageWG.Done()
		// Committed with what other sessions queued meanwhile (usage.go),
		// before the usage_ack below.
		res, ok := s.applyUsage(batch)
		if !ok {
			return // the session ended; the node resends the batch
		}
		if res.Err != nil {
			s.fail(protocol.TypeUsage, fmt.Errorf("recording usage %d..%d: %w", u.FromSeq, u.ToSeq, res.Err))
			return
		}
		s.mu.Lock()
		if res.Applied {
			s.usageSeq = u.ToSeq
		}
		s.usageBusy = false
		s.mu.Unlock()
		countUsageBatch(res.Applied)
		s.send(protocol.Message{Type: protocol.TypeUsageAck, UsageAck: &protocol.UsageAck{Seq: u.ToSeq}})
		s.recordOnline(ctx, u.Online, now)
	}()
	return nil
}

// recordOnline keeps the addresses a usage batch carried (after its ack:
// addresses never hold up accounting, and a failure costs only them).
func (s *session) recordOnline(ctx context.Context, o *protocol.Online, now time.Time) {
	if o == nil || len(o.Users) == 0 {
		return
	}
	at := time.Unix(o.At, 0).UTC()
	if o.At <= 0 || at.After(now) {
		at = now
	}
	if now.Sub(at) > state.UserIPsRetention {
		return
	}
	seen := make([]model.UserIPs, 0, len(o.Users))
	for _, uo := range o.Users {
		id, ok := userIDFromEmail(uo.Email)
		if !ok || len(uo.IPs) == 0 {
			continue
		}
		seen = append(seen, model.UserIPs{UserID: id, IPs: uo.IPs})
	}
	if err := s.h.st.RecordOnline(ctx, s.node.ID, at, seen); err != nil && ctx.Err() == nil {
		s.log.Warn("recording online addresses", "users", len(seen), "err", err)
	}
}

func userIDFromEmail(email string) (int64, bool) {
	idStr, _, ok := strings.Cut(email, ".")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	return id, err == nil && id > 0
}

// stateLoop sends the node what it lacks, one message in flight at a time.
func (s *session) stateLoop(ctx context.Context) {
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		if err := s.pushState(ctx); err != nil {
			s.log.Warn("pushing state", "err", err)
			s.close("", "state push failed")
			return
		}
	}
}

func (s *session) pushState(ctx context.Context) error {
	// The desired state is read before the session's lock is taken: no
	// lock is held while another is taken (see the lock order on Hub).
	d := s.h.current()
	rev, hash := d.head()
	s.mu.Lock()
	if s.hello == nil || s.inflight != 0 {
		s.mu.Unlock()
		return nil
	}
	applied, snap, refused := s.applied, s.needSnapshot, s.refused
	s.mu.Unlock()
	if !snap && applied >= rev {
		return nil
	}
	if !snap && refused >= rev {
		return nil // the node refused this state; wait for the next change
	}
	if !snap {
		// Built and encoded once for every session at applied (deltas.go).
		e := s.h.deltas.get(s.h.changesSince, applied, rev, hash)
		if errors.Is(e.err, errNeedSnapshot) {
			snap = true
		} else if e.err != nil {
			return e.err
		} else {
			s.mu.Lock()
			s.inflight, s.sentAt, s.sentKind = rev, time.Now(), "delta"
			s.mu.Unlock()
			metrics.DeltasSent.Inc()
			select {
			case s.deltac <- e:
			case <-s.done:
			}
			return nil
		}
	}
	return s.sendSnapshot()
}

// sendSnapshot waits for a snapshot writer's turn (at most
// SnapshotWriters sessions write at once, the rest in the order they
// asked), then has the writer send the current revision's snapshot,
// encoded once for every session that needs it, and holds the turn until
// the last chunk is written. The reader keeps reading (acks, usage, pongs)
// and the writer keeps pinging meanwhile.
func (s *session) sendSnapshot() error {
	if !s.h.gate.acquire(s.done) {
		return nil
	}
	defer s.h.gate.release()
	// The newest state once it is this session's turn: a node that waited
	// gets what is current, not what was when it asked.
	e := s.h.snaps.get(s.h.current(), s.h.opts.SnapshotChunk)
	if e.err != nil {
		return e.err
	}
	s.mu.Lock()
	s.inflight, s.sentAt, s.sentKind = e.rev, time.Now(), "snapshot"
	s.needSnapshot = false
	s.mu.Unlock()
	metrics.SnapshotsSent.Inc()
	s.snapPending.Store(true) // the writer extends the deadline with each chunk
	job := &snapJob{e: e, done: make(chan struct{})}
	select {
	case s.snapc <- job:
	case <-s.done:
		return nil
	}
	select {
	case <-job.done:
	case <-s.done:
		return nil
	}
	s.log.Info("snapshot sent", "revision", e.rev, "users", e.users, "bytes", e.bytes)
	return nil
}
