package xraycore

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/xtls/xray-core/app/dispatcher"
	"github.com/xtls/xray-core/common"
	xnet "github.com/xtls/xray-core/common/net"
	"github.com/xtls/xray-core/common/serial"
	"github.com/xtls/xray-core/common/session"
	"github.com/xtls/xray-core/core"
	"github.com/xtls/xray-core/features/routing"
	"github.com/xtls/xray-core/transport"
	"google.golang.org/protobuf/types/known/structpb"
)

// Cutting the open connections of a removed identity.
//
// Xray's user managers take a user out of an inbound for new connections
// only: a connection that authenticated before runs on until it idles out
// (policy connIdle, 300 s by default), so a removed device, a disabled or
// expired user, or one that used up its bytes could go on streaming. The
// engine therefore runs Xray's own dispatcher behind a thin wrapper that
// notes, for every inbound connection that dispatches as a user, the
// connection under the user's email, and forgets it when the connection
// ends. Removing an identity closes its connections: a TCP connection, or
// the WebSocket, gRPC or XHTTP stream that carries it (and with it every
// mux sub-connection of that user). UDP sessions without a connection of
// their own are not tracked and end at their idle timeout.

// cutDispatcherConfig stands for the wrapped dispatcher in a core config's
// app list: a message type no Xray config uses, whose creator (below)
// builds Xray's default dispatcher and wraps it.
func cutDispatcherConfig() *serial.TypedMessage {
	return serial.ToTypedMessage(&structpb.Struct{Fields: map[string]*structpb.Value{
		"outpost": structpb.NewStringValue("cutting-dispatcher"),
	}})
}

func init() {
	common.Must(common.RegisterConfig((*structpb.Struct)(nil), func(ctx context.Context, _ interface{}) (interface{}, error) {
		inner, err := common.CreateObject(ctx, &dispatcher.Config{})
		if err != nil {
			return nil, err
		}
		return &cuttingDispatcher{Dispatcher: inner.(routing.Dispatcher)}, nil
	}))
}

// withCuttingDispatcher replaces Xray's dispatcher in a built config's app
// list by the wrapped one.
func withCuttingDispatcher(c *core.Config) {
	want := serial.GetMessageType(&dispatcher.Config{})
	for i, app := range c.App {
		if app.Type == want {
			c.App[i] = cutDispatcherConfig()
			return
		}
	}
}

// cuttingDispatcher is Xray's dispatcher, noting each inbound connection
// under its user's email in the tracker the engine gives it.
type cuttingDispatcher struct {
	routing.Dispatcher
	tracker atomic.Pointer[connTracker]
}

func (d *cuttingDispatcher) note(ctx context.Context) {
	if t := d.tracker.Load(); t != nil {
		t.track(ctx)
	}
}

// Dispatch implements routing.Dispatcher.
func (d *cuttingDispatcher) Dispatch(ctx context.Context, dest xnet.Destination) (*transport.Link, error) {
	d.note(ctx)
	return d.Dispatcher.Dispatch(ctx, dest)
}

// DispatchLink implements routing.Dispatcher.
func (d *cuttingDispatcher) DispatchLink(ctx context.Context, dest xnet.Destination, link *transport.Link) error {
	d.note(ctx)
	return d.Dispatcher.DispatchLink(ctx, dest, link)
}

// connTracker holds the open inbound connections of each email.
type connTracker struct {
	// mu is a leaf lock: nothing else is taken while it is held, and
	// connections are closed after it is released.
	mu    sync.Mutex
	conns map[string]map[net.Conn]int // email -> connection -> dispatches on it
}

// track notes ctx's inbound connection under its user until ctx ends (the
// inbound worker cancels it when the connection closes).
func (t *connTracker) track(ctx context.Context) {
	in := session.InboundFromContext(ctx)
	if in == nil || in.User == nil || in.User.Email == "" || in.Conn == nil {
		return
	}
	email, conn := in.User.Email, in.Conn
	t.mu.Lock()
	if t.conns == nil {
		t.conns = map[string]map[net.Conn]int{}
	}
	m := t.conns[email]
	if m == nil {
		m = map[net.Conn]int{}
		t.conns[email] = m
	}
	m[conn]++
	t.mu.Unlock()
	context.AfterFunc(ctx, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		m := t.conns[email]
		if m == nil {
			return
		}
		if m[conn]--; m[conn] <= 0 {
			delete(m, conn)
		}
		if len(m) == 0 {
			delete(t.conns, email)
		}
	})
}

// cut closes every open connection of the emails; it returns how many.
func (t *connTracker) cut(emails ...string) int {
	var doomed []net.Conn
	t.mu.Lock()
	for _, email := range emails {
		for c := range t.conns[email] {
			doomed = append(doomed, c)
		}
		delete(t.conns, email)
	}
	t.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
	return len(doomed)
}

// open is how many connections of email are open (for tests).
func (t *connTracker) open(email string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns[email])
}
