package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/jobs"
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
