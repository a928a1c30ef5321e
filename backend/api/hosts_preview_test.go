package api_test

import (
	"fmt"
	"strings"
	"testing"
)

type previewResult struct {
	Username string `json:"username"`
	Links    []struct {
		Tag    string `json:"tag"`
		Remark string `json:"remark"`
		Link   string `json:"link"`
	} `json:"links"`
}

func TestHostsPreview(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	u := e.createUser(e.alice, "previewer")
	path := subPath(u)
	stored := string(e.do("GET", "/api/hosts", sudo, nil).body)

	draft := map[string]any{
		"VLESS TCP": []any{
			map[string]any{"remark": "first {USERNAME}", "address": "a.example", "port": 8443},
			map[string]any{"remark": "off", "address": "x.example", "is_disabled": true},
			map[string]any{"remark": "second {DATA_LEFT}", "address": "b.example", "sni": "s.example", "security": "tls"},
		},
		"Trojan TCP": []any{},
		"VMess WS":   []any{},
	}
	preview := func(body map[string]any) previewResult {
		t.Helper()
		r := e.do("POST", "/api/hosts/preview", sudo, body)
		e.expect(r, 200, "preview")
		var p previewResult
		r.decode(t, &p)
		return p
	}

	// The sample user: one link per enabled host, in the draft's order,
	// variables expanded; inbounds the draft leaves out keep the default host.
	p := preview(map[string]any{"hosts": draft})
	if p.Username != "sample_user" {
		t.Errorf("username %q, want the sample user", p.Username)
	}
	var vless []string
	for _, l := range p.Links {
		if l.Tag == "VLESS TCP" {
			vless = append(vless, l.Remark)
		}
		if l.Tag == "Trojan TCP" || l.Tag == "VMess WS" {
			t.Errorf("an inbound given [] has a link: %+v", l)
		}
	}
	if len(vless) != 2 || vless[0] != "first sample_user" || !strings.HasPrefix(vless[1], "second 75") {
		t.Errorf("VLESS remarks %q", vless)
	}
	if len(p.Links) < 3 || !strings.Contains(p.Links[0].Link, "@a.example:8443?") || !strings.Contains(p.Links[1].Link, "sni=s.example") {
		t.Errorf("links %+v", p.Links)
	}

	// Reordered: the links follow.
	list := draft["VLESS TCP"].([]any)
	draft["VLESS TCP"] = []any{list[2], list[1], list[0]}
	if p := preview(map[string]any{"hosts": draft}); !strings.HasPrefix(p.Links[0].Remark, "second") || p.Links[1].Remark != "first sample_user" {
		t.Errorf("reordered preview %+v", p.Links)
	}

	// Nothing was saved.
	if now := string(e.do("GET", "/api/hosts", sudo, nil).body); now != stored {
		t.Errorf("preview changed the hosts:\n%s\n%s", now, stored)
	}

	// A named user: exactly the links its subscription gives once saved.
	p = preview(map[string]any{"hosts": draft, "username": "previewer"})
	e.expect(e.do("PUT", "/api/hosts", sudo, draft), 200, "save the draft")
	subLinks := base64Links(t, e.get(path, nil).body)
	var got []string
	for _, l := range p.Links {
		got = append(got, l.Link)
	}
	if p.Username != "previewer" || fmt.Sprint(got) != fmt.Sprint(subLinks) {
		t.Errorf("preview for previewer\n%v\nsubscription\n%v", got, subLinks)
	}

	// Bad drafts are refused as PUT refuses them, and change nothing.
	saved := string(e.do("GET", "/api/hosts", sudo, nil).body)
	for _, c := range []struct {
		name   string
		body   any
		status int
	}{
		{"unknown tag", map[string]any{"hosts": map[string]any{"NOPE": []any{}}}, 400},
		{"blank remark", map[string]any{"hosts": map[string]any{"VLESS TCP": []any{map[string]any{"remark": " ", "address": "a"}}}}, 400},
		{"port too big", map[string]any{"hosts": map[string]any{"VLESS TCP": []any{map[string]any{"remark": "r", "address": "a", "port": 70000}}}}, 422},
		{"no hosts", map[string]any{"username": "previewer"}, 422},
		{"unknown field", map[string]any{"hosts": map[string]any{}, "extra": 1}, 422},
		{"unknown user", map[string]any{"hosts": map[string]any{}, "username": "nobody"}, 404},
	} {
		e.expect(e.do("POST", "/api/hosts/preview", sudo, c.body), c.status, c.name)
	}
	e.expect(e.do("POST", "/api/hosts/preview", e.token(e.alice), map[string]any{"hosts": map[string]any{}}), 403, "regular admin")
	e.expect(e.do("POST", "/api/hosts/preview", "", map[string]any{"hosts": map[string]any{}}), 401, "anonymous")
	if now := string(e.do("GET", "/api/hosts", sudo, nil).body); now != saved {
		t.Errorf("refused previews changed the hosts")
	}
}
