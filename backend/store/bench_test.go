package store

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// seedNow is the clock of seeded data.
var seedNow = time.Unix(1_800_000_000, 0).UTC()

// seedUsers inserts n users with one statement (a recursive series the two
// engines both understand), named user_<start+1> ... user_<start+n>. The mix
// is a steady state: most users active and within their limits, 1 in 1000 of
// them past expire or over the limit (what a review finds), some limited,
// expired, disabled and on hold.
func seedUsers(t testing.TB, s *Store, n, start int) {
	t.Helper()
	now := seedNow.Unix()
	jsonCast := "" // PostgreSQL assigns text to jsonb only when told
	if s.postgres() {
		jsonCast = "::jsonb"
	}
	q := `WITH RECURSIVE g (i) AS (
			SELECT CAST($1 AS BIGINT) + 1 UNION ALL SELECT i + 1 FROM g WHERE i < CAST($1 AS BIGINT) + $2)
		INSERT INTO users (username, status, proxies, excluded_inbounds, expire, data_limit,
			data_limit_reset_strategy, created_at, note, revision)
		SELECT 'user_' || i,
			CASE i % 20 WHEN 0 THEN 'limited' WHEN 1 THEN 'expired' WHEN 2 THEN 'disabled' WHEN 3 THEN 'on_hold'
				ELSE 'active' END,
			('{"vless":{"id":"5d1b2b1e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"},"trojan":{"password":"p' || i || '"}}')` + jsonCast + `,
			'{}',
			CASE WHEN i % 1000 = 7 THEN $3 - 60 WHEN i % 20 = 1 THEN $3 - 86400 WHEN i % 3 = 0 THEN $3 + 86400 * (i % 60)
				ELSE 0 END,
			CASE WHEN i % 2 = 0 THEN 10737418240 ELSE 0 END,
			'no_reset',
			$3 - 86400 * 365 + i,
			CASE WHEN i % 10 = 0 THEN 'note ' || (i % 97) ELSE '' END,
			0
		FROM g`
	q = strings.ReplaceAll(q, "$3", "CAST($3 AS BIGINT)")
	// The insert trigger made each user's counters row; fill it (i is the
	// number in the username).
	counters := `UPDATE user_traffic SET
			used_traffic = CASE WHEN i % 20 = 0 OR i % 1000 = 8 THEN 10737418240 ELSE (i * 2654435761) % 5368709120 END,
			lifetime_used_traffic = (i * 2654435761) % 5368709120
		FROM (SELECT id, CAST(substr(username, 6) AS BIGINT) AS i FROM users
			WHERE CAST(substr(username, 6) AS BIGINT) > CAST($1 AS BIGINT)) AS g
		WHERE user_traffic.user_id = g.id`
	ctx := context.Background()
	if err := s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(q, int64(start), int64(n), now); err != nil {
			return err
		}
		_, err := tx.exec(counters, int64(start))
		return err
	}); err != nil {
		t.Fatalf("seeding %d users: %v", n, err)
	}
	if s.postgres() {
		// Fresh statistics, as autovacuum would have them in production.
		if _, err := s.write.ExecContext(ctx, `ANALYZE users, user_traffic`); err != nil {
			t.Fatal(err)
		}
	} else if _, err := s.write.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
}

func benchEngines(b *testing.B, body func(b *testing.B, s *Store)) {
	for _, e := range testEngines {
		b.Run(e.name, func(b *testing.B) {
			url, dir := e.location(b)
			body(b, openAt(b, url, dir))
		})
	}
}

func seededIDs(b *testing.B, s *Store) []int64 {
	var ids []int64
	mustRead(b, s, func(tx *Tx) error {
		rows, err := tx.query(`SELECT id FROM users ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids
}

// BenchmarkApplyUsage100k: one op is one node batch carrying deltas for
// 100,000 users.
func BenchmarkApplyUsage100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		benchApplyUsage(b, s, func(ctx context.Context, nodeID, fence, from, to int64, at time.Time, traffic []UserTraffic) error {
			_, err := s.ApplyUsage(ctx, nodeID, fence, from, to, at, traffic)
			return err
		})
	})
	// The alternative the SQLite path was measured against: one prepared
	// statement per user, reused inside the one transaction.
	b.Run("sqlite-per-user-statement", func(b *testing.B) {
		s := openAt(b, "", b.TempDir())
		benchApplyUsage(b, s, func(ctx context.Context, nodeID, fence, from, to int64, at time.Time, traffic []UserTraffic) error {
			return applyUsagePerUser(ctx, s, nodeID, at, traffic)
		})
	})
}

// BenchmarkFoldUsage100k: one op folds the journal rows of three node
// batches of 100,000 users each (the batches of a node's 15 s fold
// interval at a 5 s batch interval) into the hourly per-user usage: one
// upsert of 100,000 rows. This is the work the usage batch no longer does.
func BenchmarkFoldUsage100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		node, fence, traffic := benchUsageSetup(b, s, 1)
		seq := int64(0)
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			for range 3 {
				// A new hour every other op: half the upserts insert.
				if _, err := s.ApplyUsage(ctx, node.ID, fence, seq, seq+1, seedNow.Add(time.Duration(i/2)*time.Hour), traffic); err != nil {
					b.Fatal(err)
				}
				seq++
			}
			b.StartTimer()
			if err := s.FoldAllUsage(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/fold")
	})
}

// benchUsageSetup seeds 100,000 users and a node with the given usage
// coefficient, opens its session and returns a batch with bytes for
// every user.
func benchUsageSetup(b *testing.B, s *Store, coefficient float64) (model.Node, int64, []UserTraffic) {
	b.Helper()
	seedUsers(b, s, 100_000, 0)
	ids := seededIDs(b, s)
	node := testNode("bench")
	node.UsageCoefficient = coefficient
	mustTx(b, s, func(tx *Tx) error { return tx.CreateNode(&node) })
	fence, _, err := s.NodeSessionStart(context.Background(), node.ID)
	if err != nil {
		b.Fatal(err)
	}
	traffic := make([]UserTraffic, len(ids))
	for i, id := range ids {
		traffic[i] = UserTraffic{UserID: id, Up: int64(1000 + i%5000), Down: int64(20000 + i%70000)}
	}
	return node, fence, traffic
}

func benchApplyUsage(b *testing.B, s *Store, apply func(ctx context.Context, nodeID, fence, from, to int64, at time.Time, traffic []UserTraffic) error) {
	ctx := context.Background()
	node, fence, traffic := benchUsageSetup(b, s, 1.25)
	at := seedNow
	meter := newCPUMeter(b, s)
	b.ResetTimer()
	for i := range b.N {
		// A new hour every other batch: half the upserts insert, half update.
		if err := apply(ctx, node.ID, fence, int64(i), int64(i+1), at.Add(time.Duration(i/2)*time.Hour), traffic); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
	meter.report(b)
}

// cpuMeter measures the CPU time the database spends, which on a shared
// machine is steadier than wall time: the test process's own (SQLite runs
// in it) or, for PostgreSQL on this machine, the one server backend the
// store is narrowed to.
type cpuMeter struct {
	read  func() (time.Duration, bool)
	start time.Duration
}

func newCPUMeter(b *testing.B, s *Store) *cpuMeter {
	m := &cpuMeter{}
	if !s.postgres() {
		m.read = func() (time.Duration, bool) {
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				return 0, false
			}
			return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
		}
	} else {
		s.write.SetMaxOpenConns(1)
		var pid int
		if err := s.write.QueryRow(`SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			b.Fatal(err)
		}
		m.read = func() (time.Duration, bool) { return procCPU(pid) }
	}
	m.start, _ = m.read()
	return m
}

func (m *cpuMeter) report(b *testing.B) {
	if end, ok := m.read(); ok {
		b.ReportMetric(float64((end-m.start).Milliseconds())/float64(b.N), "db-cpu-ms/op")
	}
}

// procCPU reads utime+stime of a local process; false when the server is
// not on this machine.
func procCPU(pid int) (time.Duration, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	_, after, ok := strings.Cut(string(raw), ") ")
	if !ok {
		return 0, false
	}
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, true // USER_HZ is 100 on Linux
}

// applyUsagePerUser is the per-user-statement variant of the SQLite bulk
// path, kept only to measure it against the temp-table path.
func applyUsagePerUser(ctx context.Context, s *Store, nodeID int64, at time.Time, traffic []UserTraffic) error {
	return s.Tx(ctx, func(tx *Tx) error {
		upd, err := tx.tx.PrepareContext(ctx, `UPDATE user_traffic SET used_traffic = used_traffic + ?,
			lifetime_used_traffic = lifetime_used_traffic + ?, online_at = ? WHERE user_id = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		ups, err := tx.tx.PrepareContext(ctx, `INSERT INTO node_user_usages (user_id, node_id, hour, used)
			VALUES (?, ?, ?, ?) ON CONFLICT (user_id, node_id, hour) DO UPDATE SET used = used + excluded.used`)
		if err != nil {
			return err
		}
		defer ups.Close()
		hour := hourOf(at)
		for _, t := range traffic {
			used := int64(math.Round(float64(t.Up+t.Down) * 1.25))
			if _, err := upd.ExecContext(ctx, used, used, at.Unix(), t.UserID); err != nil {
				return err
			}
			if _, err := ups.ExecContext(ctx, t.UserID, nodeID, hour, used); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkListUsers100k: one op is the dashboard's users page: 50 active
// users whose username or note contains a term, by usage descending, with
// the total. It reports p50 and p99 latency.
func BenchmarkListUsers100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		seedUsers(b, s, 100_000, 0)
		ctx := context.Background()
		terms := []string{"user_12", "note 5", "user_9999", "zzz", "_3"}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			f := UserFilter{Limit: 50, Search: terms[i%len(terms)], Status: "active", Sort: "-used_traffic"}
			start := time.Now()
			err := s.Read(ctx, func(tx *Tx) error {
				_, _, err := tx.ListUsers(f)
				return err
			})
			lat = append(lat, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportPercentiles(b, lat)
	})
}

// BenchmarkUsersToReview100k: one op is one review pass over 100,000 users.
func BenchmarkUsersToReview100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		seedUsers(b, s, 100_000, 0)
		ctx := context.Background()
		var found int
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			err := s.Read(ctx, func(tx *Tx) error {
				users, err := tx.UsersToReview(seedNow)
				found = len(users)
				return err
			})
			lat = append(lat, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(found), "candidates")
		reportPercentiles(b, lat)
	})
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) time.Duration { return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)] }
	b.ReportMetric(float64(at(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(at(0.99).Microseconds())/1000, "p99-ms")
}

// TestSeedUsersMix keeps the benchmark data honest: seeding must yield the
// mix the benchmarks' comments describe.
func TestSeedUsersMix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		seedUsers(t, s, 2000, 0)
		mustRead(t, s, func(tx *Tx) error {
			counts, err := tx.CountUsersByStatus(nil)
			if err != nil {
				return err
			}
			want := fmt.Sprint(map[string]int{"active": 1600, "disabled": 100, "expired": 100, "limited": 100, "on_hold": 100})
			if got := fmt.Sprint(counts); got != want {
				t.Errorf("status mix %s, want %s", got, want)
			}
			review, err := tx.UsersToReview(seedNow)
			if err != nil {
				return err
			}
			// i%1000 == 7 (past expire) and == 8 (over limit), both active.
			if len(review) != 4 {
				names := []string{}
				for _, u := range review {
					names = append(names, u.Username+"/"+string(u.Status))
				}
				t.Errorf("review candidates %v, want user_7, user_8, user_1007, user_1008", names)
			}
			return nil
		})
	})
}
