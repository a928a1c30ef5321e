package agent

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// connectTimeout bounds the TCP connect to one of several panel addresses.
const connectTimeout = 5 * time.Second

// statusEvery is how often a live session reports the node's health.
const statusEvery = 30 * time.Second

// connectLoop dials the panel until ctx ends; see redial.
func (a *Agent) connectLoop(ctx context.Context) { a.redial(ctx, a.session) }

// redial runs sessions one after another, on the address and after the
// wait that rotation says. The wait goes through Config.After, so a test
// drives it without sleeping. session is given the address to dial.
func (a *Agent) redial(ctx context.Context, session func(ctx context.Context, panelURL string) (welcomed bool, err error)) {
	panels := a.cfg.panels()
	if len(panels) == 0 {
		panels = []string{""} // a test's session that dials nothing
	}
	r := newRotation(len(panels), newBackoff(a.cfg.MinBackoff, a.cfg.MaxBackoff, rand.Int64N))
	for ctx.Err() == nil {
		addr := panels[r.cur]
		began := time.Now()
		welcomed, err := session(ctx, addr)
		stable := welcomed && time.Since(began) >= stableSession
		if ctx.Err() != nil {
			return
		}
		// Say so in the next hello, so the panel shows that two agents
		// share the token.
		a.fenced.Store(isFenced(err))
		if isMove(err) {
			a.moves.Add(1)
		}
		wait := r.next(welcomed, stable, err)
		a.log.Info("panel session ended; xray keeps serving", "panel", addr, "err", err,
			"next_panel", panels[r.cur], "retry_in", wait.Round(time.Millisecond))
		if wait <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.After(wait):
		}
	}
}

// backoff is the wait between dials: exponential from min up to max, with
// jitter so that nodes cut off together do not redial together; back to
// min after a session that got as far as a welcome; max at once when
// another agent took the session over (two agents with one token fence
// each other forever, so one of them backs off hard).
type backoff struct {
	min, max, cur time.Duration
	jitter        func(n int64) int64 // uniform in [0, n)
}

func newBackoff(min, max time.Duration, jitter func(int64) int64) *backoff {
	return &backoff{min: min, max: max, cur: min, jitter: jitter}
}

// next is the wait after a session ended; it is in [cur/2, 3*cur/2).
func (b *backoff) next(welcomed, fenced bool) time.Duration {
	if welcomed {
		b.reset()
	}
	wait := b.cur/2 + time.Duration(b.jitter(int64(b.cur)))
	if fenced {
		wait = b.max
	}
	b.cur = min(b.cur*2, b.max)
	return wait
}

// reset starts the backoff over from min.
func (b *backoff) reset() { b.cur = b.min }

// isFenced reports whether a session ended because a newer session of
// this node took over, by the panel's error frame or its close status.
func isFenced(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == protocol.ErrCodeFenced
}

func wsURL(panelURL string) (string, error) {
	u, err := url.Parse(panelURL)
	if err != nil {
		return "", fmt.Errorf("panel url: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("panel url: scheme must be http or https, got %q", u.Scheme)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + protocol.WSPath
	return u.String(), nil
}

func (a *Agent) dialer() *websocket.Dialer {
	// permessage-deflate: the panel deflates a snapshot once for every
	// node that asks (a 100,000-user snapshot is ~30 MB of JSON, a few MB
	// deflated). A panel that does not offer it sends plain frames.
	d := &websocket.Dialer{HandshakeTimeout: 15 * time.Second, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10,
		EnableCompression: true}
	if len(a.cfg.panels()) > 1 {
		// With other replicas to try, a replica whose host drops packets
		// (no refusal) must not hold the node for the whole handshake
		// timeout.
		d.NetDialContext = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	if pin := strings.ToLower(a.cfg.PanelCertSHA256); pin != "" {
		// With a pin the certificate itself is the trust anchor, so a
		// self-signed panel certificate works and a swapped one does not.
		d.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("panel sent no certificate")
			}
			sum := sha256.Sum256(raw[0])
			if hex.EncodeToString(sum[:]) != pin {
				return errors.New("panel certificate does not match the pinned SHA-256")
			}
			return nil
		}}
	}
	return d
}

// session runs one panel session and reports whether it was welcomed.
func (a *Agent) session(ctx context.Context, panelURL string) (bool, error) {
	conn, err := a.dial(ctx, panelURL)
	if err != nil {
		return false, err
	}
	s := a.openSession(ctx, conn)
	defer s.end()
	s.sendHello()
	return s.serve(ctx)
}

// dial opens the WebSocket to the panel, with the node token.
func (a *Agent) dial(ctx context.Context, panelURL string) (*websocket.Conn, error) {
	target, err := wsURL(panelURL)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	hdr.Set(protocol.TokenHeader, protocol.TokenValue(a.cfg.Token))
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, resp, err := a.dialer().DialContext(dctx, target, hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dialing panel %s: %w (HTTP %d)", panelURL, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dialing panel %s: %w", panelURL, err)
	}
	conn.SetReadLimit(512 << 20) // snapshots: the panel's frames are not node-sized
	// Deflate is for what the panel sends; what a node sends is small or
	// (usage) seldom, and inflating it would cost the panel's CPU.
	conn.EnableWriteCompression(false)
	return conn, nil
}

// panelSession is one live session. A writer goroutine owns the
// connection's writes (fed by out) and a reader goroutine its reads (into
// msgs); every other field belongs to the goroutine running serve.
type panelSession struct {
	a       *Agent
	conn    *websocket.Conn
	ctx     context.Context // ends with the session
	stop    context.CancelFunc
	out     chan protocol.Message
	msgs    chan protocol.Message
	readErr chan error
	// writeErr holds the writer's error, put before it closes the
	// connection, so the read error that follows is reported as the write's.
	writeErr chan error
	writer   sync.WaitGroup

	welcomed      bool
	usageAcked    int64
	usageInflight bool
	snapHead      *protocol.Snapshot // the first chunk of a snapshot being received
	snapUsers     []protocol.User
	logs          logBudget
}

// logBudget limits the log lines sent: at most logsPerSecond a second, and
// never a wait for room in the send queue, so logs cannot hold up state or
// usage messages nor crowd the panel (or Redis). What is not sent is
// counted in the next batch's Dropped.
type logBudget struct {
	dropped int64
	window  time.Time
	sent    int
}

// openSession starts the session's writer and reader.
func (a *Agent) openSession(ctx context.Context, conn *websocket.Conn) *panelSession {
	sctx, stop := context.WithCancel(ctx)
	s := &panelSession{
		a: a, conn: conn, ctx: sctx, stop: stop,
		out: make(chan protocol.Message, 16), msgs: make(chan protocol.Message),
		readErr: make(chan error, 1), writeErr: make(chan error, 1),
	}
	s.writer.Add(1)
	go s.writeLoop()
	readTimeout := a.cfg.ReadTimeout
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	go s.readLoop(readTimeout)
	return s
}

// end undoes what the session set up: the agent no longer counts itself
// connected, the writer says goodbye and stops, the connection closes.
func (s *panelSession) end() {
	s.a.connected.Store(false)
	s.a.sessionUsage.Store(nil)
	s.a.logs.set(false)
	s.stop()
	s.writer.Wait()
	_ = s.conn.Close()
}

func (s *panelSession) writeLoop() {
	defer s.writer.Done()
	for {
		select {
		case <-s.ctx.Done():
			_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			_ = s.conn.Close()
			return
		case m := <-s.out:
			_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if err := s.conn.WriteJSON(m); err != nil {
				s.writeErr <- err
				s.stop()
				_ = s.conn.Close()
				return
			}
		}
	}
}

func (s *panelSession) readLoop(readTimeout time.Duration) {
	for {
		var m protocol.Message
		if err := s.conn.ReadJSON(&m); err != nil {
			s.readErr <- err
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(readTimeout))
		select {
		case s.msgs <- m:
		case <-s.ctx.Done():
			return
		}
	}
}

// send queues m, waiting for room; false when the session ended first.
func (s *panelSession) send(m protocol.Message) bool {
	select {
	case s.out <- m:
		return true
	case <-s.ctx.Done():
		return false
	}
}

func (s *panelSession) sendHello() {
	a := s.a
	a.mu.Lock()
	hello := &protocol.Hello{Protocol: protocol.Version, AppliedRevision: a.desired.Revision, StateHash: a.desired.Hash.String(),
		AgentVersion: Version, XrayVersion: xraycore.Version(), Fenced: a.fenced.Load()}
	a.mu.Unlock()
	if id, err := a.store.NodeID(); err == nil {
		hello.NodeID = id
	}
	s.send(protocol.Message{Type: protocol.TypeHello, Hello: hello})
}

func (s *panelSession) sendStatus() {
	s.send(protocol.Message{Type: protocol.TypeStatus, Status: s.a.statusMessage()})
}

// serve runs the session until it ends: messages from the panel, and the
// node's own reasons to write (a status tick, journaled usage, log lines).
func (s *panelSession) serve(ctx context.Context) (bool, error) {
	statusTick := time.NewTicker(statusEvery)
	defer statusTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.welcomed, ctx.Err()
		case err := <-s.readErr:
			return s.welcomed, s.readFailed(err)
		case <-statusTick.C:
			if s.welcomed {
				s.sendStatus()
			}
		case <-s.a.usageWake:
			s.sendUsage()
		case line := <-s.a.logs.lines:
			if s.welcomed {
				s.sendLogs(s.a.logs.batch(line))
			}
		case m := <-s.msgs:
			if err := s.handle(m); err != nil {
				return s.welcomed, err
			}
		}
	}
}

// readFailed says why the session ended when reading failed: the writer's
// error if the writer closed the connection, the code of the panel's close
// status if it sent one, else the read error.
func (s *panelSession) readFailed(err error) error {
	select {
	case werr := <-s.writeErr:
		return werr
	default:
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if code, ok := protocol.CodeOfCloseStatus(ce.Code); ok {
			return fmt.Errorf("panel closed the session: %w", &protocol.Error{Code: code, Message: ce.Text})
		}
	}
	return fmt.Errorf("reading from panel: %w", err)
}

// handle acts on one message from the panel; an error ends the session.
func (s *panelSession) handle(m protocol.Message) error {
	switch m.Type {
	case protocol.TypeWelcome:
		return s.onWelcome(m.Welcome)
	case protocol.TypeSnapshot:
		return s.onSnapshot(m.Snapshot)
	case protocol.TypeDelta:
		return s.onDelta(m.Delta)
	case protocol.TypeLogs:
		if m.Logs != nil {
			s.a.logs.set(m.Logs.On)
			s.logs.dropped = 0
		}
	case protocol.TypeRestart:
		s.a.restartCore()
		s.sendStatus()
	case protocol.TypeUsageAck:
		s.onUsageAck(m.UsageAck)
	case protocol.TypeError:
		return s.onError(m.Error)
	}
	return nil
}

func (s *panelSession) onWelcome(w *protocol.Welcome) error {
	if w == nil {
		return errors.New("welcome without body")
	}
	a := s.a
	s.welcomed = true
	s.usageAcked = w.UsageAckedSeq
	if err := a.store.TrimUsage(s.usageAcked); err != nil {
		a.log.Warn("trimming usage journal", "err", err)
	}
	if w.UsageSeconds > 0 {
		a.usageEvery.Store(int64(time.Duration(w.UsageSeconds) * time.Second))
	}
	if w.NodeID > 0 {
		_ = a.store.SetNodeID(w.NodeID)
	}
	a.connected.Store(true)
	a.sessionUsage.Store(&sessionLink{send: s.send})
	a.log.Info("connected to panel", "node_id", w.NodeID, "usage_acked_seq", s.usageAcked)
	s.sendStatus()
	a.mu.Lock()
	a.reportEnforced()
	a.mu.Unlock()
	s.sendUsage()
	return nil
}

// onSnapshot collects a snapshot's chunks and applies it at the last one.
func (s *panelSession) onSnapshot(snap *protocol.Snapshot) error {
	if snap == nil {
		return errors.New("snapshot without body")
	}
	if snap.Chunk == 0 {
		s.snapHead, s.snapUsers = snap, nil
	} else if s.snapHead == nil || snap.Revision != s.snapHead.Revision {
		return errors.New("snapshot chunk out of order")
	}
	s.snapUsers = append(s.snapUsers, snap.Users...)
	if !snap.Last {
		return nil
	}
	ack := s.a.applySnapshot(s.snapHead.Revision, s.snapHead.StateHash, s.snapHead.Config, s.snapUsers)
	s.snapHead, s.snapUsers = nil, nil
	s.send(protocol.Message{Type: protocol.TypeAck, Ack: &ack})
	s.sendStatus()
	return nil
}

func (s *panelSession) onDelta(d *protocol.Delta) error {
	if d == nil {
		return errors.New("delta without body")
	}
	ack := s.a.applyDelta(d)
	s.send(protocol.Message{Type: protocol.TypeAck, Ack: &ack})
	if d.Config != nil {
		s.sendStatus()
	}
	return nil
}

// sendUsage sends the next journaled batch, one in flight at a time.
func (s *panelSession) sendUsage() {
	if !s.welcomed || s.usageInflight {
		return
	}
	batch, err := s.a.nextUsageBatch(s.usageAcked)
	if err != nil {
		s.a.log.Warn("reading usage journal", "err", err)
		return
	}
	if batch != nil && s.send(protocol.Message{Type: protocol.TypeUsage, Usage: batch}) {
		s.usageInflight = true
	}
}

func (s *panelSession) onUsageAck(ack *protocol.UsageAck) {
	if ack == nil {
		return
	}
	if err := s.a.store.TrimUsage(ack.Seq); err != nil {
		s.a.log.Warn("trimming usage journal", "err", err)
	}
	s.usageAcked = max(s.usageAcked, ack.Seq)
	s.usageInflight = false
	s.sendUsage()
}

// sendLogs sends a batch of log lines within the session's logBudget.
func (s *panelSession) sendLogs(b *protocol.LogLines) {
	l := &s.logs
	b.Dropped += l.dropped
	if now := time.Now(); now.Sub(l.window) >= time.Second {
		l.window, l.sent = now, 0
	}
	if l.sent >= logsPerSecond {
		l.dropped = b.Dropped + int64(len(b.Lines))
		return
	}
	select {
	case s.out <- protocol.Message{Type: protocol.TypeLogLines, LogLines: b}:
		l.dropped = 0
		l.sent += len(b.Lines)
	default:
		l.dropped = b.Dropped + int64(len(b.Lines))
	}
}

// onError ends the session with the panel's typed reason.
func (s *panelSession) onError(e *protocol.Error) error {
	if e == nil {
		return errors.New("panel error")
	}
	if e.Code == protocol.ErrCodeInvalid {
		// A bug on one side; the panel says which frame. Keep redialing
		// with backoff: the data plane is unaffected.
		s.a.log.Error("panel refused a frame of this agent", "message", e.Message)
	}
	return fmt.Errorf("panel: %w", e)
}
