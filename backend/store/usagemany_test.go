package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// TestApplyUsageMany: batches of three nodes recorded in one transaction
// count exactly as one by one would: two nodes' bytes for the same user
// add up (times each node's coefficient), a fenced batch, a resent one and
// one with a bad range change nothing and do not hold the others back, and
// each node's sequence and hourly bytes are its own.
func TestApplyUsageMany(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		admin := model.Admin{Username: "reseller", HashedPassword: "h"}
		var ids []int64
		nodes := make([]model.Node, 3)
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateAdmin(&admin); err != nil {
				return err
			}
			for i := range nodes {
				nodes[i] = testNode(fmt.Sprint("many", i))
				nodes[i].UsageCoefficient = float64(i + 1)
				if err := tx.CreateNode(&nodes[i]); err != nil {
					return err
				}
			}
			for i := range 2 {
				u := testUser(fmt.Sprint("many_", i))
				u.AdminID = admin.ID
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
				ids = append(ids, u.ID)
			}
			return nil
		})
		fences := make([]int64, len(nodes))
		for i, n := range nodes {
			f, _, err := s.NodeSessionStart(ctx, n.ID)
			if err != nil {
				t.Fatal(err)
			}
			fences[i] = f
		}
		hour0 := time.Unix(1_800_003_600, 0).UTC()
		at := hour0.Add(10 * time.Minute)
		if ok, err := s.ApplyUsage(ctx, nodes[2].ID, fences[2], 0, 1, at, []UserTraffic{{UserID: ids[1], Up: 1}}); err != nil || !ok {
			t.Fatalf("node 2's first batch: %v %v", ok, err)
		}
		res := s.ApplyUsageMany(ctx, []UsageBatch{
			{NodeID: nodes[0].ID, Fence: fences[0], FromSeq: 0, ToSeq: 3, At: at, Traffic: []UserTraffic{{UserID: ids[0], Up: 100, Down: 10}}},
			{NodeID: nodes[1].ID, Fence: fences[1] - 1, FromSeq: 0, ToSeq: 1, At: at, Traffic: []UserTraffic{{UserID: ids[0], Up: 1 << 20}}}, // fenced
			{NodeID: nodes[2].ID, Fence: fences[2], FromSeq: 0, ToSeq: 1, At: at, Traffic: []UserTraffic{{UserID: ids[1], Up: 1}}},           // resent
			{NodeID: nodes[1].ID, Fence: fences[1], FromSeq: 4, ToSeq: 4, At: at},                                                            // bad range
			{NodeID: nodes[1].ID, Fence: fences[1], FromSeq: 0, ToSeq: 2, At: at.Add(time.Minute), Traffic: []UserTraffic{{UserID: ids[0], Down: 5}, {UserID: ids[1], Up: 7}}},
		})
		if !res[0].Applied || res[0].Err != nil {
			t.Errorf("node 0's batch: %+v", res[0])
		}
		if res[1].Applied || !errors.Is(res[1].Err, model.ErrFenced) {
			t.Errorf("fenced batch: %+v; want ErrFenced", res[1])
		}
		if res[2].Applied || res[2].Err != nil {
			t.Errorf("resent batch: %+v; want not applied, no error", res[2])
		}
		if res[3].Applied || !errors.Is(res[3].Err, model.ErrInvalid) {
			t.Errorf("bad range: %+v; want ErrInvalid", res[3])
		}
		if !res[4].Applied || res[4].Err != nil {
			t.Errorf("node 1's batch: %+v", res[4])
		}
		st := readUsage(t, s, nodes[1].ID, admin.ID, ids)
		want0 := int64(110 + 2*5) // node 0 at 1x, node 1 at 2x
		want1 := int64(3*1 + 2*7) // node 2's first batch at 3x, node 1 at 2x
		if st.used[ids[0]] != want0 || st.used[ids[1]] != want1 || st.lifetime[ids[0]] != want0 {
			t.Errorf("used %v lifetime %v; want %d and %d", st.used, st.lifetime, want0, want1)
		}
		if st.adminUsage != want0+want1 {
			t.Errorf("admin usage %d; want %d", st.adminUsage, want0+want1)
		}
		if st.seq != 2 || st.nodeHourly[hour0.Unix()] != [2]int64{7, 5} {
			t.Errorf("node 1: seq %d, hourly %v; want 2 and [7 5]", st.seq, st.nodeHourly)
		}
		if got := st.hourly[[2]int64{ids[0], hour0.Unix()}]; got != 10 {
			t.Errorf("user 0's hour through node 1: %d; want 10 (its own bytes, 2x)", got)
		}
		if st.online[ids[0]] == nil || !st.online[ids[0]].Equal(at.Add(time.Minute)) {
			t.Errorf("user 0 online at %v; want the latest batch's %v", st.online[ids[0]], at.Add(time.Minute))
		}
		if st0 := readUsage(t, s, nodes[0].ID, admin.ID, ids); st0.seq != 3 || st0.nodeHourly[hour0.Unix()] != [2]int64{100, 10} {
			t.Errorf("node 0: seq %d, hourly %v; want 3 and [100 10]", st0.seq, st0.nodeHourly)
		}
	})
}
