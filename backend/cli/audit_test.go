package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/state"
)

// A change made with the CLI is logged as the CLI's, its password masked
// away; a command that only reads logs nothing.
func TestCLIChangesAreAudited(t *testing.T) {
	p := newPanelDir(t)
	p.run("", nil, "admin", "create", "audited", "--password", "audit-secret-1").must(t, 0, "create")
	p.run("", nil, "admin", "list").must(t, 0, "list")
	p.withState(func(st *state.State) {
		var got []audit.Entry
		if err := st.EachAuditEntry(context.Background(), audit.Filter{}, func(e audit.Entry) error {
			got = append(got, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("entries %+v", got)
		}
		e := got[0]
		if e.ActorKind != audit.KindCLI || e.ActorName != "cli" || e.Action != "cli admin create" || e.Target != "audited" {
			t.Fatalf("entry %+v", e)
		}
		if strings.Contains(string(e.After)+string(e.Before), "audit-secret-1") {
			t.Fatalf("password in the entry: %s", e.After)
		}
	})
}
