package api_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/api"
)

func TestSecurityHeaders(t *testing.T) {
	dist := fstest.MapFS{
		"index.html":       {Data: []byte(`<!doctype html><div id="root"></div><script type="module" src="/dashboard/assets/app.js"></script>`)},
		"assets/app.js":    {Data: []byte(`console.log(1)`)},
		"assets/style.css": {Data: []byte(`body{}`)},
	}
	e := newEnv(t, func(o *api.Options) { o.Dashboard = dist })
	u := e.createUser(e.alice, "hdr_user")
	subPath := u["subscription_url"].(string)[len("http://example.com"):]

	get := func(path string, header ...string) *response {
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return e.send(req)
	}
	for _, tc := range []struct {
		name   string
		r      *response
		status int
		csp    []string // must all be in the policy
	}{
		{"dashboard", get("/dashboard/"), 200, []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'self'"}},
		{"dashboard route", get("/dashboard/users"), 200, []string{"script-src 'self'", "frame-ancestors 'none'"}},
		{"dashboard asset", get("/dashboard/assets/app.js"), 200, []string{"frame-ancestors 'none'"}},
		{"api", get("/api/admin", "Authorization", "Bearer "+e.token(e.alice)), 200, []string{"default-src 'none'", "frame-ancestors 'none'"}},
		{"api error", get("/api/admin"), 401, []string{"default-src 'none'", "frame-ancestors 'none'"}},
		{"unknown path", get("/nothing-here"), 404, []string{"default-src 'none'"}},
		{"subscription", get(subPath, "User-Agent", "v2rayN/6.30"), 200, []string{"default-src 'none'", "frame-ancestors 'none'"}},
		{"subscription info", get(subPath + "/info"), 200, []string{"default-src 'none'"}},
		{"subscription page", get(subPath, "Accept", "text/html"), 200, []string{"default-src 'none'", "img-src data:", "frame-ancestors 'none'"}},
		{"docs", get("/docs"), 200, []string{"default-src 'none'", "frame-ancestors 'none'"}},
	} {
		if tc.r.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, tc.r.status, tc.status)
		}
		h := tc.r.header
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", tc.name, k, got, want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range tc.csp {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", tc.name, csp, want)
			}
		}
		if d := directive(csp, "script-src"); strings.Contains(d, "'unsafe-inline'") || strings.Contains(d, "'unsafe-eval'") {
			t.Errorf("%s: CSP allows inline scripts: %q", tc.name, csp)
		}
		if hsts := h.Get("Strict-Transport-Security"); hsts != "" {
			t.Errorf("%s: HSTS %q over plain HTTP", tc.name, hsts)
		}
		if tc.r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-ID", tc.name)
		}
	}

	// The subscription page's inline script and style are exactly what its
	// policy allows by hash: copy buttons work, nothing else may run.
	page := get(subPath, "Accept", "text/html")
	csp := page.header.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllSubmatch(page.body, -1)
		if len(m) == 0 {
			t.Fatalf("subscription page has no inline %s", tag)
		}
		for _, b := range m {
			sum := sha256.Sum256(b[1])
			src := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(csp, tag+"-src "+src) {
				t.Errorf("inline %s (%s) not allowed by %q", tag, src, csp)
			}
		}
	}
	if bytes.Contains(page.body, []byte("<img")) || bytes.Contains(page.body, []byte(" style=")) {
		t.Errorf("subscription page has content its policy does not allow")
	}
}

// HSTS only when the panel serves TLS itself or a trusted proxy says the
// browser came over HTTPS.
func TestHSTSOnlyOverTLS(t *testing.T) {
	e := newEnv(t)
	cert, err := tls.LoadX509KeyPair("../sub/testdata/tls.crt", "../sub/testdata/tls.key")
	if err != nil {
		t.Fatal(err)
	}
	addr := e.listenTLS(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Fatalf("HSTS over TLS %q", got)
	}

	forwarded := func(trusted []string) string {
		e := newEnv(t, func(o *api.Options) { o.TrustedProxies = trusted })
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		return e.send(req).header.Get("Strict-Transport-Security")
	}
	if got := forwarded(nil); got != "" {
		t.Errorf("HSTS from an untrusted X-Forwarded-Proto: %q", got)
	}
	if got := forwarded([]string{"0.0.0.0"}); got == "" {
		t.Error("no HSTS behind a trusted TLS proxy")
	}
}

// A handler that panics answers 500 with a plain detail; the panel keeps
// serving, and the log has the panic with the request id the client got.
func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(o *api.Options) { o.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	e.app.Get("/test/panic", func(*fiber.Ctx) error { panic("boom: secret internals") })
	e.app.Get("/test/panic-error", func(*fiber.Ctx) error { panic(fiber.ErrNotFound) })

	for _, path := range []string{"/test/panic", "/test/panic-error"} {
		r := e.do("GET", path, "", nil)
		e.expect(r, 500, path)
		if r.detail() != "Internal server error" || bytes.Contains(r.body, []byte("secret")) {
			t.Fatalf("%s: body %s", path, r.body)
		}
		id := r.header.Get("X-Request-Id")
		if id == "" || !strings.Contains(logs.String(), `"request_id":"`+id+`"`) {
			t.Fatalf("%s: request id %q not in the log:\n%s", path, id, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "boom: secret internals") || !strings.Contains(logs.String(), "handler panicked") {
		t.Fatalf("panic not logged:\n%s", logs.String())
	}
	e.expect(e.do("GET", "/healthz", "", nil), 200, "after the panics")
}

// directive is the value of one CSP directive, "" when absent.
func directive(csp, name string) string {
	for _, d := range strings.Split(csp, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), name+" "); ok {
			return v
		}
	}
	return ""
}

// listenTLS serves the app over TLS on a loopback port until the test ends.
func (e *env) listenTLS(cert tls.Certificate) string {
	e.t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.app.Listener(ln)
	}()
	e.t.Cleanup(func() {
		_ = e.app.Shutdown()
		<-done
	})
	return ln.Addr().String()
}
