package page

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// TestHostileInputStaysData feeds markup through every user-controlled
// field and checks, on the parsed document, that it came back as text and
// attribute values only: no new element, no new attribute, no script.
// ("onerror=alert" may appear as escaped text; only the DOM check matters.)
func TestHostileInputStaysData(t *testing.T) {
	const evil = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	hostileLink := `vless://id@h:1?type=tcp&x="><script>alert(3)</script>#` + `%3Cscript%3Ealert(4)%3C%2Fscript%3E%22'`
	d := Data{
		Username:        evil,
		Status:          `"><svg onload=alert(5)>`,
		Used:            1,
		Limit:           2,
		Expire:          testNow.Add(time.Hour).Unix(),
		Links:           []string{hostileLink, vmessLink(`<\/script><img src=y onerror=alert(6)>`)},
		SubscriptionURL: `https://panel.example.com/sub/"><script>alert(7)</script>`,
		SupportURL:      `javascript:alert(8)`,
		Now:             testNow,
	}
	for _, lang := range []string{"en", "fa"} {
		d.Lang = lang
		page := render(t, d)
		for _, bad := range []string{"<script>alert", "<img", "<svg onload", "javascript:"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s: raw %q in page", lang, bad)
			}
		}
		doc := parse(t, page)
		counts := map[string]int{}
		var inputs []string
		walk(doc, func(n *html.Node) {
			if n.Type != html.ElementNode {
				return
			}
			counts[n.Data]++
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("%s: event handler attribute %s on <%s>", lang, a.Key, n.Data)
				}
			}
			if n.Data == "input" {
				inputs = append(inputs, attr(n, "value"))
			}
			if n.Data == "h1" && text(n) != evil {
				t.Errorf("%s: h1 text %q, want the username verbatim", lang, text(n))
			}
		})
		if counts["script"] != 1 || counts["img"] != 0 {
			t.Errorf("%s: %d script and %d img elements, want 1 and 0", lang, counts["script"], counts["img"])
		}
		// Inputs hold exactly what the user must copy, decoded by the parser
		// back to the original bytes.
		want := []string{d.SubscriptionURL, d.Links[0], d.Links[1]}
		if strings.Join(inputs, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: input values\n%q\nwant\n%q", lang, inputs, want)
		}
		if !strings.Contains(page, "#ZgotmplZ") {
			t.Errorf("%s: javascript: support URL was not neutralised", lang)
		}
	}
}
