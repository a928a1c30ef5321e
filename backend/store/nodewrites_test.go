package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
)

// TestNodeWriteBatch: an ack, a status, both in one write, and a write of
// a fenced session (changes nothing, reported) in one batch; versions left
// empty keep the stored ones.
func TestNodeWriteBatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var ids []int64
		mustTx(t, s, func(tx *Tx) error {
			for _, name := range []string{"ack", "status", "both", "fenced"} {
				n := testNode(name)
				if err := tx.CreateNode(&n); err != nil {
					return err
				}
				ids = append(ids, n.ID)
			}
			return nil
		})
		fences := make([]int64, len(ids))
		for i, id := range ids {
			f, _, err := s.NodeSessionStart(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			fences[i] = f
		}
		seen := time.Unix(1_800_000_000, 0).UTC()
		// The first status stores versions; later ones may leave them empty.
		if _, err := s.NodeWriteBatch(ctx, []NodeWrite{{ID: ids[2], Fence: fences[2], Status: true,
			NodeStatus: model.NodeConnected, AgentVersion: "agent-1", XrayVersion: "xray-1", Seen: seen}}); err != nil {
			t.Fatal(err)
		}
		fenced, err := s.NodeWriteBatch(ctx, []NodeWrite{
			{ID: ids[0], Fence: fences[0], Ack: true, Revision: 7, StateHash: "h7"},
			{ID: ids[1], Fence: fences[1], Status: true, NodeStatus: model.NodeError, Message: "boom", Seen: seen},
			{ID: ids[2], Fence: fences[2], Ack: true, Revision: 9, StateHash: "h9", Status: true,
				NodeStatus: model.NodeConnected, Message: "fine", Seen: seen.Add(time.Minute)},
			{ID: ids[3], Fence: fences[3] - 1, Ack: true, Revision: 11, StateHash: "h11", Status: true,
				NodeStatus: model.NodeError, Message: "stale", Seen: seen},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fenced, []int{3}) {
			t.Errorf("fenced %v, want [3]", fenced)
		}
		nodes := make([]*model.Node, len(ids))
		mustRead(t, s, func(tx *Tx) error {
			for i, id := range ids {
				n, err := tx.NodeByID(id)
				if err != nil {
					return err
				}
				nodes[i] = n
			}
			return nil
		})
		if n := nodes[0]; n.AppliedRevision != 7 || n.StateHash != "h7" || n.Status != model.NodeConnecting {
			t.Errorf("ack only: revision %d hash %q status %q", n.AppliedRevision, n.StateHash, n.Status)
		}
		if n := nodes[1]; n.AppliedRevision != 0 || n.Status != model.NodeError || n.Message != "boom" ||
			n.LastSeen == nil || !n.LastSeen.Equal(seen) {
			t.Errorf("status only: revision %d status %q message %q seen %v", n.AppliedRevision, n.Status, n.Message, n.LastSeen)
		}
		if n := nodes[2]; n.AppliedRevision != 9 || n.StateHash != "h9" || n.Status != model.NodeConnected ||
			n.Message != "fine" || n.AgentVersion != "agent-1" || n.XrayVersion != "xray-1" ||
			n.LastSeen == nil || !n.LastSeen.Equal(seen.Add(time.Minute)) {
			t.Errorf("ack and status: %+v", *n)
		}
		if n := nodes[3]; n.AppliedRevision != 0 || n.Status != model.NodeConnecting || n.Message == "stale" {
			t.Errorf("fenced session's write changed the node: %+v", *n)
		}
	})
}

// BenchmarkNodeWriteBatch1000 is one interval of the hub's write-behind
// at 1,000 nodes: every node's ack and status after a delta, on SQLite's
// one writer (the PUTs of the API wait while it runs) and on PostgreSQL
// (two statements for the whole batch).
func BenchmarkNodeWriteBatch1000(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchNodeWriteBatch(b, openAt(b, "", b.TempDir())) })
	b.Run("postgres", func(b *testing.B) { benchNodeWriteBatch(b, openAt(b, testenv.Postgres(b), b.TempDir())) })
}

func benchNodeWriteBatch(b *testing.B, s *Store) {
	ctx := context.Background()
	ws := make([]NodeWrite, 1000)
	mustTx(b, s, func(tx *Tx) error {
		for i := range ws {
			n := testNode(fmt.Sprintf("n%d", i))
			if err := tx.CreateNode(&n); err != nil {
				return err
			}
			ws[i].ID = n.ID
		}
		return nil
	})
	for i := range ws {
		f, _, err := s.NodeSessionStart(ctx, ws[i].ID)
		if err != nil {
			b.Fatal(err)
		}
		ws[i].Fence = f
	}
	// The hub hands its writes over in no particular order.
	rand.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		for i := range ws {
			ws[i].Ack, ws[i].Revision, ws[i].StateHash = true, int64(r+1), fmt.Sprintf("%064x", r+1)
			ws[i].Status, ws[i].NodeStatus, ws[i].XrayVersion, ws[i].Seen = true, model.NodeConnected, "none", time.Now()
		}
		if _, err := s.NodeWriteBatch(ctx, ws); err != nil {
			b.Fatal(err)
		}
	}
}
