package hub

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	fastws "github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestDrainMovesSessions: Drain ends a live session with the move error
// frame and close status 4005, waits until the session is gone, and from
// then on refuses new sessions with 503 before the upgrade.
func TestDrainMovesSessions(t *testing.T) {
	e := newPanelEnv(t)
	n := e.dial()
	e.hello(n, false)
	drained := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drained <- e.h.Drain(ctx)
	}()
	if m := n.until(protocol.TypeError); m.Error.Code != protocol.ErrCodeMove {
		t.Fatalf("session got %+v; want code %s", m.Error, protocol.ErrCodeMove)
	}
	var ce *fastws.CloseError
	for {
		var m protocol.Message
		err := n.c.ReadJSON(&m)
		if err == nil {
			continue
		}
		if !errors.As(err, &ce) || ce.Code != 4005 {
			t.Fatalf("session ended with %v; want close status 4005", err)
		}
		break
	}
	select {
	case moved := <-drained:
		if moved != 1 {
			t.Fatalf("Drain moved %d sessions; want 1", moved)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return after its only session ended")
	}
	if !e.h.Draining() {
		t.Fatal("hub not draining after Drain")
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+e.token)
	c, resp, err := fastws.DefaultDialer.Dial(e.url, hdr)
	if err == nil {
		c.Close()
		t.Fatal("a new session was accepted while draining")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a new session while draining: %v (%v); want HTTP 503", err, resp)
	}
}
