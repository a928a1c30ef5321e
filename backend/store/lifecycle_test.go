package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// lifecycleNow is the "now" of the lifecycle store tests.
var lifecycleNow = time.Unix(1_800_000_000, 0).UTC()

func idsOf(users []model.User) []int64 {
	out := make([]int64, len(users))
	for i := range users {
		out[i] = users[i].ID
	}
	return out
}

func createUsers(t *testing.T, s *Store, users ...*model.User) {
	t.Helper()
	mustTx(t, s, func(tx *Tx) error {
		for _, u := range users {
			if err := tx.CreateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
}

// useTraffic records bytes for users through a usage batch of node, as a
// node session would.
func useTraffic(t *testing.T, s *Store, nodeID int64, seq *int64, at time.Time, bytes map[int64]int64) {
	t.Helper()
	fence, _, err := s.NodeSessionStart(context.Background(), nodeID)
	if err != nil {
		t.Fatal(err)
	}
	var traffic []UserTraffic
	for id, b := range bytes {
		traffic = append(traffic, UserTraffic{UserID: id, Down: b})
	}
	if _, err := s.ApplyUsage(context.Background(), nodeID, fence, *seq, *seq+1, at, traffic); err != nil {
		t.Fatal(err)
	}
	*seq++
	// As every reader of the hourly usage does.
	if err := s.FoldAllUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestUsersDueForReset(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		day := int64(86400)
		mk := func(name string, strategy model.ResetStrategy, status model.Status, createdDaysAgo int64, resetDaysAgo *int64) *model.User {
			u := testUser(name)
			u.DataLimitReset, u.Status, u.DataLimit = strategy, status, 1000
			u.CreatedAt = time.Unix(lifecycleNow.Unix()-createdDaysAgo*day, 0).UTC()
			if resetDaysAgo != nil {
				u.UsageResetAt = ptr(time.Unix(lifecycleNow.Unix()-*resetDaysAgo*day, 0).UTC())
			}
			return &u
		}
		users := []*model.User{
			mk("daily_due", model.ResetDay, model.StatusActive, 1, nil),
			mk("daily_recent", model.ResetDay, model.StatusActive, 5, ptr(int64(0))),
			mk("weekly_due", model.ResetWeek, model.StatusLimited, 30, ptr(int64(7))),
			mk("weekly_not", model.ResetWeek, model.StatusActive, 30, ptr(int64(6))),
			mk("monthly_due", model.ResetMonth, model.StatusActive, 30, nil),
			mk("monthly_not", model.ResetMonth, model.StatusActive, 29, nil),
			mk("yearly_due", model.ResetYear, model.StatusActive, 400, ptr(int64(365))),
			mk("never", model.ResetNone, model.StatusActive, 4000, nil),
			mk("disabled_due", model.ResetDay, model.StatusDisabled, 10, nil),
			mk("expired_due", model.ResetDay, model.StatusExpired, 10, nil),
			mk("unlimited_due", model.ResetDay, model.StatusActive, 10, nil),
		}
		// A user without a limit is counted but not read: its reset changes
		// nothing nodes see.
		users[len(users)-1].DataLimit = 0
		createUsers(t, s, users...)
		mustRead(t, s, func(tx *Tx) error {
			due, err := tx.UsersDueForReset(lifecycleNow)
			if err != nil {
				return err
			}
			var names []string
			for _, u := range due {
				names = append(names, u.Username)
			}
			want := []string{"daily_due", "weekly_due", "monthly_due", "yearly_due"}
			if !slices.Equal(names, want) {
				t.Errorf("due = %v, want %v", names, want)
			}
			n, err := tx.CountResetsDue(lifecycleNow)
			if err != nil || n != 5 {
				t.Errorf("CountResetsDue = %v, %v; want 5", n, err)
			}
			n, err = tx.CountResetsDue(lifecycleNow.Add(-400 * 24 * time.Hour))
			if err != nil || n != 0 {
				t.Errorf("CountResetsDue long ago = %v, %v; want 0", n, err)
			}
			return nil
		})
	})
}

func TestResetUsageKeepsLifetimeAndLogs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		node := testNode("edge")
		admin := model.Admin{Username: "owner", HashedPassword: "h"}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateNode(&node); err != nil {
				return err
			}
			return tx.CreateAdmin(&admin)
		})
		a, b, c := testUser("reset_a"), testUser("reset_b"), testUser("reset_c")
		a.AdminID, b.AdminID = admin.ID, admin.ID
		createUsers(t, s, &a, &b, &c)
		var seq int64
		at := lifecycleNow
		wantLifetime := map[int64]int64{}
		for round := int64(1); round <= 3; round++ {
			useTraffic(t, s, node.ID, &seq, at, map[int64]int64{a.ID: 100 * round, b.ID: 7, c.ID: 1})
			wantLifetime[a.ID] += 100 * round
			wantLifetime[b.ID] += 7
			wantLifetime[c.ID]++
			mustTx(t, s, func(tx *Tx) error { return tx.ResetUsersUsage([]int64{a.ID}, at, 10+round) })
			at = at.Add(time.Hour)
		}
		// Reset everything of one admin, then of all.
		mustTx(t, s, func(tx *Tx) error {
			n, err := tx.ResetAllUsersUsage(&admin.ID, at, 20)
			if err != nil || n != 2 {
				t.Errorf("ResetAllUsersUsage(admin) = %d, %v; want 2", n, err)
			}
			return err
		})
		mustTx(t, s, func(tx *Tx) error {
			n, err := tx.ResetAllUsersUsage(nil, at.Add(time.Hour), 21)
			if err != nil || n != 3 {
				t.Errorf("ResetAllUsersUsage(all) = %d, %v; want 3", n, err)
			}
			return err
		})
		mustRead(t, s, func(tx *Tx) error {
			for _, id := range []int64{a.ID, b.ID, c.ID} {
				u, err := tx.UserByID(id)
				if err != nil {
					return err
				}
				if u.UsedTraffic != 0 || u.LifetimeUsedTraffic != wantLifetime[id] {
					t.Errorf("%s: used %d lifetime %d; want 0 and %d", u.Username, u.UsedTraffic, u.LifetimeUsedTraffic, wantLifetime[id])
				}
				if u.UsageResetAt == nil || !u.UsageResetAt.Equal(at.Add(time.Hour)) {
					t.Errorf("%s: usage_reset_at %v", u.Username, u.UsageResetAt)
				}
			}
			logs, err := tx.UsageLogs(a.ID)
			if err != nil {
				return err
			}
			var got []int64
			for _, l := range logs {
				got = append(got, l.UsedTrafficAtReset)
			}
			// Three periodic resets of each round's bytes, then 0 twice.
			if want := []int64{100, 200, 300, 0, 0}; !slices.Equal(got, want) {
				t.Errorf("usage log of a = %v, want %v", got, want)
			}
			logs, err = tx.UsageLogs(c.ID)
			if err != nil {
				return err
			}
			if len(logs) != 1 || logs[0].UsedTrafficAtReset != 3 {
				t.Errorf("usage log of c = %+v, want one reset of 3 bytes", logs)
			}
			// Usage history per node survives resets.
			totals, err := tx.UserUsageByNode(a.ID, lifecycleNow.Add(-time.Hour), at.Add(2*time.Hour))
			if err != nil {
				return err
			}
			if len(totals) != 1 || totals[0] != (NodeTotal{NodeID: node.ID, Used: 600}) {
				t.Errorf("usage by node of a = %+v, want 600 on node %d", totals, node.ID)
			}
			return nil
		})
	})
}

func TestPlansHoldsAndDeletes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		node := testNode("edge")
		mustTx(t, s, func(tx *Tx) error { return tx.CreateNode(&node) })
		planned := testUser("planned")
		planned.DataLimit, planned.Status = 100, model.StatusLimited
		planned.NextPlan = &model.NextPlan{DataLimit: 500, Expire: 3600}
		held := testUser("held")
		held.Status, held.OnHoldExpireDuration = model.StatusOnHold, 86400
		held.OnHoldTimeout = ptr(lifecycleNow)
		doomed := testUser("doomed")
		doomed.Status, doomed.AutoDeleteInDays = model.StatusExpired, ptr(int64(3))
		doomed.Expire = lifecycleNow.Add(-4 * 24 * time.Hour).Unix()
		doomed.LastStatusChange = ptr(lifecycleNow.Add(-3 * 24 * time.Hour))
		spared := testUser("spared")
		spared.Status, spared.AutoDeleteInDays = model.StatusLimited, ptr(int64(3))
		spared.LastStatusChange = ptr(lifecycleNow.Add(-3*24*time.Hour + time.Second))
		createUsers(t, s, &planned, &held, &doomed, &spared)
		var seq int64
		useTraffic(t, s, node.ID, &seq, lifecycleNow, map[int64]int64{planned.ID: 150, doomed.ID: 5})

		mustRead(t, s, func(tx *Tx) error {
			pending, err := tx.UsersWithPendingPlan()
			if err != nil {
				return err
			}
			if ids := idsOf(pending); !slices.Equal(ids, []int64{planned.ID}) {
				t.Errorf("pending plans = %v, want [%d]", ids, planned.ID)
			}
			del, err := tx.UsersToAutoDelete(lifecycleNow)
			if err != nil {
				return err
			}
			if ids := idsOf(del); !slices.Equal(ids, []int64{doomed.ID}) {
				t.Errorf("auto-delete = %v, want [%d]", ids, doomed.ID)
			}
			exp, err := tx.ExpiredUsers(lifecycleNow.Add(-5*24*time.Hour), lifecycleNow, nil)
			if err != nil {
				return err
			}
			if ids := idsOf(exp); !slices.Equal(ids, []int64{doomed.ID, spared.ID}) {
				t.Errorf("expired users = %v, want [%d %d]", ids, doomed.ID, spared.ID)
			}
			exp, err = tx.ExpiredUsers(lifecycleNow.Add(-5*24*time.Hour), lifecycleNow.Add(-3*24*time.Hour), nil)
			if err != nil {
				return err
			}
			if ids := idsOf(exp); !slices.Equal(ids, []int64{doomed.ID}) {
				t.Errorf("expired users before 3 days ago = %v, want [%d]", ids, doomed.ID)
			}
			return nil
		})
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.ApplyPlans([]PlanUpdate{{UserID: planned.ID, DataLimit: 500, Expire: 42}}, lifecycleNow, 7); err != nil {
				return err
			}
			if err := tx.StartOnHold([]int64{held.ID}, lifecycleNow, 7); err != nil {
				return err
			}
			return tx.DeleteUsers([]int64{doomed.ID})
		})
		mustRead(t, s, func(tx *Tx) error {
			p, err := tx.UserByID(planned.ID)
			if err != nil {
				return err
			}
			if p.DataLimit != 500 || p.Expire != 42 || p.NextPlan != nil || p.UsedTraffic != 0 || p.LifetimeUsedTraffic != 150 || p.Revision != 7 {
				t.Errorf("after plan: %+v", p)
			}
			logs, err := tx.UsageLogs(planned.ID)
			if err != nil {
				return err
			}
			if len(logs) != 1 || logs[0].UsedTrafficAtReset != 150 {
				t.Errorf("plan usage log: %+v", logs)
			}
			h, err := tx.UserByID(held.ID)
			if err != nil {
				return err
			}
			if h.Expire != lifecycleNow.Unix()+86400 || h.OnHoldTimeout != nil || h.OnHoldExpireDuration != 0 {
				t.Errorf("after hold start: %+v", h)
			}
			if _, err := tx.UserByID(doomed.ID); err == nil {
				t.Error("deleted user still there")
			}
			totals, err := tx.UserUsageByNode(doomed.ID, lifecycleNow.Add(-time.Hour), lifecycleNow.Add(time.Hour))
			if err != nil {
				return err
			}
			if len(totals) != 0 {
				t.Errorf("usage of deleted user kept: %+v", totals)
			}
			return nil
		})
	})
}

func TestUsersUsageByNode(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		n1, n2 := testNode("one"), testNode("two")
		a1, a2 := model.Admin{Username: "a1", HashedPassword: "h"}, model.Admin{Username: "a2", HashedPassword: "h"}
		mustTx(t, s, func(tx *Tx) error {
			for _, n := range []*model.Node{&n1, &n2} {
				if err := tx.CreateNode(n); err != nil {
					return err
				}
			}
			for _, a := range []*model.Admin{&a1, &a2} {
				if err := tx.CreateAdmin(a); err != nil {
					return err
				}
			}
			return nil
		})
		u1, u2 := testUser("by_a1"), testUser("by_a2")
		u1.AdminID, u2.AdminID = a1.ID, a2.ID
		createUsers(t, s, &u1, &u2)
		var s1, s2 int64
		useTraffic(t, s, n1.ID, &s1, lifecycleNow, map[int64]int64{u1.ID: 10, u2.ID: 20})
		useTraffic(t, s, n2.ID, &s2, lifecycleNow, map[int64]int64{u1.ID: 1})
		useTraffic(t, s, n2.ID, &s2, lifecycleNow.Add(-48*time.Hour), map[int64]int64{u1.ID: 1000})
		cases := []struct {
			admins []int64
			want   []NodeTotal
		}{
			{nil, []NodeTotal{{n1.ID, 30}, {n2.ID, 1}}},
			{[]int64{a1.ID}, []NodeTotal{{n1.ID, 10}, {n2.ID, 1}}},
			{[]int64{a2.ID}, []NodeTotal{{n1.ID, 20}}},
		}
		mustRead(t, s, func(tx *Tx) error {
			for _, c := range cases {
				got, err := tx.UsersUsageByNode(lifecycleNow.Add(-time.Hour), lifecycleNow.Add(time.Hour), c.admins)
				if err != nil {
					return err
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("admins %v: %+v, want %+v", c.admins, got, c.want)
				}
			}
			return nil
		})
	})
}

// The lifecycle queries each range-scan an index, never the users table.
func TestLifecycleQueriesUseIndexes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		conn, err := s.read.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		explain := "EXPLAIN QUERY PLAN "
		if s.postgres() {
			explain = "EXPLAIN "
			if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
				t.Fatal(err)
			}
		}
		var a args
		due := `SELECT u.id FROM users u WHERE ` + resetDueParts(&a, lifecycleNow)[0]
		queries := map[string]struct {
			q     string
			args  []any
			index string
		}{
			"reset due":    {due, a[:3], "users_reset_due"},
			"pending plan": {`SELECT u.id FROM users u WHERE u.next_plan IS NOT NULL AND u.status IN ('limited', 'expired')`, nil, "users_next_plan"},
			"auto delete": {`SELECT u.id FROM users u WHERE u.auto_delete_in_days IS NOT NULL AND u.status IN ('limited', 'expired')
				AND COALESCE(u.last_status_change, u.created_at) + u.auto_delete_in_days * 86400 <= 5`, nil, "users_auto_delete"},
		}
		for name, q := range queries {
			rows, err := conn.QueryContext(ctx, explain+q.q, q.args...)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var plan []string
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
			}
			rows.Close()
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, q.index) || strings.Contains(text, "SCAN u\n") || strings.HasSuffix(text, "SCAN u") {
				t.Errorf("%s: plan does not use %s:\n%s", name, q.index, text)
			}
		}
	})
}
