package xraycore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// TestInboundErrorNamesTheInbound: a config refused because of one inbound
// says which one (index and tag), whether Xray's loader (a port out of
// range), its builder (an unknown protocol) or the engine's own rules (tags)
// refused it; a fault outside the inbounds names none.
func TestInboundErrorNamesTheInbound(t *testing.T) {
	const ok0 = `{"tag":"A","protocol":"vless","port":10001,"settings":{"clients":[],"decryption":"none"}}`
	const ok1 = `{"tag":"B","protocol":"trojan","port":10002,"settings":{"clients":[]}}`
	cfg := func(third string, outbounds string) string {
		return `{"inbounds":[` + ok0 + `,` + ok1 + `,` + third + `],"outbounds":[` + outbounds + `]}`
	}
	const freedom = `{"tag":"DIRECT","protocol":"freedom"}`
	if err := xraycore.Check([]byte(cfg(`{"tag":"C","protocol":"vmess","port":10003,"settings":{"clients":[]}}`, freedom))); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, tc := range []struct {
		name, third string
		tag         string
		inMessage   string
	}{
		{"port not a number (loader)", `{"tag":"C","protocol":"vless","port":"eighty","settings":{"clients":[],"decryption":"none"}}`, "C", "eighty"},
		{"unknown protocol (builder)", `{"tag":"C","protocol":"nonsense","port":10003}`, "C", "nonsense"},
		{"no tag", `{"protocol":"vmess","port":10003,"settings":{"clients":[]}}`, "", "no tag"},
		{"duplicate tag", `{"tag":"A","protocol":"vmess","port":10003,"settings":{"clients":[]}}`, "A", "used twice"},
	} {
		err := xraycore.Check([]byte(cfg(tc.third, freedom)))
		var ie *xraycore.InboundError
		if !errors.As(err, &ie) {
			t.Errorf("%s: %v is not an InboundError", tc.name, err)
			continue
		}
		if ie.Index != 2 || ie.Tag != tc.tag || !errors.Is(err, xraycore.ErrInvalidConfig) {
			t.Errorf("%s: index %d tag %q (%v), want 2 %q", tc.name, ie.Index, ie.Tag, err, tc.tag)
		}
		if msg := err.Error(); !strings.Contains(msg, "inbounds[2]") || !strings.Contains(msg, tc.inMessage) {
			t.Errorf("%s: message %q does not name inbounds[2] and %q", tc.name, msg, tc.inMessage)
		}
	}

	// Broken outside the inbounds: invalid, but no inbound blamed.
	err := xraycore.Check([]byte(cfg(`{"tag":"C","protocol":"vmess","port":10003,"settings":{"clients":[]}}`,
		`{"protocol":"freedom","settings":{"domainStrategy":42}}`)))
	var ie *xraycore.InboundError
	if !errors.Is(err, xraycore.ErrInvalidConfig) || errors.As(err, &ie) {
		t.Fatalf("bad outbound: %v (inbound error: %v)", err, ie)
	}
}
