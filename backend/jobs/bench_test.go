package jobs_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // raw connection for VACUUM

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
)

const benchUsers = 100_000

// seedLifecycle creates n users through the state (as an import would) and
// one usage batch for all of them, shaped so that every 10 s review tick
// past start+1h has work: 1 user in 10 expires, spread over 100 ticks
// (about 100 per tick), a tenth of those with a next plan that fires; 1 in
// 100 on hold and online (all start at the first tick); 1 in 1000 over its
// limit (limited at the first tick); 1 in 10 on a monthly reset.
func seedLifecycle(b *testing.B, st *state.State, db *store.Store, clk *clockForBench, n int) {
	ctx := context.Background()
	base := clk.Now()
	const batch = 10_000
	for start := 0; start < n; start += batch {
		in := make([]state.UserInput, 0, batch)
		for i := start; i < start+batch && i < n; i++ {
			u := state.UserInput{
				Username: ptr(fmt.Sprintf("user_%06d", i)),
				Proxies:  map[string]model.ProxySettings{"vless": {}, "trojan": {}},
			}
			if i%2 == 0 {
				u.DataLimit = ptr(int64(10 << 30))
			}
			switch {
			case i%10 == 0:
				u.Expire = ptr(base.Add(time.Hour + time.Duration((i/10)%100)*reviewEvery).Unix())
				if i%100 == 0 {
					u.NextPlan = &model.NextPlan{DataLimit: 5 << 30, Expire: 30 * 86400, AddRemainingTraffic: true, FireOnEither: true}
				}
			case i%100 == 3:
				u.Status = ptr(model.StatusOnHold)
				u.OnHoldExpireDuration = ptr(int64(30 * 86400))
			case i%10 == 1:
				u.DataLimitResetStrategy = ptr(model.ResetMonth)
			}
			in = append(in, u)
		}
		if _, err := st.ImportUsers(ctx, nil, in); err != nil {
			b.Fatal(err)
		}
	}
	node := model.Node{Name: "bench-edge", Address: "127.0.0.1"}
	if _, err := st.CreateNode(ctx, &node); err != nil {
		b.Fatal(err)
	}
	fence, _, err := db.NodeSessionStart(ctx, node.ID)
	if err != nil {
		b.Fatal(err)
	}
	var ids []int64
	if err := db.Read(ctx, func(tx *store.Tx) error {
		return tx.EachUserOnNodes(func(u *model.User) error { ids = append(ids, u.ID); return nil })
	}); err != nil {
		b.Fatal(err)
	}
	traffic := make([]store.UserTraffic, len(ids))
	for i, id := range ids {
		down := int64(id%1000) << 20
		if id%1000 == 3 {
			down = 11 << 30 // over the limit of an even id
		}
		traffic[i] = store.UserTraffic{UserID: id, Down: down}
	}
	if _, err := db.ApplyUsage(ctx, node.ID, fence, 0, 1, clk.Now(), traffic); err != nil {
		b.Fatal(err)
	}
}

// vacuum does on PostgreSQL what autovacuum does between ticks in
// production: without it, index entries of the rows a bulk tick just
// rewrote are rechecked against the heap by every later tick.
func vacuum(b *testing.B, url string) {
	if url == "" {
		return
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`VACUUM (ANALYZE) users, user_traffic`); err != nil {
		b.Fatal(err)
	}
}

// clockForBench is a plain movable clock: the benchmark calls Review itself.
type clockForBench struct{ t time.Time }

func (c *clockForBench) Now() time.Time { return c.t }

// BenchmarkReviewTick100k measures one review tick (periodic resets,
// on-hold starts, limit and expiry transitions, next plans: one transaction,
// one revision) over 100,000 users, on SQLite and PostgreSQL. "steady" is a
// tick with about 100 users expiring (10 of them with a next plan); "idle"
// is a tick with nothing to do; "monthly-resets" a tick that resets the
// usage of the 10,000 monthly users at once.
func BenchmarkReviewTick100k(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			ctx := context.Background()
			url, dir := e.url(b)
			log := slog.New(slog.DiscardHandler)
			db, err := store.Open(ctx, url, dir, log)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			clk := &clockForBench{t: time.Unix(1_800_000_000, 0).UTC()}
			st := state.New(db, feed.NewMemory(100), log, clk.Now)
			if _, err := st.Bootstrap(ctx, true); err != nil {
				b.Fatal(err)
			}
			seedLifecycle(b, st, db, clk, benchUsers)
			// The first tick starts the held users and limits the heavy ones.
			clk.t = clk.t.Add(time.Hour - reviewEvery)
			first, err := st.Review(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("first tick changed %d users", first)
			vacuum(b, url)

			b.Run("steady", func(b *testing.B) {
				changed := 0
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					clk.t = clk.t.Add(reviewEvery)
					b.StartTimer()
					n, err := st.Review(ctx)
					if err != nil {
						b.Fatal(err)
					}
					changed += n
				}
				b.ReportMetric(float64(changed)/float64(b.N), "users/tick")
			})
			b.Run("idle", func(b *testing.B) {
				clk.t = clk.t.Add(24 * time.Hour)
				if _, err := st.Review(ctx); err != nil { // whatever expired meanwhile
					b.Fatal(err)
				}
				vacuum(b, url)
				for b.Loop() {
					if n, err := st.Review(ctx); err != nil || n != 0 {
						b.Fatalf("idle tick: %d %v", n, err)
					}
				}
			})
			// A month later every monthly user (10,000) is due at once.
			b.Run("monthly-resets", func(b *testing.B) {
				changed := 0
				for b.Loop() {
					b.StopTimer()
					clk.t = clk.t.Add(30 * 24 * time.Hour)
					vacuum(b, url)
					b.StartTimer()
					n, err := st.Review(ctx)
					if err != nil {
						b.Fatal(err)
					}
					changed += n
				}
				b.ReportMetric(float64(changed)/float64(b.N), "users/tick")
			})
		})
	}
}
