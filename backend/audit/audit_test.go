package audit

import "testing"

// Diff keeps the changed top-level fields, masked after the comparison: a
// changed secret is listed on both sides as Masked, an unchanged one not at
// all, and a creation or deletion keeps its one side whole.
func TestDiff(t *testing.T) {
	for _, c := range []struct {
		name                  string
		before, after         any
		wantBefore, wantAfter string
	}{
		{"changed field", map[string]any{"name": "a", "port": 1}, map[string]any{"name": "b", "port": 1}, `{"name":"a"}`, `{"name":"b"}`},
		{"changed secret", map[string]any{"password": "old-pw", "x": 1}, map[string]any{"password": "new-pw", "x": 1}, `{"password":"***"}`, `{"password":"***"}`},
		{"unchanged secret", map[string]any{"token_hash": "h", "x": 1}, map[string]any{"token_hash": "h", "x": 2}, `{"x":1}`, `{"x":2}`},
		{"nested secret", map[string]any{"cfg": map[string]any{"privateKey": "k1"}}, map[string]any{"cfg": map[string]any{"privateKey": "k2"}},
			`{"cfg":{"privateKey":"***"}}`, `{"cfg":{"privateKey":"***"}}`},
		{"creation", nil, map[string]any{"secret": "s", "n": 1}, "", `{"n":1,"secret":"***"}`},
		{"deletion", map[string]any{"key_hash": "s"}, (map[string]any)(nil), `{"key_hash":"***"}`, ""},
	} {
		b, a := Diff(c.before, c.after)
		if string(b) != c.wantBefore || string(a) != c.wantAfter {
			t.Errorf("%s: before %s after %s, want %s and %s", c.name, b, a, c.wantBefore, c.wantAfter)
		}
	}
}

func TestIsSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "hashed_password": true, "token_hash": true, "totp_secret": true, "key_hash": true,
		"privateKey": true, "discord_webhook": true, "passphrase": true, "backup_passphrase": true,
		"name": false, "address": false, "users_usage": false, "scopes": false,
	} {
		if got := IsSecret(name); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", name, got, want)
		}
	}
}
