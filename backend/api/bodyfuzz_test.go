package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// fuzzedRoutes are the routes whose JSON bodies FuzzRequestBodies throws
// at; sudo says whose token is sent (else a regular admin's).
var fuzzedRoutes = []struct {
	method, path string
	sudo         bool
	seeds        []string
}{
	{"POST", "/api/user", false, []string{
		`{"username":"fz_new","proxies":{"vless":{},"trojan":{"password":"p"}},"expire":1900000000,"data_limit":1073741824,"note":"hi"}`,
		`{"username":"poison","proxies":{"vless":{}},"status":"on_hold","on_hold_expire_duration":9223372036854775807,"on_hold_timeout":"2020-01-01T00:00:00"}`,
		`{"username":"fz_plan","proxies":{"vless":{}},"next_plan":{"data_limit":9223372036854775807,"expire":9223372036854775807,"add_remaining_traffic":true}}`,
		`{"username":"fz_nul","proxies":{"shadowsocks":{"method":"aes-128-gcm"}},"note":"\u0000","auto_delete_in_days":-1}`,
	}},
	{"PUT", "/api/user/fuzzed", false, []string{
		`{"note":"edited","expire":0,"data_limit":null,"next_plan":null,"auto_delete_in_days":null}`,
		`{"status":"on_hold","on_hold_expire_duration":1e30}`,
		`{"inbounds":{"vless":["VLESS TCP"]},"proxies":{"vless":{"flow":"xtls-rprx-vision"}}}`,
	}},
	{"POST", "/api/user_template", true, []string{
		`{"name":"fz","data_limit":1,"expire_duration":60,"username_prefix":"a_","inbounds":{"vless":["VLESS TCP"]}}`,
		`{"name":"\u0000","expire_duration":9223372036854775807}`,
	}},
	{"POST", "/api/node", true, []string{
		`{"name":"fz","address":"127.0.0.1","port":62050,"api_port":62051,"usage_coefficient":1.5}`,
		`{"name":"fz\u0000","usage_coefficient":-1e308}`,
	}},
	{"POST", "/api/admin", true, []string{
		`{"username":"fz_admin","password":"secret123","is_sudo":false,"telegram_id":1,"discord_webhook":"https://discord.com/api/webhooks/1"}`,
		`{"username":"fz_bad","password":"p","telegram_id":-9223372036854775808}`,
	}},
	{"PUT", "/api/admin/bob", true, []string{
		`{"password":"another123","telegram_id":0,"discord_webhook":""}`,
		`{"discord_webhook":"https://discord.com/\u0001"}`,
	}},
	{"PUT", "/api/hosts", true, []string{
		`{"VLESS TCP":[{"remark":"{USERNAME}","address":"a.example","port":443}]}`,
		`{"VLESS TCP":[{"remark":"x","address":"\u0000","port":99999}]}`,
	}},
	{"PUT", "/api/subscription/settings", true, []string{
		`{"profile_update_interval":12,"profile_title":"t","support_url":"https://s.example"}`,
		`{"profile_update_interval":-1,"rules":[{"pattern":"(","target":"links"}]}`,
	}},
}

// FuzzRequestBodies sends arbitrary bodies to the routes that decode user,
// template, node, admin, host and settings JSON: no answer is a 5xx (a
// panic is one: Fiber's recover is not installed, so it would crash the
// test), every refusal has a detail, and a refused body changes nothing.
func FuzzRequestBodies(f *testing.F) {
	e := newEnv(f)
	e.createUser(e.alice, "fuzzed")
	for i, r := range fuzzedRoutes {
		for _, s := range r.seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Add(uint8(0), []byte(`{"username":`))
	f.Add(uint8(1), []byte(`[]`))
	f.Add(uint8(2), []byte(`{"name":"a"} {}`))
	sudo, alice := e.token(e.sudo), e.token(e.alice)
	// Everything a refused body could have touched, as the API shows it and
	// as the store holds it.
	state := func() string {
		var b strings.Builder
		s := e.snapshot()
		fmt.Fprintf(&b, "%+v\n%s\n", s, e.adminsState())
		for _, p := range []string{"/api/user_template", "/api/hosts", "/api/subscription/settings"} {
			b.Write(e.do("GET", p, sudo, nil).body)
		}
		return b.String()
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		// The env's helpers report to the running input (one at a time).
		e.t = t
		r := fuzzedRoutes[int(route)%len(fuzzedRoutes)]
		tok := alice
		if r.sudo {
			tok = sudo
		}
		before := state()
		resp := e.do(r.method, r.path, tok, body)
		if resp.status >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", r.method, r.path, body, resp.status, resp.body)
		}
		if resp.status < 400 {
			return
		}
		if resp.detail() == "" {
			t.Fatalf("%s %s %q: %d without a detail: %s", r.method, r.path, body, resp.status, resp.body)
		}
		if after := state(); after != before {
			t.Fatalf("%s %s %q: refused with %d but changed the state:\n%s\n%s", r.method, r.path, body, resp.status, before, after)
		}
	})
}
