package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
)

// TestMain stops the PostgreSQL cluster the benchmarks may have started.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

const benchListUsers = 100_000

// BenchmarkListUsers100k measures GET /api/users?limit=50 with a search, a
// status filter and sort=-used_traffic over 100,000 users, through a real
// listener and HTTP client, on each engine. It reports p50 and p99 over
// listRequests requests per op with varied search strings.
//
// The pages come from the store's in-memory user directory
// (backend/directory): each request reads the current revision,
// filters, counts and sorts the 100,000 entries in memory, and loads only
// the page's 50 rows. The warm-up request loads the directory (a few
// hundred milliseconds, once per replica), so it is not in the numbers.
// A search matching tens of thousands of users ("1", "7") costs a few
// milliseconds more than one matching none ("zzz_nothing").
func BenchmarkListUsers100k(b *testing.B) {
	engines := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{store.EngineSQLite, func(*testing.B) string { return "" }},
		{store.EnginePostgres, func(b *testing.B) string { return testenv.Postgres(b) }},
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			base, token := seededPanel(b, e.url(b))
			client := &http.Client{Timeout: 10 * time.Second}
			searches := []string{"user_0", "user_42", "99", "shop", "7", "note 3", "user_01234", "vpn_5", "zzz_nothing", "1"}
			statuses := []string{"active", "active", "active", "disabled", "on_hold"}
			const listRequests = 300
			// One warm-up round so the first request's connection setup,
			// cold caches and the user directory's first load are not in
			// the numbers.
			get(b, client, base+"/api/users?limit=50&sort=-used_traffic&status=active&search=user", token)
			var took []time.Duration
			bySearch := map[string][]time.Duration{}
			byStatus := map[string][]time.Duration{}
			b.ResetTimer()
			for range b.N {
				for i := range listRequests {
					q := url.Values{
						"limit":  {"50"},
						"offset": {fmt.Sprint((i % 3) * 50)},
						"sort":   {"-used_traffic"},
						// Independent of the search string, so every search
						// meets every status.
						"status": {statuses[(i/len(searches))%len(statuses)]},
						"search": {searches[i%len(searches)]},
					}
					start := time.Now()
					get(b, client, base+"/api/users?"+q.Encode(), token)
					d := time.Since(start)
					took = append(took, d)
					bySearch[q.Get("search")] = append(bySearch[q.Get("search")], d)
					byStatus[q.Get("status")] = append(byStatus[q.Get("status")], d)
				}
			}
			b.StopTimer()
			// Benchmark logs keep 10 lines without -v: one line per grouping.
			median := func(d []time.Duration) float64 {
				slices.Sort(d)
				return ms(d[len(d)/2])
			}
			var line []string
			for _, q := range searches {
				line = append(line, fmt.Sprintf("%q %.1f", q, median(bySearch[q])))
			}
			b.Logf("median ms by search: %s", strings.Join(line, ", "))
			line = line[:0]
			for _, st := range []string{"active", "disabled", "on_hold"} {
				d := byStatus[st]
				line = append(line, fmt.Sprintf("%s %.1f/%.1f", st, median(d), ms(d[int(0.99*float64(len(d)-1))])))
			}
			b.Logf("median/p99 ms by status: %s", strings.Join(line, ", "))
			slices.Sort(took)
			pct := func(p float64) float64 {
				return float64(took[int(p*float64(len(took)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(took[len(took)-1])/float64(time.Millisecond), "max-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func get(b *testing.B, client *http.Client, u, token string) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatalf("GET %s: %v", u, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: HTTP %d %s (%v)", u, resp.StatusCode, body, err)
	}
}

// seededPanel opens a store at databaseURL (SQLite in a temp dir when
// empty), imports benchListUsers users in one transaction, gives them
// varied used_traffic with one usage batch, serves the API on a loopback
// listener and returns its base URL and a sudo token.
func seededPanel(b *testing.B, databaseURL string) (base, token string) {
	b.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := ""
	if databaseURL == "" {
		dir = b.TempDir()
	}
	db, err := store.Open(ctx, databaseURL, dir, log)
	if err != nil {
		b.Fatalf("opening store: %v", err)
	}
	b.Cleanup(func() { db.Close() })
	clk := &testClock{t: time.Now().UTC()}
	st := state.New(db, feed.NewMemory(1000), log, clk.Now)
	boot, err := st.Bootstrap(ctx, false)
	if err != nil {
		b.Fatalf("bootstrap: %v", err)
	}
	sudo, err := st.AdminByUsername(ctx, boot.CreatedAdmin)
	if err != nil {
		b.Fatal(err)
	}

	in := make([]state.UserInput, benchListUsers)
	prefixes := []string{"user_", "shop_", "vpn_"}
	for i := range in {
		u := &in[i]
		name := fmt.Sprintf("%s%06d", prefixes[i%len(prefixes)], i)
		u.Username = &name
		u.Proxies = map[string]model.ProxySettings{model.ProtoVLESS: {}, model.ProtoTrojan: {}}
		switch i % 20 {
		case 3:
			s, d := model.Status("on_hold"), int64(30*86400)
			u.Status, u.OnHoldExpireDuration = &s, &d
		}
		if i%2 == 0 {
			limit := int64(100 << 30)
			u.DataLimit = &limit
		}
		if i%3 == 0 {
			exp := clk.Now().Add(time.Duration(1+i%60) * 24 * time.Hour).Unix()
			u.Expire = &exp
		}
		if i%10 == 0 {
			note := fmt.Sprintf("note %d", i%97)
			u.Note = &note
		}
	}
	if n, err := st.ImportUsers(ctx, sudo, in); err != nil || n != benchListUsers {
		b.Fatalf("importing users: %d, %v", n, err)
	}

	// Varied usage through the real recording path, so the sort has work.
	var ids []int64
	node := model.Node{Name: "bench", Address: "10.0.0.1", Port: 62050, APIPort: 62051, UsageCoefficient: 1, TokenHash: "bench"}
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateNode(&node); err != nil {
			return err
		}
		users, _, err := tx.ListUsers(store.UserFilter{})
		if err != nil {
			return err
		}
		// New users are active or on hold; 1 in 20 is disabled after.
		var disabled []int64
		for _, u := range users {
			ids = append(ids, u.ID)
			if strings.HasSuffix(u.Username, "2") && u.ID%2 == 0 {
				disabled = append(disabled, u.ID)
			}
		}
		rev, err := tx.BumpRevision()
		if err != nil {
			return err
		}
		return tx.SetUsersStatus(disabled, model.Status("disabled"), rev, clk.Now())
	}); err != nil {
		b.Fatal(err)
	}
	fence, _, err := db.NodeSessionStart(ctx, node.ID)
	if err != nil {
		b.Fatal(err)
	}
	traffic := make([]store.UserTraffic, len(ids))
	for i, id := range ids {
		traffic[i] = store.UserTraffic{UserID: id, Up: (id * 2654435761) % 1_000_000_000, Down: (id * 40503) % 3_000_000_000}
	}
	if _, err := db.ApplyUsage(ctx, node.ID, fence, 0, 1, clk.Now(), traffic); err != nil {
		b.Fatal(err)
	}

	app := api.New(api.Options{
		State:       st,
		Secrets:     boot.Secrets,
		Log:         log,
		RateLimiter: coord.NewMemory(clk.Now),
		Hub:         &recordingHub{connected: map[int64]bool{}},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.Listener(ln)
	}()
	b.Cleanup(func() {
		_ = app.Shutdown()
		<-done
	})
	tok, err := auth.Issue(boot.Secrets.JWT, sudo, time.Hour, clk.Now())
	if err != nil {
		b.Fatal(err)
	}
	return "http://" + ln.Addr().String(), tok
}
