package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Issue 13 item 3: the audit log, on both engines.

// newestAudit is the id of the newest audit entry (0: none).
func (e *env) newestAudit() audit.Entry {
	e.t.Helper()
	list, err := e.st.AuditEntries(context.Background(), audit.Filter{Limit: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(list) == 0 {
		return audit.Entry{}
	}
	return list[0]
}

func (e *env) auditCount() int {
	e.t.Helper()
	n := 0
	if err := e.st.EachAuditEntry(context.Background(), audit.Filter{}, func(audit.Entry) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) exportAll(token string) []audit.Entry {
	e.t.Helper()
	r := e.do("GET", "/api/audit/export", token, nil)
	e.expect(r, 200, "export")
	var out []audit.Entry
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var en audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &en); err != nil {
			e.t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, en)
	}
	return out
}

func (e *env) idOf(r *response, what string) int64 {
	e.t.Helper()
	e.expect(r, 200, what)
	var v struct {
		ID int64 `json:"id"`
	}
	r.decode(e.t, &v)
	return v.ID
}

// entryKind is what an audit entry of a route must hold.
type entryKind string

const (
	kindCreate entryKind = "create" // after only
	kindUpdate entryKind = "update" // before and after, the changed fields
	kindDelete entryKind = "delete" // before only
	kindAction entryKind = "action" // stores no row (a restart): the entry alone
)

func emptyJSON(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || s == "{}"
}

// check is why e does not hold what k needs ("" when it does).
func (k entryKind) check(e audit.Entry) string {
	b, a := !emptyJSON(e.Before), !emptyJSON(e.After)
	switch {
	case k == kindCreate && (b || !a):
		return "a creation records after only"
	case k == kindUpdate && (!b || !a):
		return "a change to a stored row records before and after"
	case k == kindDelete && (!b || a):
		return "a deletion records before only"
	}
	return ""
}

// walkSecrets gathers every secret a walk handled, with what the panel
// stores of it, to look for in the log.
type walkSecrets struct{ list []string }

func (w *walkSecrets) add(secrets ...string) {
	for _, s := range secrets {
		if s != "" {
			w.list = append(w.list, s)
		}
	}
}

// from adds the node token or API key a response returned.
func (w *walkSecrets) from(r *response) {
	if r == nil {
		return
	}
	var v struct {
		Token string `json:"token"`
		Key   string `json:"key"`
	}
	if json.Unmarshal(r.body, &v) != nil {
		return
	}
	if v.Token != "" {
		w.add(v.Token, state.HashToken(v.Token))
	}
	if v.Key != "" {
		w.add(v.Key, auth.HashAPIKey(v.Key))
	}
}

// seen is from that passes r on.
func (w *walkSecrets) seen(r *response) *response { w.from(r); return r }

// TestEveryMutatingRouteIsAudited walks the route table: every POST, PUT,
// PATCH and DELETE an admin or sudo may call, but the allowlist of routes
// that save nothing, is called successfully and must leave an entry naming
// its caller with the fields its kind needs (before and after for a change
// to a stored row) and no secret of the walk; the allowlisted ones must
// leave none.
func TestEveryMutatingRouteIsAudited(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			sudo, alice := e.token(e.sudo), e.token(e.alice)
			for _, name := range []string{"walk_a", "walk_b", "walk_c", "walk_d", "walk_e", "walk_next"} {
				e.createUser(e.alice, name)
			}
			e.createAdmin("carol", false)
			carol := e.accessToken(e.loginOTP("carol", testPassword, ""))
			e.accessToken(e.loginOTP("carol", testPassword, ""))
			secrets := &walkSecrets{}
			node := func(name string) int64 {
				r := e.do("POST", "/api/node", sudo, map[string]any{"name": name, "address": "192.0.2.9"})
				secrets.from(r)
				return e.idOf(r, "node "+name)
			}
			totpSecret := ""
			totpCode := func() string {
				e.clock.Advance(auth.TOTPPeriod)
				c, err := auth.TOTPCode(totpSecret, e.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			enroll := func(tok string) *response {
				r := e.do("POST", "/api/admin/totp/enroll", tok, nil)
				var en struct {
					Secret string `json:"secret"`
				}
				r.decode(t, &en)
				totpSecret = en.Secret
				secrets.add(en.Secret)
				return r
			}
			type call func() *response
			// kind says what the entry must hold: a creation after only, a
			// deletion before only, a change to a stored row both (the
			// changed fields), an action that stores nothing (a restart)
			// just its entry. A new route needs a case here with its kind.
			cases := []struct {
				key  string
				kind entryKind
				call call
			}{
				{"POST /api/node", kindCreate, func() *response {
					return e.do("POST", "/api/node", sudo, map[string]any{"name": "walk-node", "address": "192.0.2.1"})
				}},
				{"PUT /api/node/:id", kindUpdate, func() *response {
					return e.do("PUT", fmt.Sprintf("/api/node/%d", node("n-put")), sudo, map[string]any{"name": "n-put2"})
				}},
				{"DELETE /api/node/:id", kindDelete, func() *response { return e.do("DELETE", fmt.Sprintf("/api/node/%d", node("n-del")), sudo, nil) }},
				{"POST /api/node/:id/token", kindUpdate, func() *response { return e.do("POST", fmt.Sprintf("/api/node/%d/token", node("n-tok")), sudo, nil) }},
				{"POST /api/node/:id/reconnect", kindAction, func() *response {
					return e.do("POST", fmt.Sprintf("/api/node/%d/reconnect", node("n-rec")), sudo, nil)
				}},
				{"POST /api/node/:id/restart", kindAction, func() *response {
					id := node("n-rst")
					e.hub.mu.Lock()
					e.hub.connected[id] = true
					e.hub.mu.Unlock()
					return e.do("POST", fmt.Sprintf("/api/node/%d/restart", id), sudo, nil)
				}},
				{"POST /api/admin/totp/enroll", kindUpdate, func() *response { return enroll(alice) }},
				{"POST /api/admin/totp/confirm", kindUpdate, func() *response {
					return e.do("POST", "/api/admin/totp/confirm", alice, map[string]any{"code": totpCode()})
				}},
				{"POST /api/admin/totp/disable", kindUpdate, func() *response {
					return e.do("POST", "/api/admin/totp/disable", alice, map[string]any{"code": totpCode()})
				}},
				{"POST /api/admin/:username/totp/reset", kindUpdate, func() *response {
					enroll(alice)
					e.expect(e.do("POST", "/api/admin/totp/confirm", alice, map[string]any{"code": totpCode()}), 200, "confirm again")
					return e.do("POST", "/api/admin/alice/totp/reset", sudo, nil)
				}},
				{"POST /api/admin/keys", kindCreate, func() *response {
					return e.do("POST", "/api/admin/keys", alice, map[string]any{"name": "walk", "scopes": []string{"read"}})
				}},
				{"DELETE /api/admin/keys/:id", kindDelete, func() *response {
					id := e.idOf(secrets.seen(e.do("POST", "/api/admin/keys", alice, map[string]any{"name": "gone", "scopes": []string{"read"}})), "key")
					return e.do("DELETE", fmt.Sprintf("/api/admin/keys/%d", id), alice, nil)
				}},
				{"DELETE /api/admin/sessions/:id", kindDelete, func() *response {
					var list []model.AdminSession
					e.do("GET", "/api/admin/sessions", carol, nil).decode(t, &list)
					for _, s := range list {
						if !s.Current {
							return e.do("DELETE", fmt.Sprintf("/api/admin/sessions/%d", s.ID), carol, nil)
						}
					}
					t.Fatalf("no other session of carol: %+v", list)
					return nil
				}},
				{"POST /api/admin", kindCreate, func() *response {
					return e.do("POST", "/api/admin", sudo, map[string]any{"username": "walker", "password": "secret123", "is_sudo": false})
				}},
				{"POST /api/admin/usage/reset/:username", kindUpdate, func() *response { return e.do("POST", "/api/admin/usage/reset/alice", sudo, nil) }},
				{"PUT /api/admin/:username", kindUpdate, func() *response {
					return e.do("PUT", "/api/admin/bob", sudo, map[string]any{"password": "another123", "telegram_id": 5})
				}},
				{"DELETE /api/admin/:username", kindDelete, func() *response { return e.do("DELETE", "/api/admin/walker", sudo, nil) }},
				{"POST /api/admin/:username/users/disable", kindUpdate, func() *response { return e.do("POST", "/api/admin/alice/users/disable", sudo, nil) }},
				{"POST /api/admin/:username/users/activate", kindUpdate, func() *response { return e.do("POST", "/api/admin/alice/users/activate", sudo, nil) }},
				{"POST /api/user", kindCreate, func() *response {
					return e.do("POST", "/api/user", alice, map[string]any{"username": "walk_new", "proxies": map[string]any{"vless": map[string]any{}}})
				}},
				{"PUT /api/user/:username", kindUpdate, func() *response { return e.do("PUT", "/api/user/walk_a", alice, map[string]any{"note": "edited"}) }},
				{"DELETE /api/user/:username", kindDelete, func() *response { return e.do("DELETE", "/api/user/walk_b", alice, nil) }},
				{"POST /api/user/:username/reset", kindUpdate, func() *response { return e.do("POST", "/api/user/walk_c/reset", alice, nil) }},
				{"POST /api/user/:username/revoke_sub", kindUpdate, func() *response { return e.do("POST", "/api/user/walk_c/revoke_sub", alice, nil) }},
				{"POST /api/user/:username/active-next", kindUpdate, func() *response {
					e.expect(e.do("PUT", "/api/user/walk_next", alice, map[string]any{
						"next_plan": map[string]any{"data_limit": 5000, "expire": 86400}}), 200, "set next plan")
					return e.do("POST", "/api/user/walk_next/active-next", alice, nil)
				}},
				{"PUT /api/user/:username/devices/:id", kindUpdate, func() *response {
					return e.do("PUT", fmt.Sprintf("/api/user/walk_a/devices/%d", e.deviceOf("walk_a", "walk-hwid-1")), alice, map[string]any{"name": "phone"})
				}},
				{"DELETE /api/user/:username/devices/:id", kindDelete, func() *response {
					return e.do("DELETE", fmt.Sprintf("/api/user/walk_a/devices/%d", e.deviceOf("walk_a", "walk-hwid-2")), alice, nil)
				}},
				{"PUT /api/user/:username/set-owner", kindUpdate, func() *response {
					return e.do("PUT", "/api/user/walk_d/set-owner?admin_username=bob", sudo, nil)
				}},
				{"POST /api/users/reset", kindUpdate, func() *response { return e.do("POST", "/api/users/reset", sudo, nil) }},
				{"DELETE /api/users/expired", kindDelete, func() *response {
					e.expect(e.do("PUT", "/api/user/walk_e", alice, map[string]any{"expire": e.clock.Now().Add(time.Minute).Unix()}), 200, "expire soon")
					e.clock.Advance(time.Hour)
					if _, err := e.st.Review(context.Background()); err != nil {
						t.Fatal(err)
					}
					alice, sudo = e.token(e.alice), e.token(e.sudo) // the old one expired with the hour
					return e.do("DELETE", "/api/users/expired", alice, nil)
				}},
				{"POST /api/users/bulk", kindUpdate, func() *response {
					return e.do("POST", "/api/users/bulk", alice, map[string]any{"action": "disable", "usernames": []string{"walk_a", "walk_c"}})
				}},
				{"PUT /api/core/config", kindUpdate, func() *response { return e.do("PUT", "/api/core/config", sudo, withTrojanPort(t, e, sudo, 21001)) }},
				{"POST /api/core/restart", kindAction, func() *response { return e.do("POST", "/api/core/restart", sudo, nil) }},
				{"POST /api/core/config/history/:id/restore", kindUpdate, func() *response {
					var h []struct {
						ID int64 `json:"id"`
					}
					e.do("GET", "/api/core/config/history", sudo, nil).decode(t, &h)
					return e.do("POST", fmt.Sprintf("/api/core/config/history/%d/restore", h[len(h)-1].ID), sudo, nil)
				}},
				{"PUT /api/hosts", kindUpdate, func() *response {
					return e.do("PUT", "/api/hosts", sudo, `{"VLESS TCP":[{"remark":"{USERNAME}","address":"a.example","port":443}]}`)
				}},
				{"PUT /api/alerts/settings", kindUpdate, func() *response {
					return e.do("PUT", "/api/alerts/settings", sudo, map[string]any{"node_offline_seconds": 120})
				}},
				{"PUT /api/subscription/settings", kindUpdate, func() *response {
					return e.do("PUT", "/api/subscription/settings", sudo, map[string]any{"profile_update_interval": 12, "profile_title": "t"})
				}},
				{"PUT /api/users/ip_limit", kindUpdate, func() *response {
					return e.do("PUT", "/api/users/ip_limit", sudo, map[string]any{"default_ip_limit": 3, "action": "disable"})
				}},
				{"POST /api/user_template", kindCreate, func() *response {
					return e.do("POST", "/api/user_template", sudo, map[string]any{"name": "walk_t", "data_limit": 1, "expire_duration": 60})
				}},
				{"PUT /api/user_template/:id", kindUpdate, func() *response {
					id := e.idOf(e.do("POST", "/api/user_template", sudo, map[string]any{"name": "walk_t2"}), "template")
					return e.do("PUT", fmt.Sprintf("/api/user_template/%d", id), sudo, map[string]any{"name": "walk_t3"})
				}},
				{"DELETE /api/user_template/:id", kindDelete, func() *response {
					id := e.idOf(e.do("POST", "/api/user_template", sudo, map[string]any{"name": "walk_t4"}), "template")
					return e.do("DELETE", fmt.Sprintf("/api/user_template/%d", id), sudo, nil)
				}},
				{"POST /api/system/backup", kindAction, func() *response {
					return e.do("POST", "/api/system/backup", sudo, map[string]any{"passphrase": "walk passphrase"})
				}},
				{"POST /api/system/backups/run", kindAction, func() *response { return e.do("POST", "/api/system/backups/run", sudo, nil) }},
				// Last: it ends carol's sessions.
				{"POST /api/admin/password", kindUpdate, func() *response {
					return e.do("POST", "/api/admin/password", carol, map[string]any{"current_password": testPassword, "new_password": "new password 1"})
				}},
			}
			exempt := api.AuditExempt()
			covered := map[string]bool{}
			for _, c := range cases {
				covered[c.key] = true
			}
			for _, r := range api.RouteScopes() {
				if r.Method == "GET" || (r.Auth != "admin" && r.Auth != "sudo") || exempt[r.Key] != "" {
					continue
				}
				if !covered[r.Key] {
					t.Errorf("mutating route %s has no case here: add one (or an exemption with a reason in api/audit.go)", r.Key)
				}
			}
			for _, c := range cases {
				method, path, _ := strings.Cut(c.key, " ")
				before := e.newestAudit().ID
				r := c.call()
				if r.status != 200 {
					t.Fatalf("%s: status %d: %s", c.key, r.status, r.body)
				}
				secrets.from(r)
				got := e.newestAudit()
				if got.ID == before {
					t.Errorf("%s wrote no audit entry", c.key)
					continue
				}
				if msg := c.kind.check(got); msg != "" {
					t.Errorf("%s (%s): %s: before %s after %s", c.key, c.kind, msg, got.Before, got.After)
				}
				if got.Target == "" {
					t.Errorf("%s: entry without a target", c.key)
				}
				if got.ActorKind != audit.KindAdmin || got.ActorName == "" || got.IP == "" {
					t.Errorf("%s: entry without its actor: %+v", c.key, got)
				}
				if !strings.HasPrefix(got.Action, method) || !strings.Contains(got.Action, strings.Split(strings.TrimPrefix(path, "/api/"), "/")[0]) {
					t.Errorf("%s: entry action %q", c.key, got.Action)
				}
			}
			// No secret of the walk reached any entry: passwords sent, node
			// tokens and API keys returned, TOTP secrets, and what is stored
			// of them (bcrypt and SHA-256 hashes).
			secrets.add(testPassword, "secret123", "another123", "new password 1", totpSecret)
			export := e.do("GET", "/api/audit/export", sudo, nil)
			e.expect(export, 200, "export")
			for _, sec := range secrets.list {
				if bytes.Contains(export.body, []byte(sec)) {
					t.Errorf("secret %q reached the audit log", sec)
				}
			}
			if bytes.Contains(export.body, []byte(`"$2a$`)) {
				t.Errorf("a password hash reached the audit log")
			}
			// The routes that save nothing leave nothing.
			n := e.auditCount()
			e.expect(e.do("POST", "/api/core/config/check", sudo, withTrojanPort(t, e, sudo, 21002)), 200, "config check")
			e.expect(e.do("POST", "/api/hosts/preview", sudo, map[string]any{"hosts": map[string]any{}}), 200, "hosts preview")
			if got := e.auditCount(); got != n {
				t.Errorf("read-only POSTs wrote %d entries", got-n)
			}
		})
	}
}

// TestAuditMasksRefusalsAndScopes: secrets never reach an entry, a refused
// request writes nothing, a reseller sees only its own, the export is JSON
// lines, and retention prunes.
func TestAuditMasksRefusalsAndScopes(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			sudo, alice, bob := e.token(e.sudo), e.token(e.alice), e.token(e.bob)

			// Masked: the new admin's password, in any entry.
			e.expect(e.do("POST", "/api/admin", sudo, map[string]any{"username": "masked", "password": "hunter2secret", "is_sudo": false}), 200, "create admin")
			key := e.createKey(alice, "masked-key", []string{"users"}, 0)
			all := e.do("GET", "/api/audit/export", sudo, nil)
			e.expect(all, 200, "export")
			if bytes.Contains(all.body, []byte("hunter2secret")) || bytes.Contains(all.body, []byte(key)) {
				t.Fatalf("a secret reached the audit log: %s", all.body)
			}
			if !bytes.Contains(all.body, []byte(`"password":"***"`)) {
				t.Fatalf("password not masked: %s", all.body)
			}
			if ct := all.header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("export content type %q", ct)
			}

			// Refused: nothing written, nothing changed.
			n := e.auditCount()
			e.expect(e.do("POST", "/api/admin", sudo, map[string]any{"username": "masked", "password": "hunter2secret"}), 409, "taken name")
			e.expect(e.do("PUT", "/api/user/nobody", alice, map[string]any{"note": "x"}), 404, "unknown user")
			e.expect(e.do("POST", "/api/node", alice, map[string]any{"name": "x"}), 403, "reseller node")
			e.expect(e.do("POST", "/api/user", alice, `{"username":`), 422, "malformed")
			if got := e.auditCount(); got != n {
				t.Fatalf("refused requests wrote %d entries", got-n)
			}

			// Through an API key: the key is named.
			e.createUser(e.alice, "al_user")
			e.expect(e.do("PUT", "/api/user/al_user", key, map[string]any{"note": "by key"}), 200, "key edit")
			got := e.newestAudit()
			if got.ActorKind != audit.KindKey || got.KeyName != "masked-key" || got.ActorName != "alice" {
				t.Fatalf("key entry %+v", got)
			}
			// Before and after: only the changed fields.
			if string(got.Before) != `{"note":""}` || string(got.After) != `{"note":"by key"}` {
				t.Fatalf("diff before %s after %s", got.Before, got.After)
			}
			e.createUser(e.bob, "bo_user")
			var created audit.Entry
			for _, en := range e.exportAll(sudo) {
				if en.Target == "/api/user/bo_user" {
					created = en
					break
				}
			}
			if created.After == nil || bytes.Contains(created.After, []byte(`"id":"`)) && !bytes.Contains(created.After, []byte(`"id":"***"`)) {
				t.Fatalf("created user's credentials not masked: %s", created.After)
			}
			// Sudo's change to bob's user is bob's to see.
			e.expect(e.do("PUT", "/api/user/bo_user", sudo, map[string]any{"note": "by sudo"}), 200, "sudo edits bob's user")

			// Scoped: bob sees only his own; sudo sees all.
			type page struct {
				Entries []struct {
					ActorName string          `json:"actor_name"`
					Target    string          `json:"target"`
					Before    json.RawMessage `json:"before"`
					After     json.RawMessage `json:"after"`
				} `json:"entries"`
				Next *int64 `json:"next"`
			}
			var p page
			r := e.do("GET", "/api/audit", bob, nil)
			e.expect(r, 200, "bob's audit")
			r.decode(t, &p)
			if len(p.Entries) == 0 {
				t.Fatal("bob sees no entry of his own")
			}
			sawSudo := false
			for _, en := range p.Entries {
				if en.ActorName != "bob" && en.Target != "/api/user/bo_user" {
					t.Fatalf("bob sees %+v", en)
				}
				sawSudo = sawSudo || en.ActorName == e.sudo.Username
			}
			if !sawSudo {
				t.Fatalf("bob does not see sudo's change to his user: %+v", p.Entries)
			}
			lines := bytes.Split(bytes.TrimSpace(e.do("GET", "/api/audit/export", bob, nil).body), []byte("\n"))
			if len(lines) != len(p.Entries) {
				t.Fatalf("bob's export has %d lines, page %d", len(lines), len(p.Entries))
			}
			// Export lines are JSON objects, one per entry.
			sc := bufio.NewScanner(bytes.NewReader(all.body))
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["action"] == nil {
					t.Fatalf("export line %q: %v", sc.Text(), err)
				}
			}

			// Keyset pages, newest first, and filters.
			var first, second page
			e.do("GET", "/api/audit?limit=2", sudo, nil).decode(t, &first)
			if len(first.Entries) != 2 || first.Next == nil {
				t.Fatalf("first page %+v", first)
			}
			e.do("GET", fmt.Sprintf("/api/audit?limit=2&before=%d", *first.Next), sudo, nil).decode(t, &second)
			if len(second.Entries) == 0 || second.Entries[0].Target == "" {
				t.Fatalf("second page %+v", second)
			}
			var byTarget page
			e.do("GET", "/api/audit?target=/api/user/al_*", sudo, nil).decode(t, &byTarget)
			// Created, then edited by the key: newest first.
			if len(byTarget.Entries) != 2 || byTarget.Entries[0].Target != "/api/user/al_user" || string(byTarget.Entries[1].Before) != "null" {
				t.Fatalf("target filter %+v", byTarget)
			}
			var byAdmin page
			e.do("GET", "/api/audit?admin=bob", sudo, nil).decode(t, &byAdmin)
			if len(byAdmin.Entries) == 0 {
				t.Fatal("admin filter found nothing")
			}
			for _, q := range []string{"limit=0", "limit=5000", "before=x", "since=yesterday", "since=2026-11-27T00:00:00Z&until=2026-11-26T00:00:00Z"} {
				e.expect(e.do("GET", "/api/audit?"+q, sudo, nil), 400, q)
			}

			// Retention: entries older than it go, in batches.
			e.clock.Advance(91 * 24 * time.Hour)
			if _, err := e.st.PruneAudit(context.Background(), 90*24*time.Hour); err != nil {
				t.Fatal(err)
			}
			if got := e.auditCount(); got != 0 {
				t.Fatalf("%d entries survived the retention", got)
			}
		})
	}
}

// A bulk action is one entry: the count and the usernames, bounded.
func TestAuditBulkIsOneEntry(t *testing.T) {
	e := newEnv(t)
	names := make([]string, 0, audit.MaxNames+5)
	for i := range audit.MaxNames + 5 {
		names = append(names, fmt.Sprintf("bulk_%02d", i))
	}
	for _, n := range names {
		e.createUser(e.alice, n)
	}
	n := e.auditCount()
	e.expect(e.do("POST", "/api/users/bulk", e.token(e.alice), map[string]any{"action": "disable", "usernames": names}), 200, "bulk disable")
	if got := e.auditCount(); got != n+1 {
		t.Fatalf("bulk wrote %d entries", got-n)
	}
	var after struct {
		Count     int      `json:"count"`
		Usernames []string `json:"usernames"`
		Truncated bool     `json:"truncated"`
		Changed   int      `json:"changed"`
	}
	en := e.newestAudit()
	if err := json.Unmarshal(en.After, &after); err != nil {
		t.Fatal(err)
	}
	if after.Count != len(names) || len(after.Usernames) != audit.MaxNames || !after.Truncated || after.Changed != len(names) || *en.OwnerID != e.alice.ID {
		t.Fatalf("bulk entry %+v: %s", en, en.After)
	}
}
