package fleet

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestMoveRedialsAtOnce: a draining panel's move (close status 4005 alone,
// or an error frame with code move) sends the simulated agent back at
// once, as the real agent (nodes/agent/rotation.go), while any other close
// by the panel (here a fence, 4002) waits the backoff. The backoff is ten
// minutes, so a third and fourth dial within the test can only be the
// moves; the fence that ends the third session leaves no fourth dial.
func TestMoveRedialsAtOnce(t *testing.T) {
	var dials atomic.Int64
	third := make(chan struct{})
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := dials.Add(1)
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var hello protocol.Message
		if err := c.ReadJSON(&hello); err != nil || hello.Type != protocol.TypeHello {
			t.Errorf("dial %d: first frame %+v, %v; want hello", n, hello, err)
			return
		}
		_ = c.WriteJSON(protocol.Message{Type: protocol.TypeWelcome, Welcome: &protocol.Welcome{Protocol: protocol.Version, PingSeconds: 10, UsageSeconds: 10}})
		deadline := time.Now().Add(time.Second)
		switch n {
		case 1: // the close status alone, as when the error frame was lost
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(protocol.ErrCodeMove.CloseStatus(), "panel shutting down"), deadline)
		case 2: // the error frame first, as the panel sends it
			_ = c.WriteJSON(protocol.Message{Type: protocol.TypeError, Error: &protocol.Error{Code: protocol.ErrCodeMove, Message: "panel shutting down"}})
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(protocol.ErrCodeMove.CloseStatus(), "panel shutting down"), deadline)
		default: // a fence: the agent must wait its backoff
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(protocol.ErrCodeFenced.CloseStatus(), "fenced by a newer session"), deadline)
			if n == 3 {
				close(third)
			}
		}
		// Wait for the agent to go, so the close frame is read.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	fl, err := New(Config{PanelURLs: []string{srv.URL}, Tokens: []string{strings.Repeat("a", 43)},
		MinBackoff: 10 * time.Minute, MaxBackoff: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	fl.Start(context.Background(), 0)
	select {
	case <-third:
	case <-time.After(time.Minute):
		fl.Stop()
		t.Fatalf("after two moves the agent dialed %d times; want 3 (a move redials at once)", dials.Load())
	}
	// Let the agent read the fence and enter its backoff before stopping it.
	for i := 0; i < 200 && fl.Stats().ClosedByPanel == 0; i++ {
		time.Sleep(25 * time.Millisecond)
	}
	fl.Stop()
	st := fl.Stats()
	if st.Moves != 2 {
		t.Errorf("moves counted %d; want 2", st.Moves)
	}
	if st.ClosedByPanel != 1 {
		t.Errorf("sessions closed by the panel %d; want 1 (the fence; moves are counted apart): %s", st.ClosedByPanel, st.LastCloseText)
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("dials %d; want 3 (the fence waits the ten-minute backoff)", n)
	}
}
