package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

func testNode(name string) model.Node {
	return model.Node{Name: name, Address: "10.0.0.1", Port: 62050, APIPort: 62051, UsageCoefficient: 1, TokenHash: "hash-" + name}
}

func TestNodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		a, b := testNode("de-1"), testNode("nl-1")
		b.TokenHash = ""
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateNode(&a); err != nil {
				return err
			}
			if err := tx.CreateNode(&b); err != nil {
				return err
			}
			dup := testNode("de-1")
			dup.TokenHash = "other"
			if err := tx.CreateNode(&dup); !errors.Is(err, model.ErrConflict) {
				t.Errorf("duplicate node name: %v", err)
			}
			return nil
		})
		if a.Status != model.NodeConnecting {
			t.Errorf("new node status %q, want connecting", a.Status)
		}
		mustTx(t, s, func(tx *Tx) error {
			got, err := tx.NodeByTokenHash("hash-de-1")
			if err != nil {
				return err
			}
			if got.ID != a.ID || got.Port != 62050 || got.UsageCoefficient != 1 || !got.CreatedAt.Equal(a.CreatedAt) {
				t.Errorf("NodeByTokenHash = %+v", got)
			}
			if _, err := tx.NodeByTokenHash(""); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("NodeByTokenHash(empty): %v", err)
			}
			if err := tx.SetNodeToken(b.ID, "hash-de-1"); !errors.Is(err, model.ErrConflict) {
				t.Errorf("SetNodeToken to a taken hash: %v", err)
			}
			if err := tx.SetNodeToken(b.ID, "hash-new"); err != nil {
				return err
			}
			if got, err := tx.NodeByTokenHash("hash-new"); err != nil || got.ID != b.ID {
				t.Errorf("after SetNodeToken: %v, %v", got, err)
			}
			b.Name, b.Address, b.Port, b.APIPort, b.UsageCoefficient = "nl-2", "nl.example", 443, 444, 2.5
			b.SessionFence = 99 // not an admin field: UpdateNode must ignore it
			if err := tx.UpdateNode(&b); err != nil {
				return err
			}
			got, err = tx.NodeByID(b.ID)
			if err != nil {
				return err
			}
			if got.Name != "nl-2" || got.Address != "nl.example" || got.Port != 443 || got.APIPort != 444 ||
				got.UsageCoefficient != 2.5 || got.SessionFence != 0 {
				t.Errorf("after UpdateNode: %+v", got)
			}
			b.Name = "de-1"
			if err := tx.UpdateNode(&b); !errors.Is(err, model.ErrConflict) {
				t.Errorf("UpdateNode to a taken name: %v", err)
			}
			return nil
		})
		mustTx(t, s, func(tx *Tx) error {
			list, err := tx.ListNodes()
			if err != nil {
				return err
			}
			if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
				t.Errorf("ListNodes = %+v", list)
			}
			if err := tx.DeleteNode(a.ID); err != nil {
				return err
			}
			if _, err := tx.NodeByID(a.ID); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("NodeByID after delete: %v", err)
			}
			if err := tx.DeleteNode(a.ID); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("second DeleteNode: %v", err)
			}
			return nil
		})
	})
}

func TestNodeSessionFence(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		n := testNode("fenced")
		mustTx(t, s, func(tx *Tx) error { return tx.CreateNode(&n) })

		oldFence, _, err := s.NodeSessionStart(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen := time.Unix(1_800_000_000, 0).UTC()
		if err := s.NodeRecordAck(ctx, n.ID, oldFence, 5, "h5"); err != nil {
			t.Fatalf("ack by the current session: %v", err)
		}
		if err := s.NodeSetStatus(ctx, n.ID, oldFence, model.NodeConnected, "", "1.0.0", "26.3.27", seen); err != nil {
			t.Fatalf("status by the current session: %v", err)
		}
		if applied, err := s.ApplyUsage(ctx, n.ID, oldFence, 0, 3, seen, nil); err != nil || !applied {
			t.Fatalf("usage by the current session: %v, %v", applied, err)
		}

		newFence, node, err := s.NodeSessionStart(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if newFence <= oldFence {
			t.Fatalf("second session fence %d not above %d", newFence, oldFence)
		}
		if node.UsageSeq != 3 || node.AppliedRevision != 5 || node.StateHash != "h5" || node.AgentVersion != "1.0.0" {
			t.Errorf("NodeSessionStart returned %+v", node)
		}

		tests := []struct {
			name string
			call func(fence int64) error
		}{
			{"ack", func(f int64) error { return s.NodeRecordAck(ctx, n.ID, f, 9, "h9") }},
			{"status", func(f int64) error {
				return s.NodeSetStatus(ctx, n.ID, f, model.NodeError, "boom", "", "", seen.Add(time.Minute))
			}},
			{"usage", func(f int64) error {
				_, err := s.ApplyUsage(ctx, n.ID, f, 3, 4, seen, []UserTraffic{{UserID: 1, Up: 1}})
				return err
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.call(oldFence); !errors.Is(err, ErrFenced) {
					t.Errorf("%s with the old fence: %v, want ErrFenced", tt.name, err)
				}
				if err := tt.call(newFence); err != nil {
					t.Errorf("%s with the new fence: %v", tt.name, err)
				}
			})
		}
		// The fenced calls changed nothing the new session wrote.
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.NodeByID(n.ID)
			if err != nil {
				return err
			}
			if got.AppliedRevision != 9 || got.StateHash != "h9" || got.Status != model.NodeError || got.UsageSeq != 4 ||
				got.AgentVersion != "1.0.0" || got.XrayVersion != "26.3.27" || !got.LastSeen.Equal(seen.Add(time.Minute)) {
				t.Errorf("node after fenced writes: %+v", got)
			}
			return nil
		})

		// Fence 0 is the hub or an admin, unconditionally.
		if err := s.NodeSetStatus(ctx, n.ID, 0, model.NodeDisabled, "by admin", "", "", time.Time{}); err != nil {
			t.Errorf("NodeSetStatus without fence: %v", err)
		}
		if err := s.NodeRecordAck(ctx, n.ID+100, 1, 1, "x"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("ack of a missing node: %v, want ErrNotFound", err)
		}
		if _, _, err := s.NodeSessionStart(ctx, n.ID+100); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("session of a missing node: %v, want ErrNotFound", err)
		}
		if err := s.NodeSetStatus(ctx, n.ID+100, 0, model.NodeError, "", "", "", seen); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("status of a missing node: %v, want ErrNotFound", err)
		}
	})
}

// usageState reads what ApplyUsage writes.
type usageState struct {
	used, lifetime map[int64]int64
	online         map[int64]*time.Time
	hourly         map[[2]int64]int64 // (user, hour) on one node -> used
	nodeHourly     map[int64][2]int64 // hour -> uplink, downlink
	adminUsage     int64
	seq            int64
}

func readUsage(t *testing.T, s *Store, nodeID, adminID int64, users []int64) usageState {
	t.Helper()
	st := usageState{used: map[int64]int64{}, lifetime: map[int64]int64{}, online: map[int64]*time.Time{},
		hourly: map[[2]int64]int64{}, nodeHourly: map[int64][2]int64{}}
	// As every reader of the hourly usage does.
	if err := s.FoldAllUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustRead(t, s, func(tx *Tx) error {
		for _, id := range users {
			u, err := tx.UserByID(id)
			if err != nil {
				return err
			}
			st.used[id], st.lifetime[id], st.online[id] = u.UsedTraffic, u.LifetimeUsedTraffic, u.OnlineAt
			points, err := tx.UserUsage(id, time.Unix(0, 0), time.Unix(1<<40, 0))
			if err != nil {
				return err
			}
			for _, p := range points {
				if p.NodeID == nodeID {
					st.hourly[[2]int64{id, p.Hour.Unix()}] = p.Used
				}
			}
		}
		points, err := tx.NodesUsage(time.Unix(0, 0), time.Unix(1<<40, 0))
		if err != nil {
			return err
		}
		for _, p := range points {
			if p.NodeID == nodeID {
				st.nodeHourly[p.Hour.Unix()] = [2]int64{p.Uplink, p.Downlink}
			}
		}
		a, err := tx.AdminByID(adminID)
		if err != nil {
			return err
		}
		st.adminUsage = a.UsersUsage
		n, err := tx.NodeByID(nodeID)
		if err != nil {
			return err
		}
		st.seq = n.UsageSeq
		return nil
	})
	return st
}

func TestApplyUsage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		node := testNode("counted")
		node.UsageCoefficient = 1.5
		admin := model.Admin{Username: "reseller", HashedPassword: "h"}
		var ids []int64
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateNode(&node); err != nil {
				return err
			}
			if err := tx.CreateAdmin(&admin); err != nil {
				return err
			}
			for i := range 3 {
				u := testUser(fmt.Sprint("traffic_", i))
				if i < 2 {
					u.AdminID = admin.ID
				}
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
				ids = append(ids, u.ID)
			}
			return nil
		})
		fence, _, err := s.NodeSessionStart(ctx, node.ID)
		if err != nil {
			t.Fatal(err)
		}
		unknown := ids[2] + 1000
		hour0 := time.Unix(1_800_003_600, 0).UTC() // on an hour boundary
		at0 := hour0.Add(25 * time.Minute)
		batch := []UserTraffic{
			{UserID: ids[0], Up: 100, Down: 1000},
			{UserID: unknown, Up: 7, Down: 3},
			{UserID: ids[1], Up: 1, Down: 0},  // 1.5 rounds to 2
			{UserID: ids[0], Up: 10, Down: 0}, // merged with the first entry
			{UserID: ids[2], Up: 0, Down: 0},  // no traffic: not online
		}
		for attempt := range 2 {
			applied, err := s.ApplyUsage(ctx, node.ID, fence, 0, 2, at0, batch)
			if err != nil {
				t.Fatal(err)
			}
			if applied != (attempt == 0) {
				t.Errorf("attempt %d: applied = %v", attempt, applied)
			}
		}
		st := readUsage(t, s, node.ID, admin.ID, ids)
		want0 := int64(1665) // (1110) * 1.5
		if st.used[ids[0]] != want0 || st.lifetime[ids[0]] != want0 || st.used[ids[1]] != 2 || st.used[ids[2]] != 0 {
			t.Errorf("used after one batch sent twice: %v lifetime %v", st.used, st.lifetime)
		}
		if st.online[ids[0]] == nil || !st.online[ids[0]].Equal(at0) || st.online[ids[2]] != nil {
			t.Errorf("online_at: %v", st.online)
		}
		if st.hourly[[2]int64{ids[0], hour0.Unix()}] != want0 || st.hourly[[2]int64{ids[1], hour0.Unix()}] != 2 || len(st.hourly) != 2 {
			t.Errorf("hourly user usage: %v", st.hourly)
		}
		// Node usage is raw bytes, unknown users included.
		if st.nodeHourly[hour0.Unix()] != [2]int64{118, 1003} {
			t.Errorf("node usage: %v", st.nodeHourly)
		}
		if st.adminUsage != want0+2 || st.seq != 2 {
			t.Errorf("admin usage %d (want %d), seq %d", st.adminUsage, want0+2, st.seq)
		}

		// Same hour accumulates; the next hour gets its own bucket; an old
		// batch arriving late is still recognised as counted.
		if ok, err := s.ApplyUsage(ctx, node.ID, fence, 2, 3, at0.Add(30*time.Minute), []UserTraffic{{UserID: ids[0], Up: 2}}); err != nil || !ok {
			t.Fatalf("batch 3: %v %v", ok, err)
		}
		if ok, err := s.ApplyUsage(ctx, node.ID, fence, 3, 5, hour0.Add(70*time.Minute), []UserTraffic{{UserID: ids[0], Down: 4}}); err != nil || !ok {
			t.Fatalf("batch 5: %v %v", ok, err)
		}
		if ok, err := s.ApplyUsage(ctx, node.ID, fence, 2, 3, at0, []UserTraffic{{UserID: ids[0], Up: 2}}); err != nil || ok {
			t.Fatalf("late batch 3: applied %v, err %v; want not applied", ok, err)
		}
		st = readUsage(t, s, node.ID, admin.ID, ids)
		if got := st.hourly[[2]int64{ids[0], hour0.Unix()}]; got != want0+3 {
			t.Errorf("hour 0 of user 0: %d, want %d", got, want0+3)
		}
		if got := st.hourly[[2]int64{ids[0], hour0.Unix() + 3600}]; got != 6 {
			t.Errorf("hour 1 of user 0: %d, want 6", got)
		}
		if st.used[ids[0]] != want0+9 || st.seq != 5 {
			t.Errorf("user 0 used %d (want %d), seq %d", st.used[ids[0]], want0+9, st.seq)
		}
		if st.nodeHourly[hour0.Unix()+3600] != [2]int64{0, 4} {
			t.Errorf("node usage hour 1: %v", st.nodeHourly)
		}

		for _, bad := range []struct {
			name     string
			from, to int64
			traffic  []UserTraffic
		}{
			{"empty range", 5, 5, nil},
			{"backwards range", 6, 5, nil},
			{"negative bytes", 5, 6, []UserTraffic{{UserID: ids[0], Up: -1}}},
		} {
			if _, err := s.ApplyUsage(ctx, node.ID, fence, bad.from, bad.to, at0, bad.traffic); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", bad.name, err)
			}
		}
		if _, err := s.ApplyUsage(ctx, node.ID+100, 1, 0, 1, at0, nil); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("usage of a missing node: %v, want ErrNotFound", err)
		}
	})
}

// TestApplyUsageConcurrentNodes has several nodes report the same users at
// once: every batch must land exactly once, with no deadlock surfacing as
// an error.
func TestApplyUsageConcurrentNodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const nodes, batches, users = 4, 10, 300
		seedUsers(t, s, users, 0)
		var (
			userIDs []int64
			nodeIDs []int64
			fences  []int64
		)
		mustTx(t, s, func(tx *Tx) error {
			list, _, err := tx.ListUsers(UserFilter{})
			for _, u := range list {
				userIDs = append(userIDs, u.ID)
			}
			if err != nil {
				return err
			}
			_, err = tx.exec(`UPDATE user_traffic SET used_traffic = 0`)
			return err
		})
		for i := range nodes {
			n := testNode(fmt.Sprint("node", i))
			mustTx(t, s, func(tx *Tx) error { return tx.CreateNode(&n) })
			f, _, err := s.NodeSessionStart(ctx, n.ID)
			if err != nil {
				t.Fatal(err)
			}
			nodeIDs, fences = append(nodeIDs, n.ID), append(fences, f)
		}
		at := time.Unix(1_800_000_000, 0)
		var wg sync.WaitGroup
		errs := make(chan error, nodes)
		for i := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				traffic := make([]UserTraffic, len(userIDs))
				for j, id := range userIDs {
					// Opposite orders per node make lock order conflicts likely.
					if i%2 == 1 {
						id = userIDs[len(userIDs)-1-j]
					}
					traffic[j] = UserTraffic{UserID: id, Up: 1, Down: 1}
				}
				for b := range batches {
					if _, err := s.ApplyUsage(ctx, nodeIDs[i], fences[i], int64(b), int64(b+1), at, traffic); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		mustRead(t, s, func(tx *Tx) error {
			var wrong int
			if err := tx.queryRow(`SELECT COUNT(*) FROM user_traffic WHERE used_traffic <> $1`, int64(nodes*batches*2)).Scan(&wrong); err != nil {
				return err
			}
			if wrong != 0 {
				t.Errorf("%d users do not have exactly %d bytes", wrong, nodes*batches*2)
			}
			return nil
		})
	})
}
