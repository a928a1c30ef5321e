package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/auth"
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
		if e.ActorKind != audit.KindCLI || e.ActorName != "cli" || e.Action != "cli admin create" || e.Target != "/api/admin/audited" {
			t.Fatalf("entry %+v", e)
		}
		if strings.Contains(string(e.After)+string(e.Before), "audit-secret-1") {
			t.Fatalf("password in the entry: %s", e.After)
		}
	})

	// A change is recorded before and after, the password only as masked;
	// an API key made with the CLI is the CLI's, its key nowhere.
	p.run("", nil, "admin", "update", "audited", "--reset-password", "--password", "audit-secret-2", "--sudo").must(t, 0, "update")
	key := strings.TrimSpace(p.run("", nil, "apikey", "create", "audited", "--name", "cli-key", "--scopes", "read").must(t, 0, "apikey").stdout)
	p.run("", nil, "admin", "delete", "audited").must(t, 0, "delete")
	p.withState(func(st *state.State) {
		byAction := map[string]audit.Entry{}
		var all strings.Builder
		if err := st.EachAuditEntry(context.Background(), audit.Filter{}, func(e audit.Entry) error {
			byAction[e.Action] = e
			fmt.Fprintf(&all, "%s %s %s\n", e.Action, e.Before, e.After)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"audit-secret-1", "audit-secret-2", key, auth.HashAPIKey(key), "$2a$"} {
			if strings.Contains(all.String(), secret) {
				t.Fatalf("secret %q in the log:\n%s", secret, all.String())
			}
		}
		for action, want := range map[string]struct{ before, after string }{
			"cli admin update":  {`{"is_sudo":false,"password":"***","password_reset_at":null}`, ""},
			"cli apikey create": {"", ""},
			"cli admin delete":  {"", ""},
		} {
			e, ok := byAction[action]
			if !ok || e.ActorKind != audit.KindCLI || e.ActorName != "cli" || e.Target == "" {
				t.Fatalf("%s: entry %+v", action, e)
			}
			if want.before != "" && string(e.Before) != want.before {
				t.Errorf("%s: before %s, want %s", action, e.Before, want.before)
			}
		}
		if e := byAction["cli admin update"]; !strings.Contains(string(e.After), `"is_sudo":true`) || !strings.Contains(string(e.After), `"password":"***"`) {
			t.Errorf("update after %s", e.After)
		}
		if e := byAction["cli apikey create"]; e.Before != nil || !strings.Contains(string(e.After), `"name":"cli-key"`) {
			t.Errorf("apikey create: before %s after %s", e.Before, e.After)
		}
		if e := byAction["cli admin delete"]; e.After != nil || !strings.Contains(string(e.Before), `"username":"audited"`) {
			t.Errorf("delete: before %s after %s", e.Before, e.After)
		}
	})
}
