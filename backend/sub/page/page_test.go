package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// previewDir, when set, receives every golden page as an .html file to open
// in a browser.
var previewDir = flag.String("preview", "", "also write rendered pages to this directory")

var testNow = time.Date(2026, time.November, 26, 12, 0, 0, 0, time.UTC)

const gib = int64(1) << 30

func vmessLink(ps string) string {
	j := `{"v":"2","ps":"` + ps + `","add":"cdn.example.com","port":"443","id":"b831381d-6324-4d53-ad4f-8cda48b30811","aid":"0","scy":"auto","net":"ws","type":"none","host":"cdn.example.com","path":"/ws","tls":"tls","sni":"cdn.example.com","alpn":"","fp":"chrome"}`
	return "vmess://" + base64.StdEncoding.EncodeToString([]byte(j))
}

func fixtureLinks() []string {
	return []string{
		"vless://b831381d-6324-4d53-ad4f-8cda48b30811@de1.example.com:443?encryption=none&type=tcp&security=reality&sni=www.microsoft.com&fp=chrome&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw&sid=6ba85179e30d4fc2&flow=xtls-rprx-vision#%F0%9F%87%A9%F0%9F%87%AA%20Germany%20Reality",
		vmessLink("NL WS TLS"),
		"trojan://s3cr3t-pass@fi.example.com:443?security=tls&type=grpc&serviceName=tr&sni=fi.example.com#Finland%20gRPC",
		"ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpwYXNzd29yZA@ss.example.com:8388#Shadowsocks",
	}
}

func fixtures() map[string]Data {
	base := Data{
		Username:        "alice_01",
		Links:           fixtureLinks(),
		SubscriptionURL: "https://panel.example.com/sub/YWxpY2VfMDEsMTc2NDE1ODQwMA3e1f2a9b0c",
		Now:             testNow,
		SupportURL:      "https://t.me/example_support",
	}
	active := base
	active.Status, active.Used, active.Limit = "active", 12*gib+gib/2, 50*gib
	active.Expire = testNow.Add(35*24*time.Hour + 3*time.Hour).Unix()

	unlimited := base
	unlimited.Status, unlimited.Used = "active", 3*gib+200<<20
	unlimited.SupportURL = ""

	expired := base
	expired.Status, expired.Used, expired.Limit = "expired", 9*gib+gib/2, 10*gib
	expired.Expire = testNow.Add(-50 * time.Hour).Unix()
	return map[string]Data{"active": active, "unlimited": unlimited, "expired": expired}
}

func render(t testing.TB, d Data) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.String()
}

func TestGolden(t *testing.T) {
	for _, lang := range []string{"en", "fa", "ru", "zh"} {
		for name, d := range fixtures() {
			t.Run(lang+"_"+name, func(t *testing.T) {
				d.Lang = lang
				got := render(t, d)
				path := filepath.Join("testdata", lang+"_"+name+".golden.html")
				if *previewDir != "" {
					if err := os.WriteFile(filepath.Join(*previewDir, lang+"_"+name+".html"), []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if updateGolden {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("reading golden (UPDATE_GOLDEN=1 regenerates): %v", err)
				}
				if got != string(want) {
					t.Errorf("page differs from %s (UPDATE_GOLDEN=1 regenerates); first difference near byte %d", path, firstDiff(got, string(want)))
				}
			})
		}
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestPageContent checks the facts each page must state, independently of
// the golden bytes, so a careless UPDATE_GOLDEN cannot bless a wrong page.
func TestPageContent(t *testing.T) {
	fx := fixtures()
	cases := []struct {
		lang, fixture string
		want          []string
		absent        []string
	}{
		{"en", "active", []string{`<html lang="en" dir="ltr">`, "Active", "12.5 GB", "50 GB", "37.5 GB", `max="100" value="25"`, "Expires on <bdi>2026-12-31</bdi>", "Days left: 36", "🇩🇪 Germany Reality", "NL WS TLS", "Finland gRPC"}, []string{"Unlimited"}},
		{"en", "unlimited", []string{"3.2 GB", "Unlimited", "Never expires"}, []string{"<progress", "Support"}},
		{"en", "expired", []string{"st-expired", "Expired on <bdi>2026-11-24</bdi>", `max="100" value="95"`, `class="near"`}, []string{"Days left"}},
		{"fa", "active", []string{`<html lang="fa" dir="rtl">`, "فعال", "12.5 گیگابایت", "1405/10/10", "روزهای باقی‌مانده: 36", "نمایش کد QR", "کپی: NL WS TLS"}, []string{"Show QR code"}},
		{"fa", "expired", []string{"منقضی شده در <bdi>1405/09/03</bdi>"}, nil},
		{"ru", "active", []string{`<html lang="ru" dir="ltr">`, "Активна", "12,5 ГБ", "31.12.2026", "Осталось дней: 36", "Показать QR-код"}, []string{"Show QR code"}},
		{"zh", "unlimited", []string{"不限量", "永不过期", "3.2 GB"}, nil},
		{"zh", "active", []string{"2026年12月31日", "剩余天数： 36"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.lang+"_"+tc.fixture, func(t *testing.T) {
			d := fx[tc.fixture]
			d.Lang = tc.lang
			got := render(t, d)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("page unexpectedly contains %q", a)
				}
			}
		})
	}
}

func TestDeepLinks(t *testing.T) {
	d := fixtures()["active"]
	d.SubscriptionURL = "https://panel.example.com/sub/tok?x=1&y=2"
	doc := parse(t, render(t, d))
	var hrefs []string
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			hrefs = append(hrefs, attr(n, "href"))
		}
	})
	want := []string{
		"v2rayng://install-config?url=https%3A%2F%2Fpanel.example.com%2Fsub%2Ftok%3Fx%3D1%26y%3D2",
		"hiddify://import/https://panel.example.com/sub/tok?x=1&y=2#alice_01",
		"sing-box://import-remote-profile?url=https%3A%2F%2Fpanel.example.com%2Fsub%2Ftok%3Fx%3D1%26y%3D2#alice_01",
		"streisand://import/https://panel.example.com/sub/tok?x=1&y=2#alice_01",
		"clash://install-config?url=https%3A%2F%2Fpanel.example.com%2Fsub%2Ftok%3Fx%3D1%26y%3D2",
		"https://t.me/example_support",
	}
	if strings.Join(hrefs, "\n") != strings.Join(want, "\n") {
		t.Errorf("hrefs:\n%s\nwant:\n%s", strings.Join(hrefs, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoSubscriptionURLOmitsImport(t *testing.T) {
	d := fixtures()["active"]
	d.SubscriptionURL = ""
	got := render(t, d)
	if strings.Contains(got, "install-config") || strings.Contains(got, `id="sub-url"`) {
		t.Error("import section rendered without a subscription URL")
	}
}

func TestUnknownLangAndStatus(t *testing.T) {
	d := fixtures()["active"]
	d.Lang, d.Status = "de", "<b>weird</b>"
	got := render(t, d)
	if !strings.Contains(got, `<html lang="en" dir="ltr">`) {
		t.Error("unknown language did not fall back to English")
	}
	if !strings.Contains(got, `st-unknown">&lt;b&gt;weird&lt;/b&gt;<`) {
		t.Error("unknown status not shown escaped with the neutral class")
	}
}

func TestEveryLanguageComplete(t *testing.T) {
	for lang, m := range catalog {
		for name, v := range stringFields(m) {
			if strings.TrimSpace(v) == "" && name != "DateLayout" {
				t.Errorf("%s: %s is empty", lang, name)
			}
		}
		if m.DateLayout == "" && !m.Jalali {
			t.Errorf("%s: no date format", lang)
		}
		if m.Dir != "ltr" && m.Dir != "rtl" {
			t.Errorf("%s: dir %q", lang, m.Dir)
		}
	}
}

func parse(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parsing page: %v", err)
	}
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

func TestContentSecurityPolicyMatchesPage(t *testing.T) {
	page := render(t, fixtures()["active"])
	doc := parse(t, page)
	for _, tag := range []string{"style", "script"} {
		var bodies []string
		walk(doc, func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == tag {
				bodies = append(bodies, text(n))
			}
		})
		if len(bodies) != 1 {
			t.Fatalf("%d <%s> elements, want 1", len(bodies), tag)
		}
		sum := sha256.Sum256([]byte(bodies[0]))
		want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(ContentSecurityPolicy, tag+"-src "+want) {
			t.Errorf("CSP %q does not allow the rendered <%s> (%s)", ContentSecurityPolicy, tag, want)
		}
	}
	// Inline style attributes would need 'unsafe-inline'; the page has none.
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, "style") != "" {
			t.Errorf("<%s> has a style attribute the CSP blocks", n.Data)
		}
	})
}
