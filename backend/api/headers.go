package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/outpost-panel/outpost/backend/sub/page"
)

// Content Security Policies. The dashboard is Vite's build: scripts and
// styles are files of its own origin, with no inline script (index.html
// has none); Mantine writes its CSS variables into a <style> element and
// style attributes, hence 'unsafe-inline' for styles only. Its favicon is
// a data: URI; its WebSockets are same-origin ('self' covers ws/wss).
// Everything else (JSON, subscriptions) renders nothing and may load
// nothing. The docs page and the subscription page set their own.
const (
	dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
	defaultCSP   = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	// hstsMaxAge is a year, the usual value; subdomains are not the
	// panel's to speak for.
	hstsValue = "max-age=31536000"
)

// securityHeaders sets the headers every response carries. Handlers that
// render HTML of their own (docs, the subscription page) replace the CSP.
func securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// Subscription tokens live in URLs: never hand them to another site.
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	if p := c.Path(); p == "/dashboard" || strings.HasPrefix(p, dashboardPrefix) {
		c.Set(fiber.HeaderContentSecurityPolicy, dashboardCSP)
	} else {
		c.Set(fiber.HeaderContentSecurityPolicy, defaultCSP)
	}
	// Only when the browser reached the panel over TLS: the panel's own
	// certificate, or a trusted proxy's X-Forwarded-Proto. A plain-HTTP
	// answer cannot set it anyway.
	if c.Protocol() == "https" {
		c.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
	}
	return c.Next()
}

var (
	subPageCSPOnce sync.Once
	subPageCSPText string
)

// subPageCSP allows exactly the subscription page's own inline style and
// copy-button script, by hash, and its QR codes (inline SVG). The page is
// rendered once to take the hashes from what the template really holds.
func subPageCSP() string {
	subPageCSPOnce.Do(func() {
		var buf bytes.Buffer
		script, style := "'none'", "'none'"
		if err := page.Render(&buf, page.Data{Username: "csp", Lang: "en", Now: time.Unix(0, 0)}); err == nil {
			if h, ok := inlineHash(buf.Bytes(), "script"); ok {
				script = h
			}
			if h, ok := inlineHash(buf.Bytes(), "style"); ok {
				style = h
			}
		}
		subPageCSPText = "default-src 'none'; script-src " + script + "; style-src " + style +
			"; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	})
	return subPageCSPText
}

// inlineHash is the CSP source of the first <tag>...</tag> body in html.
func inlineHash(html []byte, tag string) (string, bool) {
	open, end := []byte("<"+tag+">"), []byte("</"+tag+">")
	i := bytes.Index(html, open)
	if i < 0 {
		return "", false
	}
	body := html[i+len(open):]
	j := bytes.Index(body, end)
	if j < 0 {
		return "", false
	}
	sum := sha256.Sum256(body[:j])
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'", true
}

const (
	requestIDLocal = "outpost.request_id"
	panickedLocal  = "outpost.panicked"
)

// requestIDs gives each request an id (X-Request-ID, echoed back) that
// error logs carry, so a 500 a user reports can be found in the log.
func requestIDs() fiber.Handler {
	return requestid.New(requestid.Config{ContextKey: requestIDLocal})
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDLocal).(string)
	return id
}

// errPanic is what a recovered panic becomes: always a 500 whose detail
// says nothing of the panic.
var errPanic = errors.New("handler panicked")

// recoverPanics turns a handler's panic into a logged 500 instead of a dead
// panel. The panic value and stack go to the log with the request id; the
// client sees only "Internal server error".
func (s *server) recoverPanics() fiber.Handler {
	rec := recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, v any) {
			c.Locals(panickedLocal, true)
			s.log.Error("handler panicked", "request_id", requestID(c), "method", c.Method(), "path", c.Path(),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		},
	})
	return func(c *fiber.Ctx) error {
		if err := rec(c); err != nil {
			if p, _ := c.Locals(panickedLocal).(bool); p {
				return fmt.Errorf("%w: %w", errPanic, err)
			}
			return err
		}
		return nil
	}
}
