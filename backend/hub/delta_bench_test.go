package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// BenchmarkDeltaFrom5k merges the delta of a node 5,000 revisions behind,
// each a user change over 2,000 users, the way a node back from an outage
// gets it.
func BenchmarkDeltaFrom5k(b *testing.B) {
	f := feed.NewMemory(10_000)
	for rev := int64(1); rev <= 5000; rev++ {
		d := protocol.Delta{Revision: rev, Upserts: []protocol.User{user(rev, fmt.Sprintf("%d.u", rev%2000), rev)}}
		if rev%7 == 0 {
			d = protocol.Delta{Revision: rev, Removes: []string{fmt.Sprintf("%d.u", rev%2000)}}
		}
		raw, err := json.Marshal(d)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Publish(context.Background(), feed.Change{Revision: rev, Data: raw}); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := deltaFrom(ctx, f.Since, 0, 5000); err != nil {
			b.Fatal(err)
		}
	}
}
