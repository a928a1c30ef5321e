package api_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
)

// badInputCases are requests carrying a control character or a number out
// of its range (model/limits.go) in every kind of place: user, node, admin
// and template bodies, list filters and the login form. Each must get the
// same answer on SQLite and PostgreSQL and change nothing.
func badInputCases(e *env) []struct {
	name, method, path, token string
	body                      any
	status                    int
} {
	sudo, alice := e.token(e.sudo), e.token(e.alice)
	const max = "9223372036854775807"
	user := func(extra string) string {
		return `{"username":"newbie","proxies":{"vless":{},"trojan":{}}` + extra + `}`
	}
	return []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		// Issue #9, item 1: a reseller's request that stopped the review job.
		{"on-hold duration 2^63-1", "POST", "/api/user", alice,
			`{"username":"poison","proxies":{"vless":{}},"status":"on_hold","on_hold_expire_duration":` + max + `,"on_hold_timeout":"2020-01-01T00:00:00"}`, 422},
		{"on-hold duration of 100 years", "POST", "/api/user", alice, user(`,"status":"on_hold","on_hold_expire_duration":3153600001`), 422},
		{"expire 2^63-1", "POST", "/api/user", alice, user(`,"expire":` + max), 422},
		{"expire past year 9999", "POST", "/api/user", alice, user(`,"expire":253402300800`), 422},
		{"data limit 2^62+1", "POST", "/api/user", alice, user(`,"data_limit":4611686018427387905`), 422},
		{"next plan data limit 2^63-1", "POST", "/api/user", alice, user(`,"next_plan":{"data_limit":` + max + `}`), 422},
		{"next plan expire 2^63-1", "POST", "/api/user", alice, user(`,"next_plan":{"expire":` + max + `}`), 422},
		{"auto delete 2^63-1 days", "POST", "/api/user", alice, user(`,"auto_delete_in_days":` + max), 422},
		{"on-hold timeout in year 1", "POST", "/api/user", alice, user(`,"status":"on_hold","on_hold_expire_duration":60,"on_hold_timeout":"0001-01-01T00:00:00"`), 422},
		{"modify next plan 2^63-1", "PUT", "/api/user/mine", alice, `{"next_plan":{"data_limit":` + max + `,"expire":` + max + `}}`, 422},
		{"modify expire 2^63-1", "PUT", "/api/user/mine", alice, `{"expire":` + max + `}`, 422},
		{"template expire_duration 2^62", "POST", "/api/user_template", sudo, `{"name":"t","expire_duration":4611686018427387904}`, 422},
		{"node coefficient 1e300", "POST", "/api/node", sudo, `{"name":"n","usage_coefficient":1e300}`, 422},
		{"node port 2^40", "POST", "/api/node", sudo, `{"name":"n","port":1099511627776}`, 422},
		{"admin telegram id 2^63-1", "POST", "/api/admin", sudo, `{"username":"carol","password":"secret123","telegram_id":` + max + `}`, 422},
		{"users offset 2^40", "GET", "/api/users?offset=1099511627776", sudo, nil, 422},
		{"admins limit 2^40", "GET", "/api/admins?limit=1099511627776", sudo, nil, 422},

		// Issue #9, item 4: NUL and other control characters.
		{"NUL in note", "POST", "/api/user", alice, user(`,"note":"a\u0000b"`), 422},
		{"bell in note", "POST", "/api/user", alice, user(`,"note":"a\u0007b"`), 422},
		{"DEL in note", "POST", "/api/user", alice, user(`,"note":"a\u007fb"`), 422},
		{"NUL in trojan password", "POST", "/api/user", alice, `{"username":"newbie","proxies":{"trojan":{"password":"p\u0000w"}}}`, 422},
		{"NUL in modified note", "PUT", "/api/user/mine", alice, `{"note":"\u0000"}`, 422},
		{"NUL in node name", "POST", "/api/node", sudo, `{"name":"n\u0000"}`, 422},
		{"NUL in modified node name", "PUT", "/api/node/" + e.nodeIDForBadInput(), sudo, `{"name":"n\u0000"}`, 422},
		{"NUL in node address", "POST", "/api/node", sudo, `{"name":"n","address":"a\u0000"}`, 422},
		{"NUL in admin webhook", "POST", "/api/admin", sudo, `{"username":"carol","password":"secret123","discord_webhook":"https://discord.com/\u0000"}`, 422},
		{"NUL in modified webhook", "PUT", "/api/admin/alice", sudo, `{"discord_webhook":"https://discord.com/\u0000"}`, 422},
		{"NUL in admin username", "POST", "/api/admin", sudo, `{"username":"ca\u0000rol","password":"secret123"}`, 422},
		{"NUL in template name", "POST", "/api/user_template", sudo, `{"name":"t\u0000"}`, 422},
		{"NUL in a proxies key", "POST", "/api/user", alice, `{"username":"newbie","proxies":{"vl\u0000ess":{}}}`, 422},
		{"NUL in users search", "GET", "/api/users?search=a%00b", sudo, nil, 422},
		{"NUL in users username filter", "GET", "/api/users?username=a%00b", sudo, nil, 422},
		{"NUL in users admin filter", "GET", "/api/users?admin=a%00b", sudo, nil, 422},
		{"NUL in admins filter", "GET", "/api/admins?username=a%00b", sudo, nil, 422},
		{"NUL in usage admin filter", "GET", "/api/users/usage?admin=a%00b", sudo, nil, 422},
		{"NUL in set-owner admin", "PUT", "/api/user/mine/set-owner?admin_username=a%00b", sudo, nil, 422},
		{"NUL in user path", "GET", "/api/user/a%00b", sudo, nil, 404},
	}
}

// nodeIDForBadInput creates the node the modify cases aim at, once.
func (e *env) nodeIDForBadInput() string {
	e.t.Helper()
	r := e.do("POST", "/api/node", e.token(e.sudo), `{"name":"target"}`)
	e.expect(r, 200, "creating the target node")
	var n struct {
		ID int64 `json:"id"`
	}
	r.decode(e.t, &n)
	return fmt.Sprint(n.ID)
}

// TestBadInputSameOnBothEngines runs one table of bad requests on SQLite
// and PostgreSQL: each is refused with the same status and a detail, and
// changes nothing (PostgreSQL used to answer 500 to NUL bytes that SQLite
// stored).
func TestBadInputSameOnBothEngines(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			e.createUser(e.alice, "mine")
			for _, c := range badInputCases(e) {
				before, admins := e.snapshot(), e.adminsState()
				e.expect(e.do(c.method, c.path, c.token, c.body), c.status, c.name)
				e.assertUnchanged(before, c.name)
				if e.adminsState() != admins {
					t.Fatalf("%s changed the admins", c.name)
				}
			}

			// The login form: a NUL in the username is a failed login
			// (401, like any unknown name), not a 500.
			for _, name := range []string{"ad\x00min", "admin\x01"} {
				form := url.Values{"username": {name}, "password": {"whatever"}, "grant_type": {"password"}}
				req := httptest.NewRequest("POST", "/api/admin/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				e.expect(e.send(req), 401, fmt.Sprintf("login as %q", name))
			}

			// Tab, line feed and carriage return are text, on both engines.
			r := e.do("PUT", "/api/user/mine", e.token(e.alice), `{"note":"line one\r\n\tline two"}`)
			e.expect(r, 200, "note with tab and new lines")
			if got := e.lcUser("mine").Note; got != "line one\r\n\tline two" {
				t.Fatalf("note stored as %q", got)
			}
		})
	}
}

// TestBodyNumbersHaveRanges checks that every number of every request body
// carries a limit tag naming a range of model/limits.go: a new field
// without one would not be checked.
func TestBodyNumbersHaveRanges(t *testing.T) {
	for _, missing := range api.UncheckedBodyNumbers() {
		t.Errorf("%s: a number without a limit tag", missing)
	}
}
