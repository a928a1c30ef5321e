package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

func testUser(name string) model.User {
	return model.User{
		Username: name,
		Status:   model.StatusActive,
		Proxies: map[string]model.ProxySettings{
			model.ProtoVLESS:  {ID: "5d1b2b1e-1c2d-4e3f-8a9b-0c1d2e3f4a5b", Flow: "xtls-rprx-vision"},
			model.ProtoTrojan: {Password: "secret-" + name},
		},
		ExcludedInbounds: map[string][]string{model.ProtoVLESS: {"VLESS_WS"}},
		DataLimitReset:   model.ResetNone,
	}
}

func ptr[T any](v T) *T { return &v }

func TestUserCRUD(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		at := func(sec int64) *time.Time { return ptr(time.Unix(1_750_000_000+sec, 0).UTC()) }
		admin := model.Admin{Username: "boss", HashedPassword: "h"}
		u := testUser("alice")
		u.Expire = 1_760_000_000
		u.DataLimit = 10 << 30
		u.DataLimitReset = model.ResetMonth
		u.UsedTraffic = 123
		u.LifetimeUsedTraffic = 456
		u.CreatedAt = time.Unix(1_700_000_000, 0).UTC()
		u.EditAt = at(1)
		u.Note = "vip"
		u.SubUpdatedAt = at(2)
		u.SubLastUserAgent = "v2rayNG/1.9"
		u.SubRevokedAt = at(3)
		u.OnlineAt = at(4)
		u.OnHoldExpireDuration = 86400
		u.OnHoldTimeout = at(5)
		u.AutoDeleteInDays = ptr(int64(30))
		u.NextPlan = &model.NextPlan{DataLimit: 5 << 30, Expire: 2592000, AddRemainingTraffic: true}
		u.LastStatusChange = at(6)
		u.UsageResetAt = at(7)
		u.Revision = 11

		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateAdmin(&admin); err != nil {
				return err
			}
			u.AdminID = admin.ID
			return tx.CreateUser(&u)
		})
		if u.ID == 0 {
			t.Fatal("CreateUser did not set ID")
		}
		want := u
		want.AdminUsername = "boss"
		mustRead(t, s, func(tx *Tx) error {
			for _, get := range []func() (*model.User, error){
				func() (*model.User, error) { return tx.UserByID(u.ID) },
				func() (*model.User, error) { return tx.UserByUsername("ALICE") },
			} {
				got, err := get()
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(*got, want) {
					t.Errorf("read back\n got %+v\nwant %+v", *got, want)
				}
			}
			return nil
		})

		// UpdateUser writes admin/lifecycle fields but never the counters
		// ApplyUsage owns, even from a stale copy.
		upd := want
		upd.Status = model.StatusDisabled
		upd.Expire = 0
		upd.DataLimit = 0
		upd.Note = ""
		upd.NextPlan = nil
		upd.AutoDeleteInDays = nil
		upd.OnHoldTimeout = nil
		upd.ExcludedInbounds = nil
		upd.Proxies = map[string]model.ProxySettings{model.ProtoVMess: {ID: "new"}}
		upd.Revision = 12
		upd.AdminID = 0
		upd.UsedTraffic = 0
		upd.OnlineAt = nil
		mustTx(t, s, func(tx *Tx) error {
			if _, err := tx.exec(`UPDATE user_traffic SET used_traffic = 999 WHERE user_id = $1`, u.ID); err != nil {
				return err
			}
			return tx.UpdateUser(&upd)
		})
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.UserByID(u.ID)
			if err != nil {
				return err
			}
			exp := upd
			exp.AdminUsername = ""
			exp.ExcludedInbounds = map[string][]string{}
			exp.UsedTraffic = 999
			exp.OnlineAt = want.OnlineAt
			if !reflect.DeepEqual(*got, exp) {
				t.Errorf("after UpdateUser\n got %+v\nwant %+v", *got, exp)
			}
			return nil
		})

		mustTx(t, s, func(tx *Tx) error {
			prev, err := tx.ResetUserUsage(u.ID, time.Unix(1_800_000_000, 0))
			if err != nil {
				return err
			}
			if prev != 999 {
				t.Errorf("ResetUserUsage returned %d, want 999", prev)
			}
			if err := tx.TouchSubscription(u.ID, time.Unix(1_800_000_100, 0), "clash-meta"); err != nil {
				return err
			}
			got, err := tx.LockUser(u.ID)
			if err != nil {
				return err
			}
			if got.UsedTraffic != 0 || got.LifetimeUsedTraffic != 456 || got.UsageResetAt.Unix() != 1_800_000_000 ||
				got.SubLastUserAgent != "clash-meta" || got.SubUpdatedAt.Unix() != 1_800_000_100 {
				t.Errorf("after reset and touch: %+v", got)
			}
			return nil
		})

		mustTx(t, s, func(tx *Tx) error {
			missing := upd
			missing.ID = u.ID + 1000
			if err := tx.UpdateUser(&missing); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("UpdateUser of a missing user: %v", err)
			}
			bad := testUser("orphan")
			bad.AdminID = 999999
			if err := tx.CreateUser(&bad); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("CreateUser with a missing admin: %v, want ErrNotFound", err)
			}
			return nil
		})
		mustTx(t, s, func(tx *Tx) error { return tx.DeleteUser(u.ID) })
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.DeleteUser(u.ID); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("second DeleteUser: %v", err)
			}
			if _, err := tx.UserByID(u.ID); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("UserByID after delete: %v", err)
			}
			if _, err := tx.UserByUsername("alice"); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("UserByUsername after delete: %v", err)
			}
			// Ids are never handed out twice: the id is part of the user's
			// Xray email.
			again := testUser("alice")
			if err := tx.CreateUser(&again); err != nil {
				return err
			}
			if again.ID <= u.ID {
				t.Errorf("re-created user got id %d, not above deleted %d", again.ID, u.ID)
			}
			return nil
		})
	})
}

func TestUsernameUniqueIgnoringCase(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		first := testUser("bob_1")
		mustTx(t, s, func(tx *Tx) error { return tx.CreateUser(&first) })
		for _, name := range []string{"bob_1", "BOB_1", "Bob_1"} {
			t.Run(name, func(t *testing.T) {
				u := testUser(name)
				err := s.Tx(context.Background(), func(tx *Tx) error { return tx.CreateUser(&u) })
				if !errors.Is(err, model.ErrConflict) {
					t.Errorf("CreateUser(%q) after bob_1: %v, want ErrConflict", name, err)
				}
			})
		}
	})
}

// listFixture creates users whose fields make each filter and sort order
// distinguishable; it returns their ids by username.
func listFixture(t *testing.T, s *Store) (ids map[string]int64, admins [2]int64) {
	t.Helper()
	ids = map[string]int64{}
	type row struct {
		name   string
		admin  int
		status model.Status
		used   int64
		limit  int64
		expire int64
		note   string
	}
	rows := []row{
		{"alpha", 0, model.StatusActive, 500, 1000, 300, "first customer"},
		{"bravo", 1, model.StatusActive, 900, 0, 100, ""},
		{"charlie", 1, model.StatusDisabled, 100, 5000, 0, "Paid in cash"},
		{"delta", 0, model.StatusLimited, 2000, 2000, 200, "alpha tester"},
		{"echo", 1, model.StatusActive, 0, 3000, 400, "100%_done"},
		{"foxtrot", 0, model.StatusActive, 700, 4000, 500, "percent 100 done"},
	}
	mustTx(t, s, func(tx *Tx) error {
		for i := range admins {
			a := model.Admin{Username: fmt.Sprint("admin", i), HashedPassword: "h"}
			if err := tx.CreateAdmin(&a); err != nil {
				return err
			}
			admins[i] = a.ID
		}
		for i, r := range rows {
			u := testUser(r.name)
			u.AdminID = admins[r.admin]
			u.Status = r.status
			u.UsedTraffic = r.used
			u.DataLimit = r.limit
			u.Expire = r.expire
			u.Note = r.note
			u.CreatedAt = time.Unix(int64(1_700_000_000+i*10), 0).UTC()
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
			ids[r.name] = u.ID
		}
		return nil
	})
	return ids, admins
}

func TestListUsers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ids, admins := listFixture(t, s)
		tests := []struct {
			name   string
			filter UserFilter
			want   []string
			total  int
		}{
			{"all by id", UserFilter{}, []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"}, 6},
			{"page", UserFilter{Offset: 2, Limit: 2}, []string{"charlie", "delta"}, 6},
			{"offset past end", UserFilter{Offset: 10, Limit: 2}, []string{}, 6},
			{"no match", UserFilter{Search: "nobody", Limit: 10}, []string{}, 0},
			{"no match past end", UserFilter{Search: "nobody", Limit: 10, Offset: 10}, []string{}, 0},
			{"offset without limit", UserFilter{Offset: 4}, []string{"echo", "foxtrot"}, 6},
			{"status", UserFilter{Status: model.StatusActive}, []string{"alpha", "bravo", "echo", "foxtrot"}, 4},
			{"usernames any case", UserFilter{Usernames: []string{"ECHO", "alpha", "nobody"}}, []string{"alpha", "echo"}, 2},
			{"search username or note", UserFilter{Search: "ALPHA"}, []string{"alpha", "delta"}, 2},
			{"search note case-insensitive", UserFilter{Search: "paid"}, []string{"charlie"}, 1},
			{"search wildcards are literal", UserFilter{Search: "100%_"}, []string{"echo"}, 1},
			{"admins", UserFilter{AdminIDs: []int64{admins[1]}}, []string{"bravo", "charlie", "echo"}, 3},
			{"sort used desc", UserFilter{Sort: "-used_traffic"}, []string{"delta", "bravo", "foxtrot", "alpha", "charlie", "echo"}, 6},
			{"sort used asc", UserFilter{Sort: "used_traffic", Limit: 2}, []string{"echo", "charlie"}, 6},
			{"sort username desc", UserFilter{Sort: "-username", Limit: 3}, []string{"foxtrot", "echo", "delta"}, 6},
			{"sort data_limit", UserFilter{Sort: "data_limit"}, []string{"bravo", "alpha", "delta", "echo", "foxtrot", "charlie"}, 6},
			{"sort expire", UserFilter{Sort: "expire", Limit: 3}, []string{"charlie", "bravo", "delta"}, 6},
			{"sort created_at desc", UserFilter{Sort: "-created_at", Limit: 1}, []string{"foxtrot"}, 6},
			{"combined", UserFilter{Status: model.StatusActive, Search: "o", Sort: "-used_traffic", Limit: 2},
				[]string{"bravo", "foxtrot"}, 4},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustRead(t, s, func(tx *Tx) error {
					users, total, err := tx.ListUsers(tt.filter)
					if err != nil {
						return err
					}
					got := []string{}
					for _, u := range users {
						got = append(got, u.Username)
						if u.ID != ids[u.Username] {
							t.Errorf("%s has id %d, want %d", u.Username, u.ID, ids[u.Username])
						}
					}
					if !slices.Equal(got, tt.want) || total != tt.total {
						t.Errorf("ListUsers(%+v) = %v, total %d; want %v, total %d", tt.filter, got, total, tt.want, tt.total)
					}
					return nil
				})
			})
		}
		for _, bad := range []UserFilter{{Sort: "password"}, {Sort: "-"}, {Status: "gone"}} {
			mustRead(t, s, func(tx *Tx) error {
				if _, _, err := tx.ListUsers(bad); !errors.Is(err, model.ErrInvalid) {
					t.Errorf("ListUsers(%+v): %v, want ErrInvalid", bad, err)
				}
				return nil
			})
		}
	})
}

func TestUsersToReview(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		now := time.Unix(1_800_000_000, 0).UTC()
		past, future := now.Unix()-60, now.Unix()+60
		tests := []struct {
			name   string
			status model.Status
			used   int64
			limit  int64
			expire int64
			hold   *time.Time
			online *time.Time
			want   bool
		}{
			{"active fine", model.StatusActive, 10, 100, future, nil, nil, false},
			{"active unlimited", model.StatusActive, 1 << 40, 0, 0, nil, nil, false},
			{"active expired", model.StatusActive, 0, 0, past, nil, nil, true},
			{"active expires exactly now", model.StatusActive, 0, 0, now.Unix(), nil, nil, true},
			{"active at limit", model.StatusActive, 100, 100, 0, nil, nil, true},
			{"active over limit and expired", model.StatusActive, 200, 100, past, nil, nil, true},
			{"limited still over", model.StatusLimited, 100, 100, 0, nil, nil, false},
			{"limited raised", model.StatusLimited, 100, 200, 0, nil, nil, true},
			{"limited removed", model.StatusLimited, 100, 0, 0, nil, nil, true},
			{"expired still", model.StatusExpired, 0, 0, past, nil, nil, false},
			{"expired extended", model.StatusExpired, 0, 0, future, nil, nil, true},
			{"expired removed", model.StatusExpired, 0, 0, 0, nil, nil, true},
			{"disabled over everything", model.StatusDisabled, 500, 100, past, nil, nil, false},
			{"on hold waiting", model.StatusOnHold, 0, 0, 0, ptr(now.Add(time.Hour)), nil, false},
			{"on hold timed out", model.StatusOnHold, 0, 0, 0, ptr(now.Add(-time.Hour)), nil, true},
			{"on hold came online", model.StatusOnHold, 0, 0, 0, nil, ptr(now.Add(-time.Minute)), true},
			{"on hold online before hold", model.StatusOnHold, 0, 0, 0, nil, ptr(now.Add(-48 * time.Hour)), false},
		}
		want := map[int64]string{}
		mustTx(t, s, func(tx *Tx) error {
			for i, tt := range tests {
				u := testUser(fmt.Sprint("review_", i))
				u.Status, u.UsedTraffic, u.DataLimit, u.Expire = tt.status, tt.used, tt.limit, tt.expire
				u.OnHoldTimeout, u.OnlineAt = tt.hold, tt.online
				u.CreatedAt = now.Add(-24 * time.Hour)
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
				if tt.want {
					want[u.ID] = tt.name
				}
			}
			return nil
		})
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.UsersToReview(now)
			if err != nil {
				return err
			}
			seen := map[int64]bool{}
			for i, u := range got {
				if i > 0 && got[i-1].ID >= u.ID {
					t.Errorf("UsersToReview not in strictly ascending id order at %d", i)
				}
				seen[u.ID] = true
				if _, ok := want[u.ID]; !ok {
					t.Errorf("UsersToReview returned %s (%s), which needs no review", u.Username, u.Status)
				}
			}
			for id, name := range want {
				if !seen[id] {
					t.Errorf("UsersToReview missed %q", name)
				}
			}
			return nil
		})
	})
}

// TestReviewQueriesUseIndexes pins the query plans the review depends on at
// 100k users: each part must be an index range scan, never a table scan.
// It breaks if the queries stop matching the migrations' indexes (a partial
// index serves only a query that repeats its condition).
func TestReviewQueriesUseIndexes(t *testing.T) {
	queries := map[string]string{
		"over limit": `SELECT u.id FROM user_traffic t CROSS JOIN users u
			WHERE u.id = t.user_id AND t.limit_reached AND u.status = 'active'`,
		"under limit": `SELECT u.id FROM users u JOIN user_traffic t ON t.user_id = u.id
			WHERE u.status = 'limited' AND NOT t.limit_reached`,
		"expired": `SELECT id FROM users u WHERE u.status = 'active' AND u.expire > 0 AND u.expire <= 5`,
	}
	// Any of these indexes bounds the scan.
	wantIndex := map[string][]string{
		"over limit":  {"user_traffic_limit_reached"},
		"under limit": {"users_status_expire"},
		"expired":     {"users_status_expire", "users_expire"},
	}
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
			// An empty table makes any plan cheapest; forbid the scan so
			// the planner must show whether an index can serve the query.
			if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
				t.Fatal(err)
			}
		}
		for name, q := range queries {
			rows, err := conn.QueryContext(ctx, explain+q)
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
			// A range scan, not a full pass over an index: SQLite says
			// SEARCH, PostgreSQL shows an Index Cond.
			ranged := strings.Contains(text, "SEARCH") || strings.Contains(text, "Index Cond")
			if !ranged || !slices.ContainsFunc(wantIndex[name], func(ix string) bool { return strings.Contains(text, ix) }) {
				t.Errorf("%s: plan does not use %s:\n%s", name, wantIndex[name], text)
			}
		}
	})
}

func TestSetUsersStatusAndCounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		// More ids than one SQLite chunk.
		const n = 1234
		seedUsers(t, s, n, 0)
		var owner model.Admin
		mustTx(t, s, func(tx *Tx) error {
			owner = model.Admin{Username: "owner", HashedPassword: "h"}
			if err := tx.CreateAdmin(&owner); err != nil {
				return err
			}
			_, err := tx.exec(`UPDATE users SET admin_id = $1, status = 'active' WHERE id <= 10`, owner.ID)
			return err
		})
		var all []int64
		mustRead(t, s, func(tx *Tx) error {
			users, _, err := tx.ListUsers(UserFilter{})
			for _, u := range users {
				all = append(all, u.ID)
			}
			return err
		})
		if len(all) != n {
			t.Fatalf("seeded %d users, listed %d", n, len(all))
		}
		target := all[:1100]
		at := time.Unix(1_800_000_000, 0).UTC()
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.SetUsersStatus(target, "bogus", 1, at); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("SetUsersStatus(bogus): %v", err)
			}
			if err := tx.SetUsersStatus(nil, model.StatusDisabled, 1, at); err != nil {
				t.Errorf("SetUsersStatus(no ids): %v", err)
			}
			return tx.SetUsersStatus(target, model.StatusDisabled, 77, at)
		})
		mustRead(t, s, func(tx *Tx) error {
			counts, err := tx.CountUsersByStatus(nil)
			if err != nil {
				return err
			}
			if counts[model.StatusDisabled] < len(target) {
				t.Errorf("disabled count %d, want at least %d", counts[model.StatusDisabled], len(target))
			}
			sum := 0
			for _, c := range counts {
				sum += c
			}
			if sum != n {
				t.Errorf("counts %v sum to %d, want %d", counts, sum, n)
			}
			for _, id := range []int64{target[0], target[555], target[len(target)-1]} {
				u, err := tx.UserByID(id)
				if err != nil {
					return err
				}
				if u.Status != model.StatusDisabled || u.Revision != 77 || u.LastStatusChange == nil || !u.LastStatusChange.Equal(at) {
					t.Errorf("user %d after SetUsersStatus: status %s revision %d changed %v", id, u.Status, u.Revision, u.LastStatusChange)
				}
			}
			untouched, err := tx.UserByID(all[len(all)-1])
			if err != nil {
				return err
			}
			if untouched.Revision == 77 {
				t.Error("SetUsersStatus touched a user outside the id list")
			}
			mine, err := tx.CountUsersByStatus(&owner.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(mine, map[model.Status]int{model.StatusDisabled: 10}) {
				t.Errorf("CountUsersByStatus(owner) = %v", mine)
			}
			return nil
		})
	})
}

func TestEachUserOnNodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		statuses := []model.Status{model.StatusActive, model.StatusDisabled, model.StatusOnHold,
			model.StatusLimited, model.StatusExpired, model.StatusActive}
		var want []string
		mustTx(t, s, func(tx *Tx) error {
			for i, st := range statuses {
				u := testUser(fmt.Sprint("node_user_", i))
				u.Status = st
				if i == 0 {
					u.NextPlan = &model.NextPlan{DataLimit: 1}
				}
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
				if st.OnNodes() {
					want = append(want, u.Username)
				}
			}
			return nil
		})
		var got []string
		mustRead(t, s, func(tx *Tx) error {
			return tx.EachUserOnNodes(func(u *model.User) error {
				got = append(got, u.Username)
				if u.Proxies[model.ProtoVLESS].ID == "" {
					t.Errorf("%s streamed without proxies", u.Username)
				}
				if (u.Username == "node_user_0") != (u.NextPlan != nil) {
					t.Errorf("%s: next plan %v leaked between rows", u.Username, u.NextPlan)
				}
				return nil
			})
		})
		if !slices.Equal(got, want) {
			t.Errorf("EachUserOnNodes = %v, want %v", got, want)
		}
		stop := errors.New("stop")
		calls := 0
		err := s.Read(context.Background(), func(tx *Tx) error {
			return tx.EachUserOnNodes(func(*model.User) error { calls++; return stop })
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("EachUserOnNodes with a failing callback: err %v after %d calls", err, calls)
		}
	})
}

// TestCreateUsers: the bulk insert stores every field CreateUser stores,
// across chunk boundaries, counters included, and refuses a taken name
// without writing anything.
func TestCreateUsers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		at := func(sec int64) *time.Time { return ptr(time.Unix(1_750_000_000+sec, 0).UTC()) }
		admin := model.Admin{Username: "boss", HashedPassword: "h"}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateAdmin(&admin) })
		users := make([]*model.User, createUsersChunk+7)
		for i := range users {
			u := testUser(fmt.Sprintf("bulk_%04d", i))
			u.CreatedAt = time.Unix(1_700_000_000+int64(i), 0).UTC()
			u.Revision = 3
			if i%2 == 0 {
				u.AdminID = admin.ID
				u.UsedTraffic, u.LifetimeUsedTraffic, u.OnlineAt = int64(i), int64(2*i+1), at(int64(i))
				u.Note, u.SubUpdatedAt, u.SubLastUserAgent, u.SubRevokedAt = "n", at(1), "ua", at(2)
				u.AutoDeleteInDays = ptr(int64(i))
				u.NextPlan = &model.NextPlan{DataLimit: 1 << 30, FireOnEither: true}
				u.EditAt, u.OnHoldTimeout, u.LastStatusChange, u.UsageResetAt = at(3), at(4), at(5), at(6)
			}
			users[i] = &u
		}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateUsers(users) })
		mustRead(t, s, func(tx *Tx) error {
			for _, u := range users {
				got, err := tx.UserByID(u.ID)
				if err != nil {
					return err
				}
				want := *u
				if want.AdminID != 0 {
					want.AdminUsername = "boss"
				}
				if !reflect.DeepEqual(*got, want) {
					t.Fatalf("%s read back\n got %+v\nwant %+v", u.Username, *got, want)
				}
			}
			return nil
		})
		// A taken name fails the whole call.
		dup := testUser("fresh_one")
		taken := testUser("bulk_0003")
		err := s.Tx(context.Background(), func(tx *Tx) error { return tx.CreateUsers([]*model.User{&dup, &taken}) })
		if !errors.Is(err, errConflict) {
			t.Fatalf("taken name: %v, want a conflict", err)
		}
		mustRead(t, s, func(tx *Tx) error {
			if _, err := tx.UserByUsername("fresh_one"); !errors.Is(err, errNotFound) {
				t.Errorf("fresh_one after a refused batch: %v", err)
			}
			return nil
		})
	})
}
