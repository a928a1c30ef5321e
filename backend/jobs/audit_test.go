package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/state"
)

// A job runs as itself: its changes are logged under its name, and only
// those that take a revision get an automatic entry.
func TestJobsRunAsThemselves(t *testing.T) {
	clk := jobs.NewFake(time.Unix(1_800_000_000, 0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan audit.Actor, 1)
	var op *audit.Operation
	s, err := jobs.New(jobs.Options{Clock: clk, Locker: coord.NewMemory(clk.Now), Owner: "me"},
		jobs.Job{Name: "tidy", Every: time.Hour, Run: func(ctx context.Context) error {
			a, _ := audit.ActorFrom(ctx)
			op = audit.OperationFrom(ctx)
			seen <- a
			cancel()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	go s.Run(ctx)
	select {
	case a := <-seen:
		if a.Kind != audit.KindJob || a.Name != "tidy" || op == nil || op.Action != "job tidy" || !op.RevisionsOnly {
			t.Fatalf("actor %+v, operation %+v", a, op)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job never ran")
	}
}

// The lifecycle jobs' changes are logged as the jobs': the review's expiry
// with how many users of each status before and after, the auto-delete
// with what it deleted (before only).
func TestJobChangesAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		p.create(state.UserInput{Username: ptr("goner"), Expire: ptr(p.clock.Now().Add(time.Minute).Unix()),
			AutoDeleteInDays: ptr(int64(1))})
		p.advance(time.Minute)
		p.advance(25 * time.Hour)
		if _, err := p.st.User(p.ctx, nil, "goner"); err == nil {
			t.Fatal("goner survived its auto_delete_in_days")
		}
		byAction := map[string]audit.Entry{}
		if err := p.st.EachAuditEntry(p.ctx, audit.Filter{}, func(e audit.Entry) error {
			if e.ActorKind == audit.KindJob {
				byAction[e.Action] = e
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		review, ok := byAction["job review"]
		if !ok || review.ActorName != "review" {
			t.Fatalf("no review entry: %+v", byAction)
		}
		if string(review.Before) != `{"status":{"active":1}}` || !strings.Contains(string(review.After), `"status":{"expired":1}`) ||
			!strings.Contains(string(review.After), `"usernames":["goner"]`) {
			t.Errorf("review entry before %s after %s", review.Before, review.After)
		}
		del, ok := byAction["job auto-delete"]
		if !ok || del.ActorName != "auto-delete" || del.After != nil || !strings.Contains(string(del.Before), `"usernames":["goner"]`) {
			t.Errorf("auto-delete entry %+v: before %s after %s", del, del.Before, del.After)
		}
	})
}
