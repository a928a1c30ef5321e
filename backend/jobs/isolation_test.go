package jobs_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// rawDB opens a second connection to the panel's database, for planting rows
// the API would refuse.
func rawDB(t *testing.T, url, dir string) *sql.DB {
	t.Helper()
	var (
		db  *sql.DB
		err error
	)
	if url != "" {
		db, err = sql.Open("pgx", url)
	} else {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "outpost.db")+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, _ string, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestReviewIsolatesBadRows plants rows the API refuses (an on-hold user
// whose duration overflows expire, a next plan of 2^63-1, an expire far
// beyond year 9999) and a row whose update the database itself refuses (a
// trigger), then checks that every review tick still expires and limits
// everyone else, tick after tick, and leaves the bad rows as they were.
func TestReviewIsolatesBadRows(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.url(t)
			p := newPanel(t, url, dir)
			raw := rawDB(t, url, dir)
			now := p.clock.Now()
			const gb = int64(1) << 30

			p.create(state.UserInput{Username: ptr("expiring"), Expire: ptr(now.Add(time.Hour).Unix())})
			limited := p.create(state.UserInput{Username: ptr("limited"), DataLimit: ptr(gb)})
			poison := p.create(state.UserInput{Username: ptr("poison")})
			plan := p.create(state.UserInput{Username: ptr("bigplan"), DataLimit: ptr(gb)})
			far := p.create(state.UserInput{Username: ptr("far"), DataLimit: ptr(gb)})
			p.create(state.UserInput{Username: ptr("victim"), Expire: ptr(now.Add(time.Hour).Unix())})

			// The request, as it would be stored without validation.
			mustExec(t, raw, url, `UPDATE users SET status = 'on_hold', on_hold_expire_duration = 9223372036854775807,
				on_hold_timeout = $1 WHERE id = $2`, now.Add(-24*time.Hour).Unix(), poison.ID)
			mustExec(t, raw, url, `UPDATE users SET next_plan = $1 WHERE id = $2`,
				`{"data_limit":9223372036854775807,"expire":9223372036854775807,"add_remaining_traffic":true,"fire_on_either":true}`, plan.ID)
			mustExec(t, raw, url, `UPDATE users SET expire = $1 WHERE id = $2`, int64(1)<<62, far.ID)
			// A row the database refuses to update, whatever the values.
			if url == "" {
				mustExec(t, raw, url, `CREATE TRIGGER planted_failure BEFORE UPDATE ON users WHEN OLD.username = 'victim'
					BEGIN SELECT RAISE(ABORT, 'planted failure'); END`)
			} else {
				mustExec(t, raw, url, `CREATE FUNCTION planted_failure() RETURNS trigger LANGUAGE plpgsql AS
					$$ BEGIN RAISE EXCEPTION 'planted failure'; END $$`)
				mustExec(t, raw, url, `CREATE TRIGGER planted_failure BEFORE UPDATE ON users FOR EACH ROW
					WHEN (OLD.username = 'victim') EXECUTE FUNCTION planted_failure()`)
			}
			p.use(limited, 2*gb)
			p.use(plan, 2*gb)
			p.use(far, 2*gb)

			p.advance(2 * time.Hour)
			if got := p.user("expiring").Status; got != model.StatusExpired {
				t.Fatalf("expiring: status %s after its expiry, want expired", got)
			}
			if got := p.user("limited").Status; got != model.StatusLimited {
				t.Fatalf("limited: status %s over its limit, want limited", got)
			}
			if u := p.user("poison"); u.Status != model.StatusOnHold || u.Expire != 0 {
				t.Fatalf("poison: status %s expire %d, want left on_hold with no expire", u.Status, u.Expire)
			}
			if u := p.user("bigplan"); u.NextPlan == nil || u.Expire < 0 || u.DataLimit != gb {
				t.Fatalf("bigplan: plan %+v expire %d limit %d, want the plan left unapplied", u.NextPlan, u.Expire, u.DataLimit)
			}
			if got := p.user("victim").Status; got != model.StatusActive {
				t.Fatalf("victim: status %s, want active (its update always fails)", got)
			}

			// The job keeps working on the next ticks.
			later := p.create(state.UserInput{Username: ptr("later"), Expire: ptr(p.clock.Now().Add(time.Minute).Unix())})
			p.advance(time.Hour)
			if got := p.user(later.Username).Status; got != model.StatusExpired {
				t.Fatalf("later: status %s on the next tick, want expired", got)
			}
			// Once the bad row is fixed, it is processed like any other.
			if url == "" {
				mustExec(t, raw, url, `DROP TRIGGER planted_failure`)
			} else {
				mustExec(t, raw, url, `DROP TRIGGER planted_failure ON users`)
			}
			mustExec(t, raw, url, `UPDATE users SET on_hold_expire_duration = 3600 WHERE id = $1`, poison.ID)
			p.advance(time.Hour)
			if got := p.user("victim").Status; got != model.StatusExpired {
				t.Fatalf("victim: status %s once updatable, want expired", got)
			}
			if u := p.user("poison"); u.Status != model.StatusActive || u.Expire <= 0 {
				t.Fatalf("poison: status %s expire %d once fixed, want active with its clock started", u.Status, u.Expire)
			}
			// Auto-delete: a rule of 2^63-1 days overflowed the due date
			// and failed the query on PostgreSQL, for everyone.
			gone := p.create(state.UserInput{Username: ptr("gone"), Expire: ptr(p.clock.Now().Add(time.Minute).Unix()),
				AutoDeleteInDays: ptr(int64(0))})
			kept := p.create(state.UserInput{Username: ptr("kept"), Expire: ptr(p.clock.Now().Add(time.Minute).Unix())})
			p.advance(time.Hour)
			mustExec(t, raw, url, `UPDATE users SET auto_delete_in_days = 9223372036854775807 WHERE id = $1`, kept.ID)
			p.advance(jobs.AutoDeleteEvery)
			if _, err := p.st.User(p.ctx, nil, gone.Username); !errors.Is(err, model.ErrNotFound) {
				t.Fatalf("gone: %v after its auto-delete, want not found", err)
			}
			if got := p.user(kept.Username).Status; got != model.StatusExpired {
				t.Fatalf("kept: status %s, want expired and kept", got)
			}

			var bad int
			if err := raw.QueryRow(`SELECT COUNT(*) FROM users WHERE expire < 0 OR data_limit < 0`).Scan(&bad); err != nil {
				t.Fatal(err)
			}
			if bad != 0 {
				t.Fatalf("%d users with a negative expire or data limit", bad)
			}
		})
	}
}
