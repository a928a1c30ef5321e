package hub

import (
	"errors"
	"testing"
	"time"

	fastws "github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestFencedSessionCloseStatus: a session fenced by a newer one gets the
// fenced error frame and then a close frame whose status repeats the code,
// which is all a node sees when the error frame is lost.
func TestFencedSessionCloseStatus(t *testing.T) {
	e := newPanelEnv(t)
	old := e.dial()
	e.hello(old, false)
	e.hello(e.dial(), false) // the newer session fences the old one
	if m := old.until(protocol.TypeError); m.Error.Code != protocol.ErrCodeFenced {
		t.Fatalf("old session got %+v; want code %s", m.Error, protocol.ErrCodeFenced)
	}
	_ = old.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m protocol.Message
		err := old.c.ReadJSON(&m)
		if err == nil {
			continue
		}
		var ce *fastws.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("old session ended with %v; want a close frame", err)
		}
		if code, ok := protocol.CodeOfCloseStatus(ce.Code); !ok || code != protocol.ErrCodeFenced {
			t.Fatalf("close status %d (%q); want %d for fenced", ce.Code, ce.Text, protocol.ErrCodeFenced.CloseStatus())
		}
		return
	}
}
