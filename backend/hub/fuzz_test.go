package hub

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"testing"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// FuzzNodeFrame feeds the node session's reader malformed frames, huge
// numbers and out-of-order sequences: nothing panics, a refused frame
// leaves the session as it was, and a usage batch that gets through is
// within the protocol's bounds and follows the recorded sequence.
func FuzzNodeFrame(f *testing.F) {
	usage := func(from, to, up, down int64) protocol.Message {
		return protocol.Message{Type: protocol.TypeUsage, Usage: &protocol.Usage{FromSeq: from, ToSeq: to, At: 1,
			Users: []protocol.UserTraffic{{Email: "1.a", Uplink: up, Downlink: down}}}}
	}
	for _, m := range []protocol.Message{
		usage(7, 8, 1, 2), usage(7, math.MaxInt64, 1, 1), usage(7, 8, math.MaxInt64, math.MaxInt64), usage(3, 2, 0, 0),
		usage(0, 7, 5, 5), usage(-1, 8, 0, 0),
		{Type: protocol.TypeHello, Hello: &protocol.Hello{Protocol: protocol.Version, AppliedRevision: -1}},
		{Type: protocol.TypeAck, Ack: &protocol.Ack{Revision: 3, Code: "bad_state"}},
		{Type: protocol.TypeLogLines, LogLines: &protocol.LogLines{Lines: []string{"x"}, Dropped: -3}},
		{Type: protocol.TypeStatus, Status: &protocol.Status{Users: -1}},
		{Type: protocol.TypeEnforced, Enforced: &protocol.Enforced{Users: []protocol.EnforcedUser{{Email: "1.a", At: math.MaxInt64}}}},
	} {
		raw, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, true)
		f.Add(raw, false)
	}
	f.Add([]byte(`{"type":"usage","usage":{"from_seq":7,"to_seq":1e300}}`), true)
	f.Add([]byte(`{"type":"usage","usage":null}`), true)
	f.Add([]byte(`{"type":`), false)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, frame []byte, helloDone bool) {
		s := &session{h: &Hub{log: log}, node: &model.Node{ID: 1}, log: log, usageSeq: 7}
		if helloDone {
			s.hello = &protocol.Hello{Protocol: protocol.Version}
		}
		var m protocol.Message
		if json.Unmarshal(frame, &m) != nil {
			return // the reader closes the session on a malformed frame
		}
		type view struct {
			hello                     *protocol.Hello
			usageSeq, applied, flight int64
			snap, shared              bool
		}
		look := func() view {
			return view{s.hello, s.usageSeq, s.applied, s.inflight, s.needSnapshot, s.sharedToken}
		}
		before := look()
		err := s.check(&m)
		if look() != before {
			t.Fatalf("check changed the session (err %v)", err)
		}
		if err != nil {
			return
		}
		if !helloDone && m.Type != protocol.TypeHello && m.Type != protocol.TypeError {
			t.Fatalf("%s accepted before hello", m.Type)
		}
		if m.Type != protocol.TypeUsage {
			return
		}
		u := m.Usage
		if u.ToSeq > 7 && (u.FromSeq != 7 || u.ToSeq-u.FromSeq > protocol.MaxUsageSeqAdvance) {
			t.Fatalf("usage (%d, %d] accepted after recorded 7", u.FromSeq, u.ToSeq)
		}
		var up, down int64
		for _, x := range u.Users {
			if x.Uplink < 0 || x.Downlink < 0 {
				t.Fatalf("negative traffic accepted: %+v", x)
			}
			up, down = protocol.AddSaturating(up, x.Uplink), protocol.AddSaturating(down, x.Downlink)
		}
		if up > protocol.MaxBatchBytes || down > protocol.MaxBatchBytes {
			t.Fatalf("batch of %d up, %d down accepted", up, down)
		}
	})
}
