package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// BenchmarkResetAllUsage is POST /api/users/reset over 100,000 users, with
// webhooks off and on: on, the same transaction reads the users back once
// and queues 100,000 data_usage_reset events in multi-row inserts.
//
//	go test ./backend/webhook -run '^$' -bench ResetAllUsage -benchtime 3x
func BenchmarkResetAllUsage(b *testing.B) {
	const users = 100_000
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		for _, hooks := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/webhooks=%v", engine, hooks), func(b *testing.B) {
				ctx := context.Background()
				url, dir := "", b.TempDir()
				if engine == store.EnginePostgres {
					url, dir = testenv.Postgres(b), ""
				}
				db, err := store.Open(ctx, url, dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { db.Close() })
				clk := &clock{t: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)}
				st := state.New(db, feed.NewMemory(1000), slog.New(slog.DiscardHandler), clk.Now)
				if _, err := st.Bootstrap(ctx, false); err != nil {
					b.Fatal(err)
				}
				if hooks {
					st.SetWebhookAddresses([]string{"http://127.0.0.1:9/hook"})
				}
				const batch = 10_000
				for start := 0; start < users; start += batch {
					in := make([]state.UserInput, 0, batch)
					for i := start; i < start+batch; i++ {
						name := fmt.Sprintf("user_%06d", i)
						limit := int64(i%2) << 30
						in = append(in, state.UserInput{Username: &name, DataLimit: &limit,
							Proxies: map[string]model.ProxySettings{model.ProtoVLESS: {}, model.ProtoTrojan: {}}})
					}
					if _, err := st.ImportUsers(ctx, nil, in); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for b.Loop() {
					clk.Advance(time.Second)
					if n, err := st.ResetAllUsage(ctx, nil); err != nil || n != users {
						b.Fatalf("ResetAllUsage = %d, %v", n, err)
					}
				}
				b.StopTimer()
				if hooks {
					var c store.WebhookCounts
					if err := db.Read(ctx, func(tx *store.Tx) (err error) { c, err = tx.CountWebhooks(); return err }); err != nil {
						b.Fatal(err)
					}
					if c.Pending < users {
						b.Fatalf("outbox %+v, want at least %d pending", c, users)
					}
				}
			})
		}
	}
}
