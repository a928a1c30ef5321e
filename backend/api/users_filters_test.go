package api_test

import (
	"slices"
	"testing"
)

func TestUsersListDashboardFilters(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	now := e.clock.Now().Unix()
	mk := func(name string, body map[string]any) {
		t.Helper()
		body["username"] = name
		body["proxies"] = map[string]any{"vless": map[string]any{}}
		e.expect(e.do("POST", "/api/user", tok, body), 200, "creating "+name)
	}
	mk("in_3_days", map[string]any{"expire": now + 3*86400})
	mk("in_20_days", map[string]any{"expire": now + 20*86400, "data_limit": 1000})
	mk("never", map[string]any{})
	mk("held", map[string]any{"status": "on_hold", "on_hold_expire_duration": 86400})
	list := func(query string) []string {
		t.Helper()
		r := e.do("GET", "/api/users?"+query, tok, nil)
		e.expect(r, 200, query)
		var page struct {
			Users []struct {
				Username string `json:"username"`
			} `json:"users"`
		}
		r.decode(t, &page)
		var out []string
		for _, u := range page.Users {
			out = append(out, u.Username)
		}
		slices.Sort(out)
		return out
	}
	for query, want := range map[string][]string{
		"expiring_within_days=7":                              {"in_3_days"},
		"expiring_within_days=30":                             {"in_20_days", "in_3_days"},
		"on_hold=true":                                        {"held"},
		"on_hold=true&status=on_hold":                         {"held"},
		"data_left_below_percent=100":                         nil, // in_20_days has all its 1000 bytes left
		"data_left_below_percent=100&expiring_within_days=30": nil,
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
	}
	for query, status := range map[string]int{
		"expiring_within_days=0":      400,
		"expiring_within_days=x":      422,
		"data_left_below_percent=101": 400,
		"on_hold=maybe":               422,
		"on_hold=true&status=active":  400,
	} {
		e.expect(e.do("GET", "/api/users?"+query, tok, nil), status, query)
	}
}
