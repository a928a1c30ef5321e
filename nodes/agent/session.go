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
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// errFenced ends the agent's dialing: another process holds this node's token.
var errFenced = errors.New("fenced by a newer session of this node")

// connectLoop dials the panel forever with capped exponential backoff and
// jitter; the backoff resets after a session that got as far as a welcome.
func (a *Agent) connectLoop(ctx context.Context) {
	backoff := a.cfg.MinBackoff
	for ctx.Err() == nil {
		welcomed, err := a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if welcomed {
			backoff = a.cfg.MinBackoff
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		// Two agents with one token fence each other forever: back off
		// hard, and say so in the next hello so the panel shows it.
		fenced := errors.Is(err, errFenced)
		a.fenced.Store(fenced)
		if fenced {
			wait = a.cfg.MaxBackoff
		}
		a.log.Info("panel session ended; xray keeps serving", "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
	}
}

func (a *Agent) wsURL() (string, error) {
	u, err := url.Parse(a.cfg.PanelURL)
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
	d := &websocket.Dialer{HandshakeTimeout: 15 * time.Second, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}
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
func (a *Agent) session(ctx context.Context) (bool, error) {
	target, err := a.wsURL()
	if err != nil {
		return false, err
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+a.cfg.Token)
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	conn, resp, err := a.dialer().DialContext(dctx, target, hdr)
	cancel()
	if err != nil {
		if resp != nil {
			return false, fmt.Errorf("dialing panel: %w (HTTP %d)", err, resp.StatusCode)
		}
		return false, fmt.Errorf("dialing panel: %w", err)
	}
	defer conn.Close()
	conn.SetReadLimit(512 << 20) // snapshots: the panel's frames are not node-sized

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	out := make(chan protocol.Message, 16)
	var writeErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-sctx.Done():
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
				_ = conn.Close()
				return
			case m := <-out:
				_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if err := conn.WriteJSON(m); err != nil {
					writeErr = err
					stop()
					_ = conn.Close()
					return
				}
			}
		}
	}()
	defer wg.Wait()
	defer stop()
	send := func(m protocol.Message) bool {
		select {
		case out <- m:
			return true
		case <-sctx.Done():
			return false
		}
	}

	a.mu.Lock()
	hello := &protocol.Hello{Protocol: protocol.Version, AppliedRevision: a.desired.Revision, StateHash: a.desired.Hash.String(),
		AgentVersion: Version, XrayVersion: xraycore.Version(), Fenced: a.fenced.Load()}
	a.mu.Unlock()
	if id, err := a.store.NodeID(); err == nil {
		hello.NodeID = id
	}
	send(protocol.Message{Type: protocol.TypeHello, Hello: hello})

	readTimeout := a.cfg.ReadTimeout
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})

	var (
		welcomed   bool
		usageAcked int64
		inflight   bool
		snapChunks []protocol.User
		snapHead   *protocol.Snapshot
	)
	msgs := make(chan protocol.Message)
	readErr := make(chan error, 1)
	go func() {
		for {
			var m protocol.Message
			if err := conn.ReadJSON(&m); err != nil {
				readErr <- err
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
			select {
			case msgs <- m:
			case <-sctx.Done():
				return
			}
		}
	}()
	sendUsage := func() {
		if !welcomed || inflight {
			return
		}
		batch, err := a.nextUsageBatch(usageAcked)
		if err != nil {
			a.log.Warn("reading usage journal", "err", err)
			return
		}
		if batch != nil && send(protocol.Message{Type: protocol.TypeUsage, Usage: batch}) {
			inflight = true
		}
	}
	statusTick := time.NewTicker(30 * time.Second)
	defer statusTick.Stop()
	defer func() {
		a.connected.Store(false)
		a.sessionUsage.Store(nil)
		a.logs.set(false)
	}()
	// sendLogs never waits: a batch the send queue has no room for is
	// dropped (and counted in the next one), so logs cannot hold up state
	// or usage messages.
	// At most logsPerSecond lines a second go out, so a flood of access
	// log lines cannot crowd the panel (or Redis) either.
	var (
		logsDropped int64
		logsWindow  time.Time
		logsSent    int
	)
	sendLogs := func(b *protocol.LogLines) {
		b.Dropped += logsDropped
		if now := time.Now(); now.Sub(logsWindow) >= time.Second {
			logsWindow, logsSent = now, 0
		}
		if logsSent >= logsPerSecond {
			logsDropped = b.Dropped + int64(len(b.Lines))
			return
		}
		select {
		case out <- protocol.Message{Type: protocol.TypeLogLines, LogLines: b}:
			logsDropped = 0
			logsSent += len(b.Lines)
		default:
			logsDropped = b.Dropped + int64(len(b.Lines))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return welcomed, ctx.Err()
		case err := <-readErr:
			if writeErr != nil {
				return welcomed, writeErr
			}
			return welcomed, fmt.Errorf("reading from panel: %w", err)
		case <-statusTick.C:
			if welcomed {
				send(protocol.Message{Type: protocol.TypeStatus, Status: a.statusMessage()})
			}
		case <-a.usageWake:
			sendUsage()
		case line := <-a.logs.lines:
			if welcomed {
				sendLogs(a.logs.batch(line))
			}
		case m := <-msgs:
			switch m.Type {
			case protocol.TypeWelcome:
				if m.Welcome == nil {
					return welcomed, errors.New("welcome without body")
				}
				welcomed = true
				usageAcked = m.Welcome.UsageAckedSeq
				if err := a.store.TrimUsage(usageAcked); err != nil {
					a.log.Warn("trimming usage journal", "err", err)
				}
				if m.Welcome.UsageSeconds > 0 {
					a.usageEvery.Store(int64(time.Duration(m.Welcome.UsageSeconds) * time.Second))
				}
				if m.Welcome.NodeID > 0 {
					_ = a.store.SetNodeID(m.Welcome.NodeID)
				}
				a.connected.Store(true)
				a.sessionUsage.Store(&sessionLink{send: send})
				a.log.Info("connected to panel", "node_id", m.Welcome.NodeID, "usage_acked_seq", usageAcked)
				send(protocol.Message{Type: protocol.TypeStatus, Status: a.statusMessage()})
				a.mu.Lock()
				a.reportEnforced()
				a.mu.Unlock()
				sendUsage()
			case protocol.TypeSnapshot:
				s := m.Snapshot
				if s == nil {
					return welcomed, errors.New("snapshot without body")
				}
				if s.Chunk == 0 {
					snapHead, snapChunks = s, nil
				} else if snapHead == nil || s.Revision != snapHead.Revision {
					return welcomed, errors.New("snapshot chunk out of order")
				}
				snapChunks = append(snapChunks, s.Users...)
				if s.Last {
					ack := a.applySnapshot(snapHead.Revision, snapHead.StateHash, snapHead.Config, snapChunks)
					snapHead, snapChunks = nil, nil
					send(protocol.Message{Type: protocol.TypeAck, Ack: &ack})
					send(protocol.Message{Type: protocol.TypeStatus, Status: a.statusMessage()})
				}
			case protocol.TypeDelta:
				if m.Delta == nil {
					return welcomed, errors.New("delta without body")
				}
				ack := a.applyDelta(m.Delta)
				send(protocol.Message{Type: protocol.TypeAck, Ack: &ack})
				if m.Delta.Config != nil {
					send(protocol.Message{Type: protocol.TypeStatus, Status: a.statusMessage()})
				}
			case protocol.TypeLogs:
				if m.Logs != nil {
					a.logs.set(m.Logs.On)
					logsDropped = 0
				}
			case protocol.TypeRestart:
				a.restartCore()
				send(protocol.Message{Type: protocol.TypeStatus, Status: a.statusMessage()})
			case protocol.TypeUsageAck:
				if m.UsageAck == nil {
					continue
				}
				if err := a.store.TrimUsage(m.UsageAck.Seq); err != nil {
					a.log.Warn("trimming usage journal", "err", err)
				}
				usageAcked = max(usageAcked, m.UsageAck.Seq)
				inflight = false
				sendUsage()
			case protocol.TypeError:
				if m.Error != nil && m.Error.Code == protocol.ErrCodeFenced {
					return welcomed, errFenced
				}
				if m.Error != nil && m.Error.Code == protocol.ErrCodeInvalid {
					// A bug on one side; the panel says which frame. Keep
					// redialing with backoff: the data plane is unaffected.
					a.log.Error("panel refused a frame of this agent", "message", m.Error.Message)
				}
				if m.Error != nil {
					return welcomed, fmt.Errorf("panel: %s: %s", m.Error.Code, m.Error.Message)
				}
				return welcomed, errors.New("panel error")
			}
		}
	}
}
