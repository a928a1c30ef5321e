package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/outpost-panel/outpost/backend/sub"
)

// rawGet sends a request byte for byte (no client-side header checks) and
// returns the status, 0 when the server closed without answering.
func rawGet(t *testing.T, addr, path, userAgent string) (int, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: example.com\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n", path, userAgent); err != nil {
		return 0, nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// FuzzSubscriptionRequest throws arbitrary tokens, path tails and
// User-Agents at the subscription routes: every answer is a 2xx or a 4xx
// with a JSON detail, never a 5xx.
func FuzzSubscriptionRequest(f *testing.F) {
	e := newEnv(f)
	u := e.createUser(e.alice, "fuzzed")
	good := strings.TrimPrefix(subPath(u), "/sub/")
	f.Add(good, "", "v2rayN/6.50", "")
	f.Add(good, "clash-meta", "\x00\xff", "text/html")
	f.Add(good, "info", "", "")
	f.Add(good, "usage?start=2026-01-01&end=2025-01-01", "", "")
	f.Add(sub.MakeToken("nobody", time.Unix(1, 0), e.secrets.Subscription), "", "", "")
	f.Add("%ff%00", "../../api/users", "((a*)*)*", "text/html")
	f.Add(good+"=", "sing-box", strings.Repeat("Clash", 200), "")
	handler := e.app.Handler()
	f.Fuzz(func(t *testing.T, token, tail, userAgent, accept string) {
		var ctx fasthttp.RequestCtx
		uri := "/sub/" + token
		if tail != "" {
			uri += "/" + tail
		}
		ctx.Request.SetRequestURI(uri)
		ctx.Request.Header.SetMethod("GET")
		ctx.Request.Header.SetHost("example.com")
		ctx.Request.Header.Set("User-Agent", userAgent)
		ctx.Request.Header.Set("Accept", accept)
		handler(&ctx)
		status := ctx.Response.StatusCode()
		if status >= 500 {
			t.Fatalf("GET %q UA %q: status %d: %s", uri, userAgent, status, ctx.Response.Body())
		}
		if status >= 400 && !strings.Contains(string(ctx.Response.Body()), `"detail"`) {
			t.Fatalf("GET %q: %d without a detail: %s", uri, status, ctx.Response.Body())
		}
	})
}
