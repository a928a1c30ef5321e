package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Issue 13, item 4: reseller caps, end to end through the API on both
// engines.

const gib = int64(1) << 30

// capErr is the body of a request refused by a cap.
type capErr struct {
	Detail  string `json:"detail"`
	Cap     string `json:"cap"`
	Limit   *int64 `json:"limit"`
	Current *int64 `json:"current"`
}

// setCaps is the sudo's PUT /api/admin/{name} with caps.
func (e *env) setCaps(name string, caps map[string]any) {
	e.t.Helper()
	e.expect(e.do("PUT", "/api/admin/"+name, e.token(e.sudo), caps), 200, "setting caps of "+name)
}

// newUser posts a user as owner with the given extra fields.
func (e *env) newUser(owner *model.Admin, name string, extra map[string]any) *response {
	e.t.Helper()
	body := map[string]any{"username": name, "proxies": map[string]any{"vless": map[string]any{}}}
	for k, v := range extra {
		body[k] = v
	}
	return e.do("POST", "/api/user", e.token(owner), body)
}

// expectCap checks a refusal by the named cap, its numbers, and that the
// store is as it was before.
func (e *env) expectCap(r *response, before snapshot, cap string, limit, current int64, what string) {
	e.t.Helper()
	e.expect(r, 403, what)
	var b capErr
	r.decode(e.t, &b)
	if b.Cap != cap || b.Limit == nil || *b.Limit != limit || b.Current == nil || *b.Current != current {
		e.t.Fatalf("%s: refused with %s, want cap %s limit %d current %d", what, r.body, cap, limit, current)
	}
	if !strings.Contains(b.Detail, "cap") {
		e.t.Fatalf("%s: detail %q does not name a cap", what, b.Detail)
	}
	e.assertUnchanged(before, what)
}

// limited is a user that passes allow_unlimited.
func limited(bytes int64) map[string]any {
	return map[string]any{"data_limit": bytes, "expire": 4102444800}
}

func TestCapsMaxUsers(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			e.setCaps("alice", map[string]any{"max_users": 3})
			for i := range 3 {
				e.expect(e.newUser(e.alice, fmt.Sprintf("a_%d", i), nil), 200, "user within the cap")
			}
			before := e.snapshot()
			e.expectCap(e.newUser(e.alice, "a_3", nil), before, "max_users", 3, 4, "the 4th user")

			// Bob has no caps; sudo admins are never capped.
			e.expect(e.newUser(e.bob, "b_0", nil), 200, "uncapped admin")
			e.expect(e.newUser(e.sudo, "s_0", nil), 200, "sudo")

			// The use is in GET /api/admin (itself) and GET /api/admins (sudo).
			var me model.AdminWithUse
			r := e.do("GET", "/api/admin", e.token(e.alice), nil)
			e.expect(r, 200, "GET /api/admin")
			r.decode(t, &me)
			if me.MaxUsers == nil || *me.MaxUsers != 3 || me.CapsUse.Users != 3 || me.CapsUse.UnlimitedUsers != 3 {
				t.Fatalf("GET /api/admin: %s", r.body)
			}
			var all []model.AdminWithUse
			r = e.do("GET", "/api/admins", e.token(e.sudo), nil)
			e.expect(r, 200, "GET /api/admins")
			r.decode(t, &all)
			seen := 0
			for _, a := range all {
				switch a.Username {
				case "alice":
					seen++
					if a.CapsUse.Users != 3 || a.MaxUsers == nil || *a.MaxUsers != 3 {
						t.Fatalf("alice in GET /api/admins: %s", r.body)
					}
				case "bob":
					seen++
					if a.CapsUse.Users != 1 || a.MaxUsers != nil {
						t.Fatalf("bob in GET /api/admins: %s", r.body)
					}
				}
			}
			if seen != 2 {
				t.Fatalf("GET /api/admins: %s", r.body)
			}

			// Deleting makes room; null lifts the cap, a missing field keeps it.
			e.expect(e.do("DELETE", "/api/user/a_0", e.token(e.alice), nil), 200, "delete")
			e.expect(e.newUser(e.alice, "a_4", nil), 200, "room again")
			e.setCaps("alice", map[string]any{"telegram_id": 5})
			before = e.snapshot()
			e.expectCap(e.newUser(e.alice, "a_5", nil), before, "max_users", 3, 4, "cap kept by a missing field")
			e.setCaps("alice", map[string]any{"max_users": nil})
			e.expect(e.newUser(e.alice, "a_5", nil), 200, "cap cleared by null")
		})
	}
}

func TestCapsMaxDataLimit(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			e.setCaps("alice", map[string]any{"max_data_limit": 10 * gib})
			e.expect(e.newUser(e.alice, "a_0", limited(6*gib)), 200, "6 GiB")
			e.expect(e.newUser(e.alice, "a_1", limited(4*gib)), 200, "4 GiB: exactly the cap")
			before := e.snapshot()
			e.expectCap(e.newUser(e.alice, "a_2", limited(1)), before, "max_data_limit", 10*gib, 10*gib+1, "one byte more")
			e.expectCap(e.do("PUT", "/api/user/a_1", e.token(e.alice), map[string]any{"data_limit": 4*gib + 1}),
				before, "max_data_limit", 10*gib, 10*gib+1, "raising a limit by one byte")
			// Lowering and editing within the cap are fine.
			e.expect(e.do("PUT", "/api/user/a_1", e.token(e.alice), map[string]any{"data_limit": 3 * gib}), 200, "lowering")
			e.expect(e.newUser(e.alice, "a_2", limited(gib)), 200, "the freed GiB")
		})
	}
}

func TestCapsAllowUnlimited(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			e.setCaps("alice", map[string]any{"allow_unlimited": false})
			before := e.snapshot()
			e.expectCap(e.newUser(e.alice, "a_0", nil), before, "allow_unlimited", 0, 1, "no limit, no expiry")
			e.expectCap(e.newUser(e.alice, "a_0", map[string]any{"data_limit": gib}), before, "allow_unlimited", 0, 1, "no expiry")
			e.expectCap(e.newUser(e.alice, "a_0", map[string]any{"expire": 4102444800}), before, "allow_unlimited", 0, 1, "no limit")
			// On hold: the expiry starts later, so a limit is enough.
			e.expect(e.newUser(e.alice, "a_h", map[string]any{"data_limit": gib, "status": "on_hold", "on_hold_expire_duration": 86400}), 200, "on hold")
			e.expect(e.newUser(e.alice, "a_0", limited(gib)), 200, "limited")
			before = e.snapshot()
			e.expectCap(e.do("PUT", "/api/user/a_0", e.token(e.alice), map[string]any{"data_limit": 0}),
				before, "allow_unlimited", 0, 1, "making it unlimited")
			e.expect(e.newUser(e.bob, "b_0", nil), 200, "bob may")
		})
	}
}

func TestCapsMaxUsedTraffic(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			ctx := context.Background()
			e.expect(e.newUser(e.alice, "a_0", limited(gib)), 200, "before the cap")
			e.expect(e.newUser(e.alice, "a_1", limited(gib)), 200, "before the cap")
			u, err := e.st.User(ctx, nil, "a_0")
			if err != nil {
				t.Fatal(err)
			}
			n := &model.Node{Name: "n1", Address: "127.0.0.1"}
			if _, err := e.st.CreateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.ApplyUsage(ctx, n.ID, n.SessionFence, 0, 1, e.clock.Now(), []store.UserTraffic{{UserID: u.ID, Up: 600, Down: 400}}); err != nil {
				t.Fatal(err)
			}
			// 1000 bytes used: a cap of 1001 still lets alice give more.
			e.setCaps("alice", map[string]any{"max_used_traffic": 1001})
			e.expect(e.newUser(e.alice, "a_2", limited(gib)), 200, "1000 of 1001 used")
			e.setCaps("alice", map[string]any{"max_used_traffic": 1000})
			before := e.snapshot()
			tok := e.token(e.alice)
			e.expectCap(e.newUser(e.alice, "a_3", limited(gib)), before, "max_used_traffic", 1000, 1000, "create at the cap")
			e.expectCap(e.do("POST", "/api/user/a_0/reset", tok, nil), before, "max_used_traffic", 1000, 1000, "reset at the cap")
			e.expectCap(e.do("PUT", "/api/user/a_0", tok, map[string]any{"data_limit": 2 * gib}), before, "max_used_traffic", 1000, 1000, "raise at the cap")
			e.expectCap(e.do("POST", "/api/users/bulk", tok, map[string]any{"action": "extend_expiry", "usernames": []string{"a_0", "a_1"}, "days": 1}),
				before, "max_used_traffic", 1000, 1000, "bulk extend at the cap")
			// Taking away is still allowed.
			e.expect(e.do("PUT", "/api/user/a_0", tok, map[string]any{"data_limit": gib / 2, "note": "less"}), 200, "lower at the cap")
			e.expect(e.do("POST", "/api/users/bulk", tok, map[string]any{"action": "disable", "usernames": []string{"a_1"}}), 200, "disable at the cap")
			// The sudo resets the admin's usage: room again.
			e.expect(e.do("POST", "/api/admin/usage/reset/alice", e.token(e.sudo), nil), 200, "admin usage reset")
			e.expect(e.newUser(e.alice, "a_3", limited(gib)), 200, "after the admin's usage reset")
		})
	}
}

func TestCapsBulkAllOrNothing(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			for i := range 3 {
				e.expect(e.newUser(e.alice, fmt.Sprintf("a_%d", i), limited(3*gib)), 200, "user")
			}
			e.setCaps("alice", map[string]any{"max_data_limit": 10 * gib})
			tok := e.token(e.alice)
			before := e.snapshot()
			// 3 × 1 GiB more would be 12 GiB: refused whole, no user changed.
			e.expectCap(e.do("POST", "/api/users/bulk", tok, map[string]any{"action": "add_data", "usernames": []string{"a_0", "a_1", "a_2"}, "bytes": gib}),
				before, "max_data_limit", 10*gib, 12*gib, "bulk add_data over the cap")
			// 1 GiB to one user ends at exactly 10 GiB.
			e.expect(e.do("POST", "/api/users/bulk", tok, map[string]any{"action": "add_data", "usernames": []string{"a_0"}, "bytes": gib}), 200, "bulk to the cap")
		})
	}
}

// TestCapsConcurrentCreates: 20 parallel creates with max_users=10, over a
// real listener: exactly 10 succeed, the others are refused by the cap.
func TestCapsConcurrentCreates(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			e.setCaps("alice", map[string]any{"max_users": 10})
			addr := e.listen()
			tok := e.token(e.alice)
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				statuses = map[int]int{}
			)
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body, _ := json.Marshal(map[string]any{"username": fmt.Sprintf("c_%d", i), "proxies": map[string]any{"vless": map[string]any{}}})
					req, _ := http.NewRequest("POST", "http://"+addr+"/api/user", strings.NewReader(string(body)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					var b capErr
					_ = json.NewDecoder(resp.Body).Decode(&b)
					resp.Body.Close()
					if resp.StatusCode == 403 && b.Cap != "max_users" {
						t.Errorf("403 without the cap: %+v", b)
					}
					mu.Lock()
					statuses[resp.StatusCode]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if statuses[200] != 10 || statuses[403] != 10 {
				t.Fatalf("statuses %v, want 10 × 200 and 10 × 403", statuses)
			}
			var me model.AdminWithUse
			r := e.do("GET", "/api/admin", tok, nil)
			r.decode(t, &me)
			if me.CapsUse.Users != 10 {
				t.Fatalf("alice has %s", r.body)
			}
		})
	}
}

func TestCapsInput(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	for _, body := range []map[string]any{
		{"max_users": -1}, {"max_data_limit": -1}, {"max_used_traffic": model.MaxBytes + 1},
		{"max_users": model.MaxCapUsers + 1}, {"allow_unlimited": "no"},
	} {
		before := e.snapshot()
		e.expect(e.do("PUT", "/api/admin/alice", sudo, body), 422, fmt.Sprint(body))
		e.assertUnchanged(before, fmt.Sprint(body))
	}
	// Only a sudo sets caps; creating an admin may set them too.
	e.expect(e.do("PUT", "/api/admin/bob", e.token(e.alice), map[string]any{"max_users": 100}), 403, "reseller raising caps")
	r := e.do("POST", "/api/admin", sudo, map[string]any{"username": "carol", "password": "secret123", "max_users": 2, "allow_unlimited": false})
	e.expect(r, 200, "create with caps")
	var a model.Admin
	r.decode(t, &a)
	if a.MaxUsers == nil || *a.MaxUsers != 2 || a.AllowUnlimited == nil || *a.AllowUnlimited {
		t.Fatalf("created %s", r.body)
	}
}

// TestCapsOpenAPI: the caps are in the admin bodies and answers.
func TestCapsOpenAPI(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/openapi.json", "", nil)
	e.expect(r, 200, "openapi")
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	r.decode(t, &doc)
	found := map[string]bool{}
	for name, s := range doc.Components.Schemas {
		_, caps := s.Properties["max_users"]
		_, data := s.Properties["max_data_limit"]
		_, traffic := s.Properties["max_used_traffic"]
		_, unl := s.Properties["allow_unlimited"]
		if caps && data && traffic && unl {
			found[name] = true
		}
		if _, ok := s.Properties["caps_use"]; ok {
			found["caps_use"] = true
		}
		if _, ok := s.Properties["cap"]; ok {
			found["error"] = true
		}
	}
	if len(found) < 5 || !found["caps_use"] || !found["error"] {
		t.Fatalf("schemas with the caps: %v", found)
	}
}
