// Package page renders the HTML page a browser gets for a subscription link:
// status, usage, expiry, every link with a copy button and a QR code drawn
// by the server, and deep links into the common apps. It is self-contained
// (inline CSS, a few lines of inline JS, inline SVG) so it works offline and
// makes no third-party request that could leak the token.
package page

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Data is what the subscription route knows about the user.
type Data struct {
	Username        string
	Status          string // model.Status value: active, disabled, limited, expired, on_hold
	Used            int64  // bytes
	Limit           int64  // bytes, 0 = unlimited
	Expire          int64  // unix seconds, 0 = never
	Links           []string
	SubscriptionURL string
	Lang            string // one of Language's results; anything else falls back to English
	Now             time.Time
	SupportURL      string
	// Devices are the user's registered devices (the raw HWID is never
	// shown); DeviceLimit the limit that applies, 0 unlimited.
	Devices     []Device
	DeviceLimit int64
	// PerDevice: the user is in the credentials-per-device mode, so the
	// page lists no links (a browser is no device) and says to import the
	// subscription URL in the app instead.
	PerDevice bool
}

// Device is one registered device as the page lists it.
type Device struct {
	Name, Model, OS, OSVersion string
	LastSeen                   time.Time
	Refused                    bool
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// ContentSecurityPolicy is the header value the route should send with the
// page: nothing may load from anywhere, and only the page's own inline style
// and script (pinned by hash) run, so even an escaping bug elsewhere could
// not execute injected script.
var ContentSecurityPolicy = "default-src 'none'; style-src " + inlineHash(pageSource, "style") +
	"; script-src " + inlineHash(pageSource, "script") +
	"; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// inlineHash is the CSP source expression for the one <tag> element in src,
// whose content is static text that html/template copies through unchanged
// (TestContentSecurityPolicyMatchesPage checks that on real output).
func inlineHash(src, tag string) string {
	_, rest, ok := strings.Cut(src, "<"+tag+">")
	body, _, ok2 := strings.Cut(rest, "</"+tag+">")
	if !ok || !ok2 {
		panic("page template has no <" + tag + "> element")
	}
	sum := sha256.Sum256([]byte(body))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// cacheSize bounds the QR cache; see linkCache.
const cacheSize = 4096

var linkInfoCache = newLinkCache(cacheSize)

func computeLinkInfo(link string) *linkInfo {
	svg, _ := qrSVG(link)
	return &linkInfo{qr: svg, name: linkName(link)}
}

// fragment returns the link's HTML for a language, rendering it on first
// use. Two requests racing here render the same bytes, so the loser's
// store is harmless.
func (li *linkInfo) fragment(link string, langIndex int, m *messages) (*linkFragment, error) {
	if f := li.frags[langIndex].Load(); f != nil {
		return f, nil
	}
	data := struct {
		T     *messages
		Name  string
		URL   string
		HasQR bool
	}{m, li.name, link, li.qr != ""}
	var head, tail strings.Builder
	if err := pageTemplate.ExecuteTemplate(&head, "link-head", data); err != nil {
		return nil, fmt.Errorf("rendering link %q: %w", li.name, err)
	}
	if err := pageTemplate.ExecuteTemplate(&tail, "link-tail", data); err != nil {
		return nil, fmt.Errorf("rendering link %q: %w", li.name, err)
	}
	f := &linkFragment{head: template.HTML(head.String()), tail: template.HTML(tail.String())}
	li.frags[langIndex].Store(f)
	return f, nil
}

// Pages are rendered into a pooled buffer so a template error never leaves
// half a page on the wire, and the writer gets one Write.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 1 << 20

// Render writes the page for d.
func Render(w io.Writer, d Data) error {
	v, err := newView(d)
	if err != nil {
		return err
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			bufPool.Put(buf)
		}
	}()
	if err := pageTemplate.Execute(buf, v); err != nil {
		return fmt.Errorf("rendering subscription page for %q: %w", d.Username, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing subscription page: %w", err)
	}
	return nil
}

type view struct {
	Lang string
	T    *messages

	Username    string
	StatusClass string
	StatusText  string

	Used, LimitText, Remaining string
	HasLimit                   bool
	Percent                    int
	NearLimit                  bool

	HasExpire bool
	Expired   bool
	Date      string
	DaysLeft  int64

	SubURL  string
	SubQR   template.HTML
	Apps    []appView
	Links   []linkView
	Support string
	// PerDevice: see Data.PerDevice.
	PerDevice bool

	Devices     []deviceView
	DeviceCount string // "2 / 3", or "2" when unlimited
}

type deviceView struct {
	Name, Detail, LastSeen string
	Refused                bool
}

type appView struct {
	Name, Platform string
	Href           template.URL
}

// linkView is one link as three pre-escaped pieces, so a cached link costs
// the template three copies instead of a dozen escaping calls.
type linkView struct {
	Head, QR, Tail template.HTML
}

func newView(d Data) (*view, error) {
	lang, langIndex, m := catalogFor(d.Lang)
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	v := &view{
		Lang:      lang,
		T:         m,
		Username:  d.Username,
		Used:      formatBytes(d.Used, m),
		SubURL:    d.SubscriptionURL,
		Support:   d.SupportURL,
		PerDevice: d.PerDevice,
	}
	v.StatusClass, v.StatusText = statusText(d.Status, m)

	if d.Limit > 0 {
		v.HasLimit = true
		v.LimitText = formatBytes(d.Limit, m)
		v.Remaining = formatBytes(max(d.Limit-d.Used, 0), m)
		// Float: Used*100 could overflow for absurd limits.
		ratio := float64(max(d.Used, 0)) / float64(d.Limit)
		v.Percent = int(min(ratio*100, 100))
		v.NearLimit = ratio >= 0.9
	} else {
		v.LimitText = m.Unlimited
	}

	if d.Expire > 0 {
		exp := time.Unix(d.Expire, 0).In(now.Location())
		v.HasExpire = true
		v.Date = formatDate(exp, m)
		v.Expired = !exp.After(now)
		v.DaysLeft = daysLeft(exp, now)
	}

	if d.SubscriptionURL != "" {
		v.SubQR = linkInfoCache.get(d.SubscriptionURL, computeLinkInfo).qr
		v.Apps = make([]appView, len(apps))
		for i, a := range apps {
			// The deep links are built from the panel's own URL and fixed
			// schemes; html/template would otherwise refuse the non-http
			// schemes. The value is still attribute-escaped.
			v.Apps[i] = appView{Name: a.Name, Platform: a.Platform, Href: template.URL(a.build(d.SubscriptionURL, d.Username))}
		}
	}

	v.Links = make([]linkView, len(d.Links))
	for i, l := range d.Links {
		info := linkInfoCache.get(l, computeLinkInfo)
		f, err := info.fragment(l, langIndex, m)
		if err != nil {
			return nil, err
		}
		v.Links[i] = linkView{Head: f.head, QR: info.qr, Tail: f.tail}
	}

	accepted := 0
	for _, dv := range d.Devices {
		name := dv.Name
		if name == "" {
			name = dv.Model
		}
		if name == "" {
			name = m.UnknownDevice
		}
		detail := strings.TrimSpace(dv.OS + " " + dv.OSVersion)
		if dv.Name != "" && dv.Model != "" {
			detail = strings.TrimSpace(dv.Model + " · " + detail)
		}
		if !dv.Refused {
			accepted++
		}
		v.Devices = append(v.Devices, deviceView{Name: name, Detail: detail,
			LastSeen: formatDate(dv.LastSeen.In(now.Location()), m), Refused: dv.Refused})
	}
	v.DeviceCount = strconv.Itoa(accepted)
	if d.DeviceLimit > 0 {
		v.DeviceCount += " / " + strconv.FormatInt(d.DeviceLimit, 10)
	}
	return v, nil
}

// statusText returns a CSS class from a fixed set (never the raw input) and
// the localized status name; an unknown status is shown as given, escaped.
func statusText(status string, m *messages) (class, text string) {
	switch status {
	case "active":
		return "active", m.StatusActive
	case "disabled":
		return "disabled", m.StatusDisabled
	case "limited":
		return "limited", m.StatusLimited
	case "expired":
		return "expired", m.StatusExpired
	case "on_hold":
		return "on_hold", m.StatusOnHold
	}
	return "unknown", status
}
