package api_test

import (
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

func TestHealthzAndRedirects(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/healthz", "", nil)
	e.expect(r, 200, "healthz")
	if string(r.body) != `{"status":"ok"}` {
		t.Errorf("healthz %s", r.body)
	}
	for _, p := range []string{"/", "/dashboard"} {
		r := e.do("GET", p, "", nil)
		if r.status != 302 || r.header.Get("Location") != "/dashboard/" {
			t.Errorf("%s: %d to %q", p, r.status, r.header.Get("Location"))
		}
	}
	// Unknown routes answer in the API's error shape.
	r = e.do("GET", "/api/nothing", "", nil)
	e.expect(r, 404, "unknown route")
	if r.detail() != "Not Found" {
		t.Errorf("unknown route detail %q", r.detail())
	}
	// No dashboard built in: a clean 404.
	e.expect(e.do("GET", "/dashboard/", "", nil), 404, "dashboard without files")
}

// The node endpoint is reached without admin auth: nodes bring their own.
func TestNodeEndpointIsPublic(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", protocol.WSPath, "", nil)
	if r.status != 426 {
		t.Fatalf("node endpoint: %d %s, want the hub's own answer", r.status, r.body)
	}
}

func TestDashboard(t *testing.T) {
	files := fstest.MapFS{
		"index.html":           {Data: []byte("<!doctype html><title>Outpost</title>")},
		"assets/index-abc.js":  {Data: []byte("console.log(1)")},
		"assets/index-abc.css": {Data: []byte("body{}")},
		"favicon.svg":          {Data: []byte("<svg/>")},
	}
	e := newEnv(t, func(o *api.Options) { o.Dashboard = files })
	for _, tc := range []struct {
		path, body, ctype, cache string
		status                   int
	}{
		{"/dashboard/", "<!doctype html><title>Outpost</title>", "text/html", "no-cache", 200},
		{"/dashboard/index.html", "<!doctype html><title>Outpost</title>", "text/html", "no-cache", 200},
		{"/dashboard/users/alice", "<!doctype html><title>Outpost</title>", "text/html", "no-cache", 200},
		{"/dashboard/assets/index-abc.js", "console.log(1)", "text/javascript", "public, max-age=31536000, immutable", 200},
		{"/dashboard/assets/index-abc.css", "body{}", "text/css", "public, max-age=31536000, immutable", 200},
		{"/dashboard/favicon.svg", "<svg/>", "image/svg+xml", "no-cache", 200},
		{"/dashboard/assets", "<!doctype html><title>Outpost</title>", "text/html", "no-cache", 200},
		{"/dashboard/assets/gone-123.js", "", "", "", 404},
		// Cleaned to a client route inside the dashboard, never a file outside.
		{"/dashboard/../../etc/passwd", "<!doctype html><title>Outpost</title>", "text/html", "no-cache", 200},
	} {
		r := e.send(httptest.NewRequest("GET", tc.path, nil))
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, r.status, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if string(r.body) != tc.body {
			t.Errorf("%s: body %q", tc.path, r.body)
		}
		if ct := r.header.Get("Content-Type"); len(ct) < len(tc.ctype) || ct[:len(tc.ctype)] != tc.ctype {
			t.Errorf("%s: content type %q, want %s", tc.path, ct, tc.ctype)
		}
		if cc := r.header.Get("Cache-Control"); cc != tc.cache {
			t.Errorf("%s: cache %q, want %q", tc.path, cc, tc.cache)
		}
	}
}
