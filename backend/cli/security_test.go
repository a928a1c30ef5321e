package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

func TestAPIKeyCreateAndReset2FA(t *testing.T) {
	p := newPanelDir(t)
	if r := p.run("", nil, "admin", "create", "shop", "--password", "secret-pw"); r.code != ExitOK {
		t.Fatalf("admin create: %+v", r)
	}
	r := p.run("", nil, "apikey", "create", "shop", "--name", "bot", "--scopes", "users,read")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "op_") {
		t.Fatalf("apikey create: %+v", r)
	}
	key := strings.TrimSpace(r.stdout)
	if r := p.run("", nil, "apikey", "create", "shop", "--name", "x", "--scopes", "admins"); r.code == ExitOK || !strings.Contains(r.stderr, "sudo") {
		t.Fatalf("admins scope for a regular admin: %+v", r)
	}
	var shopID int64
	p.withState(func(st *state.State) {
		k, owner, err := st.APIKeyByHash(context.Background(), auth.HashAPIKey(key))
		if err != nil || owner.Username != "shop" || !k.HasScope(model.ScopeUsers) || k.Name != "bot" {
			t.Fatalf("stored key %+v %+v %v", k, owner, err)
		}
		shopID = owner.ID
		if err := st.StartTOTP(context.Background(), shopID, "v1:x"); err != nil {
			t.Fatal(err)
		}
	})
	if r := p.run("", nil, "admin", "reset-2fa", "shop"); r.code != ExitOK {
		t.Fatalf("reset-2fa: %+v", r)
	}
	p.withState(func(st *state.State) {
		if _, _, err := st.TOTP(context.Background(), shopID); err == nil {
			t.Fatal("second factor still there after reset-2fa")
		}
	})
	if r := p.run("", nil, "admin", "reset-2fa", "nobody"); r.code != ExitError {
		t.Fatalf("reset-2fa of an unknown admin: %+v", r)
	}
}
