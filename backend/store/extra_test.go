package store

import (
	"errors"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// extraSchema is the migration that adds user_templates, webhook_outbox and
// webhook_reminders (0004_extra.sql).
const extraSchema = 4

// needExtraSchema fails when the migration that these tests cover is missing.
func needExtraSchema(t testing.TB, s *Store) {
	t.Helper()
	if v, err := s.SchemaVersion(t.Context()); err != nil || v < extraSchema {
		t.Fatalf("schema version %d (%v): migration 0004_extra.sql not applied", v, err)
	}
}

func TestUserTemplates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		needExtraSchema(t, s)
		a := UserTemplate{Name: "month", DataLimit: 10 << 30, ExpireDuration: 30 * 86400, UsernamePrefix: ptr("vip_"),
			Inbounds: map[string][]string{"vless": {"VLESS_TCP"}}}
		b := UserTemplate{Name: "trial"}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateTemplate(&a); err != nil {
				return err
			}
			return tx.CreateTemplate(&b)
		})
		if a.ID == 0 || b.ID == 0 || a.ID == b.ID {
			t.Fatalf("ids %d, %d", a.ID, b.ID)
		}
		b.Inbounds = map[string][]string{}
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.TemplateByID(a.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(*got, a) {
				t.Errorf("read %+v, want %+v", *got, a)
			}
			for _, c := range []struct {
				offset, limit int
				want          []string
			}{{0, 0, []string{"month", "trial"}}, {0, 1, []string{"month"}}, {1, 0, []string{"trial"}}, {2, 0, nil}} {
				list, err := tx.ListTemplates(c.offset, c.limit)
				if err != nil {
					return err
				}
				var names []string
				for _, l := range list {
					names = append(names, l.Name)
				}
				if !reflect.DeepEqual(names, c.want) {
					t.Errorf("list(%d, %d) = %v, want %v", c.offset, c.limit, names, c.want)
				}
			}
			return nil
		})
		// Conflicts and misses, each leaving the transaction usable.
		mustTx(t, s, func(tx *Tx) error {
			dup := UserTemplate{Name: "trial"}
			if err := tx.CreateTemplate(&dup); !errors.Is(err, model.ErrConflict) {
				t.Errorf("duplicate create: %v, want ErrConflict", err)
			}
			ren := a
			ren.Name = "trial"
			if err := tx.UpdateTemplate(&ren); !errors.Is(err, model.ErrConflict) {
				t.Errorf("rename onto a taken name: %v, want ErrConflict", err)
			}
			gone := UserTemplate{ID: 999, Name: "x"}
			if err := tx.UpdateTemplate(&gone); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("update missing: %v", err)
			}
			if err := tx.DeleteTemplate(999); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("delete missing: %v", err)
			}
			a.UsernamePrefix, a.UsernameSuffix, a.DataLimit = nil, ptr("_x"), 0
			if err := tx.UpdateTemplate(&a); err != nil {
				return err
			}
			return tx.DeleteTemplate(b.ID)
		})
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.TemplateByID(a.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(*got, a) {
				t.Errorf("after update %+v, want %+v", *got, a)
			}
			if _, err := tx.TemplateByID(b.ID); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("deleted template: %v", err)
			}
			return nil
		})
	})
}

func TestWebhookOutbox(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		needExtraSchema(t, s)
		t0 := time.Unix(1_800_000_000, 0).UTC()
		var rows []WebhookRow
		for i := range 450 { // more than one insert chunk
			rows = append(rows, WebhookRow{Address: "http://a", Action: "user_created", Payload: []byte(`{"n":` + strconv.Itoa(i) + `}`), CreatedAt: t0})
		}
		mustTx(t, s, func(tx *Tx) error { return tx.EnqueueWebhooks(rows) })
		// A rolled back change leaves no notification.
		if err := s.Tx(t.Context(), func(tx *Tx) error {
			if err := tx.EnqueueWebhooks([]WebhookRow{{Address: "http://a", Action: "x", Payload: []byte(`{}`), CreatedAt: t0}}); err != nil {
				return err
			}
			return errors.New("abort")
		}); err == nil {
			t.Fatal("aborted transaction committed")
		}
		counts := func() WebhookCounts {
			var c WebhookCounts
			mustRead(t, s, func(tx *Tx) (err error) { c, err = tx.CountWebhooks(); return err })
			return c
		}
		if c := counts(); c != (WebhookCounts{Pending: 450}) {
			t.Fatalf("counts %+v", c)
		}
		claim := func(at time.Time, limit int) []WebhookRow {
			var got []WebhookRow
			mustTx(t, s, func(tx *Tx) (err error) { got, err = tx.ClaimWebhooks(at, time.Minute, limit); return err })
			return got
		}
		first := claim(t0, 100)
		if len(first) != 100 || string(first[0].Payload) != `{"n":0}` || first[0].Action != "user_created" || !first[0].CreatedAt.Equal(t0) {
			t.Fatalf("first claim: %d rows, first %+v", len(first), first[0])
		}
		// Leased rows are not claimed again until the lease ends.
		second := claim(t0, 1000)
		if len(second) != 350 || second[0].ID == first[0].ID {
			t.Fatalf("second claim: %d rows", len(second))
		}
		if again := claim(t0.Add(30*time.Second), 1000); len(again) != 0 {
			t.Fatalf("claimed %d leased rows", len(again))
		}
		ids := func(rs []WebhookRow) []int64 {
			out := make([]int64, len(rs))
			for i, r := range rs {
				out[i] = r.ID
			}
			return out
		}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.MarkWebhooksDelivered(ids(first), t0); err != nil {
				return err
			}
			if err := tx.RetryWebhooks(ids(second[:50]), t0.Add(10*time.Second), "503"); err != nil {
				return err
			}
			return tx.FailWebhooks(ids(second[50:]), t0, "400")
		})
		if c := counts(); c != (WebhookCounts{Pending: 50, Delivered: 100, Failed: 300}) {
			t.Fatalf("counts %+v", c)
		}
		if got := claim(t0.Add(5*time.Second), 1000); len(got) != 0 {
			t.Fatalf("claimed %d rows before their retry time", len(got))
		}
		retried := claim(t0.Add(10*time.Second), 1000)
		if len(retried) != 50 || retried[0].Attempts != 1 {
			t.Fatalf("retry claim: %d rows, attempts %d", len(retried), retried[0].Attempts)
		}
		mustTx(t, s, func(tx *Tx) error {
			n, err := tx.PruneWebhooks(t0.Add(time.Second))
			if n != 400 {
				t.Errorf("pruned %d, want 400", n)
			}
			return err
		})
		if c := counts(); c != (WebhookCounts{Pending: 50}) {
			t.Fatalf("after prune %+v", c)
		}
	})
}

func TestWebhookReminders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		needExtraSchema(t, s)
		now := time.Unix(1_800_000_000, 0).UTC()
		mk := func(name string, used, limit, expire int64, status model.Status) *model.User {
			u := testUser(name)
			u.UsedTraffic, u.DataLimit, u.Expire, u.Status, u.CreatedAt = used, limit, expire, status, now.Add(-time.Hour)
			return &u
		}
		near := mk("near", 85, 100, 0, model.StatusActive)
		far := mk("far", 10, 100, 0, model.StatusActive)
		unlimited := mk("unlimited", 1000, 0, 0, model.StatusActive)
		disabled := mk("disabled", 95, 100, 0, model.StatusDisabled)
		soon := mk("soon", 0, 0, now.Add(48*time.Hour).Unix(), model.StatusActive)
		later := mk("later", 0, 0, now.Add(5*24*time.Hour).Unix(), model.StatusActive)
		past := mk("past", 0, 0, now.Add(-time.Hour).Unix(), model.StatusExpired)
		online := mk("online", 0, 0, 0, model.StatusActive)
		online.OnlineAt = ptr(now.Add(-time.Minute))
		createUsers(t, s, near, far, unlimited, disabled, soon, later, past, online)

		names := func(us []model.User) []string {
			var out []string
			for _, u := range us {
				out = append(out, u.Username)
			}
			return out
		}
		check := func(wantUsage, wantDays []string) {
			t.Helper()
			mustTx(t, s, func(tx *Tx) error {
				usage, err := tx.UsersReachingUsage(80, 100)
				if err != nil {
					return err
				}
				days, err := tx.UsersReachingExpiry(now, 3*24*time.Hour, 100)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(names(usage), wantUsage) || !reflect.DeepEqual(names(days), wantDays) {
					t.Errorf("reminders usage %v days %v, want %v %v", names(usage), names(days), wantUsage, wantDays)
				}
				if err := tx.RemindedUsers(ReminderUsage, usage); err != nil {
					return err
				}
				return tx.RemindedUsers(ReminderDays, days)
			})
		}
		check([]string{"near"}, []string{"soon"})
		check(nil, nil) // once per period
		// A new period (usage reset; a new expire) makes them due again.
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.ResetUsersUsage([]int64{near.ID}, now, 1); err != nil {
				return err
			}
			if _, err := tx.exec(`UPDATE user_traffic SET used_traffic = 90 WHERE user_id = $1`, near.ID); err != nil {
				return err
			}
			soon.Expire += 3600
			_, err := tx.exec(`UPDATE users SET expire = $1 WHERE id = $2`, soon.Expire, soon.ID)
			return err
		})
		check([]string{"near"}, []string{"soon"})

		mustRead(t, s, func(tx *Tx) error {
			n, err := tx.CountOnlineUsers(now.Add(-2*time.Minute), nil)
			if n != 1 {
				t.Errorf("online %d, want 1", n)
			}
			return err
		})
	})
}

func TestNodesTraffic(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		n1, n2 := testNode("n1"), testNode("n2")
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateNode(&n1); err != nil {
				return err
			}
			return tx.CreateNode(&n2)
		})
		u := testUser("u")
		createUsers(t, s, &u)
		t0 := time.Unix(1_800_000_000, 0).UTC()
		var seq1, seq2 int64
		useTraffic(t, s, n1.ID, &seq1, t0, map[int64]int64{u.ID: 100})
		useTraffic(t, s, n1.ID, &seq1, t0.Add(2*time.Hour), map[int64]int64{u.ID: 50})
		useTraffic(t, s, n2.ID, &seq2, t0, map[int64]int64{u.ID: 7})
		mustRead(t, s, func(tx *Tx) error {
			all, err := tx.NodesTraffic(t0.Add(-time.Hour), t0.Add(3*time.Hour))
			if err != nil {
				return err
			}
			want := []NodeTraffic{{NodeID: n1.ID, Downlink: 150}, {NodeID: n2.ID, Downlink: 7}}
			if !reflect.DeepEqual(all, want) {
				t.Errorf("traffic %+v, want %+v", all, want)
			}
			early, err := tx.NodesTraffic(t0.Add(-time.Hour), t0.Add(time.Hour))
			if err != nil {
				return err
			}
			if len(early) != 2 || early[0].Downlink != 100 {
				t.Errorf("first hour %+v", early)
			}
			up, down, err := tx.TotalNodeTraffic()
			if up != 0 || down != 157 {
				t.Errorf("total %d/%d, want 0/157", up, down)
			}
			return err
		})
	})
}

// Dispatchers on several replicas claim at once: every row goes to one.
func TestWebhookClaimsDisjoint(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		needExtraSchema(t, s)
		t0 := time.Unix(1_800_000_000, 0).UTC()
		var rows []WebhookRow
		for range 300 {
			rows = append(rows, WebhookRow{Address: "http://a", Action: "user_updated", Payload: []byte(`{}`), CreatedAt: t0})
		}
		mustTx(t, s, func(tx *Tx) error { return tx.EnqueueWebhooks(rows) })
		var (
			mu   sync.Mutex
			seen = map[int64]int{}
			wg   sync.WaitGroup
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var got []WebhookRow
					if err := s.Tx(t.Context(), func(tx *Tx) (err error) { got, err = tx.ClaimWebhooks(t0, time.Minute, 25); return err }); err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						seen[r.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 300 {
			t.Fatalf("claimed %d distinct rows, want 300", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("row %d claimed %d times", id, n)
			}
		}
	})
}
