package sub

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xtls/xray-core/infra/conf/serial"
	_ "github.com/xtls/xray-core/main/distro/all"
	"golang.org/x/crypto/curve25519"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

const panelAddress = "panel.example.com"

func buildXray(t testing.TB, cfg []byte) {
	t.Helper()
	c, err := serial.DecodeJSONConfig(bytes.NewReader(cfg))
	if err != nil {
		t.Fatalf("xray decode: %v\n%s", err, cfg)
	}
	if _, err := c.Build(); err != nil {
		t.Fatalf("xray build: %v\n%s", err, cfg)
	}
}

// golden compares got with testdata/name, or rewrites it when
// UPDATE_GOLDEN is set.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\ngot  %s\nwant %s\n(UPDATE_GOLDEN=1 regenerates)", path, i+1, g, w)
			}
		}
	}
}

// linkFixture is the server config of every linkable combo on fixed ports,
// checked by Xray, and the links of the test user with default hosts.
func linkFixture(t *testing.T) ([]combo, []xrayconf.Inbound, []string) {
	t.Helper()
	combos := linkable()
	cfg := serverConfig(t, combos, fixedPorts, testUser(), "127.0.0.1:8443")
	buildXray(t, cfg)
	ins := mustParse(t, cfg)
	links := Links(testUser(), ins, nil, panelAddress)
	if len(links) != len(combos) {
		t.Fatalf("got %d links for %d inbounds:\n%s", len(links), len(combos), strings.Join(links, "\n"))
	}
	return combos, ins, links
}

func TestGoldenLinks(t *testing.T) {
	_, _, links := linkFixture(t)
	byProto := map[string][]string{}
	for _, l := range links {
		scheme, _, _ := strings.Cut(l, "://")
		byProto[scheme] = append(byProto[scheme], l)
	}
	for _, scheme := range []string{"vless", "vmess", "trojan", "ss"} {
		golden(t, scheme+".golden", strings.Join(byProto[scheme], "\n")+"\n")
	}
}

func TestLinksParseBack(t *testing.T) {
	combos, _, links := linkFixture(t)
	pub, err := curve25519.X25519(mustB64URL(t, realityPrivateKey), curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	realityPub := base64.RawURLEncoding.EncodeToString(pub)
	for i, c := range combos {
		t.Run(c.tag(), func(t *testing.T) {
			l, err := parseShareLink(links[i])
			if err != nil {
				t.Fatalf("%s: %v", links[i], err)
			}
			if l.host != panelAddress || l.port != 30000+i || l.remark != c.tag()+" (alice)" {
				t.Errorf("host %q port %d remark %q", l.host, l.port, l.remark)
			}
			switch c.proto {
			case "vless", "trojan":
				checkURLLink(t, c, l, realityPub)
			case "vmess":
				checkVMessLink(t, c, l)
			case "shadowsocks":
				checkSSLink(t, c, l)
			}
		})
	}
}

func mustB64URL(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectedTransport is what the fixture's transport settings must become.
func expectedTransport(c combo) map[string]string {
	switch c.transport {
	case "raw":
		return map[string]string{"headerType": "none"}
	case "raw-http":
		return map[string]string{"headerType": "http", "path": httpPath, "host": httpHost}
	case "ws":
		return map[string]string{"path": wsPath, "host": "ws.test"}
	case "httpupgrade":
		return map[string]string{"path": huPath, "host": "up.test"}
	case "xhttp":
		return map[string]string{"path": xhttpPath, "mode": "packet-up"}
	case "grpc":
		mode := "gun"
		if c.proto == "vless" {
			mode = "multi"
		}
		return map[string]string{"serviceName": grpcService, "mode": mode}
	case "kcp":
		return map[string]string{"headerType": "wechat-video", "seed": kcpSeed}
	}
	panic(c.transport)
}

func expectedALPN(c combo) string {
	switch c.transport {
	case "ws", "httpupgrade":
		return "http/1.1"
	case "grpc":
		return "h2"
	case "xhttp":
		return "h2,http/1.1"
	}
	return ""
}

func checkURLLink(t *testing.T, c combo, l shareLink, realityPub string) {
	want := expectedTransport(c)
	want["type"] = c.network()
	want["security"] = c.security
	switch c.security {
	case "tls":
		want["sni"] = tlsSNI
		want["pcs"] = testCertSHA256
		if a := expectedALPN(c); a != "" {
			want["alpn"] = a
		}
	case "reality":
		want["sni"] = realitySNI
		want["fp"] = "chrome"
		want["pbk"] = realityPub
		want["sid"] = realityShortID
	}
	switch c.proto {
	case "vless":
		want["encryption"] = "none"
		if c.transport == "raw" && c.security != "none" {
			want["flow"] = testFlow
		}
		if l.user != testUUID {
			t.Errorf("uuid %q", l.user)
		}
	case "trojan":
		if l.user != testTrojanPass {
			t.Errorf("password %q, want %q", l.user, testTrojanPass)
		}
	}
	if !reflect.DeepEqual(l.query, want) {
		t.Errorf("query\ngot  %v\nwant %v", l.query, want)
	}
}

var vmessKeys = []string{"v", "ps", "add", "port", "id", "aid", "scy", "net", "type", "host", "path", "tls", "sni", "alpn", "fp"}

func checkVMessLink(t *testing.T, c combo, l shareLink) {
	if !reflect.DeepEqual(l.vmessKeys, vmessKeys) {
		t.Errorf("vmess keys %v, want %v", l.vmessKeys, vmessKeys)
	}
	tr := expectedTransport(c)
	want := map[string]any{
		"v": "2", "ps": c.tag() + " (alice)", "add": panelAddress, "port": strconv.Itoa(l.port), "id": testUUID,
		"aid": "0", "scy": "auto", "net": c.network(), "type": "none", "host": tr["host"], "path": tr["path"],
		"tls": "", "sni": "", "alpn": "", "fp": "",
	}
	switch c.transport {
	case "raw", "raw-http":
		want["type"] = tr["headerType"]
	case "kcp":
		want["type"], want["path"] = tr["headerType"], tr["seed"]
	case "grpc":
		want["type"], want["path"] = tr["mode"], tr["serviceName"]
	case "xhttp":
		want["type"] = tr["mode"]
	}
	if c.security == "tls" {
		want["tls"], want["sni"], want["alpn"] = "tls", tlsSNI, expectedALPN(c)
	}
	if !reflect.DeepEqual(l.vmess, want) {
		t.Errorf("vmess\ngot  %v\nwant %v", l.vmess, want)
	}
}

func checkSSLink(t *testing.T, c combo, l shareLink) {
	if len(l.query) != 0 {
		t.Errorf("shadowsocks link has a query: %v", l.query)
	}
	method, pass := testSSMethod, testSSPass
	if c.ss2022 {
		method = ss2022Method
		pass = ss2022ServerKey + ":" + xrayconf.SS2022UserKey(ss2022Method, testSSPass)
	}
	if l.method != method || l.user != pass {
		t.Errorf("method %q password %q, want %q %q", l.method, l.user, method, pass)
	}
}

func TestVMessOverRealityHasNoLink(t *testing.T) {
	cfg := serverConfig(t, []combo{{proto: "vmess", transport: "raw", security: "reality"}}, fixedPorts, testUser(), "127.0.0.1:8443")
	buildXray(t, cfg) // Xray runs it; only the link format lacks the words
	if links := Links(testUser(), mustParse(t, cfg), nil, panelAddress); len(links) != 0 {
		t.Fatalf("links = %v", links)
	}
}

func TestLinksMembership(t *testing.T) {
	combos := []combo{
		{proto: "vless", transport: "raw", security: "none"},
		{proto: "vless", transport: "ws", security: "none"},
		{proto: "trojan", transport: "raw", security: "none"},
		{proto: "shadowsocks", transport: "raw", security: "none"},
	}
	cfg := serverConfig(t, combos, fixedPorts, testUser(), "")
	ins := mustParse(t, cfg)
	ins = append(ins, xrayconf.Inbound{Tag: "socks in", Protocol: "socks", Port: 1080, Network: "tcp", Security: "none"})
	tags := func(links []string) []string {
		var out []string
		for _, s := range links {
			l, err := parseShareLink(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l.remark)
		}
		return out
	}
	tests := []struct {
		name  string
		edit  func(u *model.User)
		hosts map[string][]Host
		want  []string
	}{
		{"all", nil, nil, []string{"vless raw none (alice)", "vless ws none (alice)", "trojan raw none (alice)", "shadowsocks raw none (alice)"}},
		{"excluded inbound", func(u *model.User) { u.ExcludedInbounds = map[string][]string{"vless": {"vless ws none"}} }, nil,
			[]string{"vless raw none (alice)", "trojan raw none (alice)", "shadowsocks raw none (alice)"}},
		{"exclusion of another protocol's tag does not apply", func(u *model.User) { u.ExcludedInbounds = map[string][]string{"trojan": {"vless ws none"}} }, nil,
			[]string{"vless raw none (alice)", "vless ws none (alice)", "trojan raw none (alice)", "shadowsocks raw none (alice)"}},
		{"no trojan credentials", func(u *model.User) { delete(u.Proxies, "trojan") }, nil,
			[]string{"vless raw none (alice)", "vless ws none (alice)", "shadowsocks raw none (alice)"}},
		{"empty vless id", func(u *model.User) { u.Proxies["vless"] = model.ProxySettings{} }, nil,
			[]string{"trojan raw none (alice)", "shadowsocks raw none (alice)"}},
		{"hosts: removed, disabled, two", nil, map[string][]Host{
			"vless raw none": {},
			"vless ws none":  {{Remark: "off", Address: "a.test", IsDisabled: true}, {Remark: "one", Address: "b.test"}, {Remark: "two", Address: "c.test"}},
		}, []string{"one", "two", "trojan raw none (alice)", "shadowsocks raw none (alice)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := testUser()
			if tc.edit != nil {
				tc.edit(u)
			}
			if got := tags(Links(u, ins, tc.hosts, panelAddress)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// seq is a deterministic Rand: it returns the values in order, modulo n.
func seq(vals ...int) func(int) int {
	i := 0
	return func(n int) int {
		v := vals[i%len(vals)] % n
		i++
		return v
	}
}

func TestHostOverrides(t *testing.T) {
	combos := []combo{
		{proto: "vless", transport: "ws", security: "tls"},
		{proto: "trojan", transport: "grpc", security: "none"},
		{proto: "vmess", transport: "ws", security: "none"},
		{proto: "vless", transport: "raw", security: "reality"},
		{proto: "shadowsocks", transport: "raw", security: "none"},
	}
	ins := mustParse(t, serverConfig(t, combos, fixedPorts, testUser(), "127.0.0.1:8443"))
	u := testUser()
	u.UsedTraffic = 1536 << 20
	u.DataLimit = 10 << 30
	u.Expire = time.Date(2025, 3, 21, 12, 0, 0, 0, time.UTC).Unix()
	now := time.Date(2025, 3, 11, 6, 0, 0, 0, time.UTC)
	opt := Options{Now: now, Rand: seq(1), ServerIP: "203.0.113.9"}

	type check struct {
		host   Host
		tag    string
		expect func(t *testing.T, l shareLink, raw string)
	}
	q := func(key, want string) func(t *testing.T, l shareLink, raw string) {
		return func(t *testing.T, l shareLink, raw string) {
			t.Helper()
			got, ok := l.query[key]
			if want == "<absent>" {
				if ok {
					t.Errorf("%s = %q, want absent in %s", key, got, raw)
				}
				return
			}
			if got != want {
				t.Errorf("%s = %q, want %q in %s", key, got, want, raw)
			}
		}
	}
	all := func(fs ...func(t *testing.T, l shareLink, raw string)) func(t *testing.T, l shareLink, raw string) {
		return func(t *testing.T, l shareLink, raw string) {
			t.Helper()
			for _, f := range fs {
				f(t, l, raw)
			}
		}
	}
	field := func(name string, got func(l shareLink) any, want any) func(t *testing.T, l shareLink, raw string) {
		return func(t *testing.T, l shareLink, raw string) {
			t.Helper()
			if g := got(l); !reflect.DeepEqual(g, want) {
				t.Errorf("%s = %#v, want %#v in %s", name, g, want, raw)
			}
		}
	}
	remark := func(want string) func(t *testing.T, l shareLink, raw string) {
		return field("remark", func(l shareLink) any { return l.remark }, want)
	}
	hostIs := func(want string) func(t *testing.T, l shareLink, raw string) {
		return field("host", func(l shareLink) any { return l.host }, want)
	}
	rawHas := func(sub string) func(t *testing.T, l shareLink, raw string) {
		return func(t *testing.T, l shareLink, raw string) {
			t.Helper()
			if !strings.Contains(raw, sub) {
				t.Errorf("link %s does not contain %s", raw, sub)
			}
		}
	}
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}\.cdn\.test$`)

	tests := []struct {
		name string
		check
	}{
		{"unicode, spaces, # and & in remark", check{Host{Remark: "Ünïcødé 🚀 #1 & co", Address: "a.test"}, "vless ws tls",
			all(remark("Ünïcødé 🚀 #1 & co"), rawHas("#%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%F0%9F%9A%80%20%231%20%26%20co"))}},
		{"special path", check{Host{Remark: "p", Address: "a.test", Path: "/a b#c&d?e=f+g"}, "vless ws tls",
			all(q("path", "/a b#c&d?e=f+g"), rawHas("&path=%2Fa%20b%23c%26d%3Fe%3Df%2Bg&"))}},
		{"IPv6 address", check{Host{Remark: "v6", Address: "2001:db8::1"}, "vless ws tls",
			all(hostIs("2001:db8::1"), rawHas("@[2001:db8::1]:30000?"))}},
		{"IPv6 already bracketed", check{Host{Remark: "v6", Address: "[::1]", Port: 8443}, "trojan grpc none",
			all(hostIs("::1"), rawHas("@[::1]:8443?"))}},
		{"quotes and unicode in a vmess remark", check{Host{Remark: `He said "hi" \ 😀 #&`, Address: "a.test"}, "vmess ws none",
			remark(`He said "hi" \ 😀 #&`)}},
		{"IPv6 in vmess stays bare", check{Host{Remark: "v6", Address: "2001:db8::2"}, "vmess ws none",
			hostIs("2001:db8::2")}},
		{"IPv6 in shadowsocks", check{Host{Remark: "v6", Address: "2001:db8::3"}, "shadowsocks raw none",
			all(hostIs("2001:db8::3"), rawHas("@[2001:db8::3]:30004#"))}},
		{"IDN address", check{Host{Remark: "idn", Address: "bücher.example"}, "trojan grpc none",
			hostIs("xn--bcher-kva.example")}},
		{"port override", check{Host{Remark: "p", Address: "a.test", Port: 2083}, "vless ws tls",
			field("port", func(l shareLink) any { return l.port }, 2083)}},
		{"tls settings from host", check{Host{Remark: "t", Address: "a.test", SNI: "sni.test", ALPN: "h2", Fingerprint: "firefox", AllowInsecure: true,
			PinnedPeerCertSHA256: "aa", VerifyPeerCertByName: "v.test"}, "vless ws tls",
			all(q("sni", "sni.test"), q("alpn", "h2"), q("fp", "firefox"), q("allowInsecure", "1"), q("pcs", "aa"), q("vcn", "v.test"))}},
		{"security none on a tls inbound", check{Host{Remark: "n", Address: "a.test", Security: "none"}, "vless ws tls",
			all(q("security", "none"), q("sni", "<absent>"), q("pcs", "<absent>"), q("alpn", "<absent>"))}},
		{"tls in front of a plain inbound", check{Host{Remark: "cdn", Address: "cdn.test", Security: "tls", SNI: "cdn.test"}, "trojan grpc none",
			all(q("security", "tls"), q("sni", "cdn.test"), q("pcs", "<absent>"))}},
		{"tls in front of plain vmess", check{Host{Remark: "cdn", Address: "cdn.test", Security: "tls", SNI: "cdn.test", ALPN: "http/1.1"}, "vmess ws none",
			all(field("tls", func(l shareLink) any { return l.vmess["tls"] }, "tls"), field("sni", func(l shareLink) any { return l.vmess["sni"] }, "cdn.test"),
				field("alpn", func(l shareLink) any { return l.vmess["alpn"] }, "http/1.1"))}},
		{"tls host on shadowsocks gives no link", check{Host{Remark: "x", Address: "a.test", Security: "tls"}, "shadowsocks raw none", nil}},
		{"security none on reality drops flow", check{Host{Remark: "n", Address: "a.test", Security: "none"}, "vless raw reality",
			all(q("security", "none"), q("flow", "<absent>"), q("pbk", "<absent>"))}},
		{"reality sni and fingerprint from host", check{Host{Remark: "r", Address: "a.test", SNI: "other.test", Fingerprint: "safari"}, "vless raw reality",
			all(q("sni", "other.test"), q("fp", "safari"), q("flow", testFlow))}},
		{"comma lists pick one", check{Host{Remark: "c", Address: "a.test, b.test,c.test", SNI: "s1.test,s2.test", Host: "h1.test,h2.test"}, "vless ws tls",
			all(hostIs("b.test"), q("sni", "s2.test"), q("host", "h2.test"))}},
		{"wildcard becomes random hex", check{Host{Remark: "w", Address: "a.test", Host: "*.cdn.test"}, "vless ws tls",
			func(t *testing.T, l shareLink, raw string) {
				if !hex16.MatchString(l.query["host"]) {
					t.Errorf("host = %q", l.query["host"])
				}
			}}},
		{"sni as host", check{Host{Remark: "s", Address: "a.test", SNI: "sni.test", UseSNIAsHost: true}, "vless ws tls",
			q("host", "sni.test")}},
		{"grpc: host path is the service name, host the authority", check{Host{Remark: "g", Address: "a.test", Path: "other svc", Host: "auth.test"}, "trojan grpc none",
			all(q("serviceName", "other svc"), q("authority", "auth.test"), q("path", "<absent>"))}},
		{"variables", check{Host{Remark: "{USERNAME} {PROTOCOL}/{TRANSPORT} {DATA_USAGE}/{DATA_LIMIT} left {DATA_LEFT} {DAYS_LEFT}d {TIME_LEFT} {EXPIRE_DATE} {JALALI_EXPIRE_DATE} {STATUS_EMOJI}{STATUS_TEXT} {UNKNOWN} {", Address: "{SERVER_IP}", Path: "/{USERNAME}"}, "vless ws tls",
			all(remark("alice vless/ws 1.5 GB/10 GB left 8.5 GB 10d 10d 6h 2025-03-21 1404-01-01 ✅Active {UNKNOWN} {"), hostIs("203.0.113.9"), q("path", "/alice"))}},
		{"empty address falls back to the default", check{Host{Remark: "d"}, "vless ws tls", hostIs(panelAddress)}},
		{"address with a port gives no link", check{Host{Remark: "hp", Address: "a.test:8443"}, "trojan grpc none", nil}},
		{"address with a space gives no link", check{Host{Remark: "sp", Address: "a test"}, "trojan grpc none", nil}},
		{"IPv6 with a zone", check{Host{Remark: "zone", Address: "fe80::1%eth0"}, "trojan grpc none",
			all(hostIs("fe80::1%eth0"), rawHas("@[fe80::1%25eth0]:30001?"))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt := opt
			opt.Rand = seq(1)
			links := LinksWith(u, ins, map[string][]Host{tc.tag: {tc.host}}, panelAddress, opt)
			var found []string
			for _, s := range links {
				l, err := parseShareLink(s)
				if err != nil {
					t.Fatalf("%s: %v", s, err)
				}
				if !strings.HasSuffix(l.remark, " (alice)") { // not a default host's link
					found = append(found, s)
				}
			}
			if tc.expect == nil {
				if len(found) != 0 {
					t.Fatalf("want no link, got %v", found)
				}
				return
			}
			if len(found) != 1 {
				t.Fatalf("want one link for the host, got %v (all: %v)", found, links)
			}
			l, _ := parseShareLink(found[0])
			tc.expect(t, l, found[0])
		})
	}

	// The same host list renders the same links: golden for the whole set.
	hosts := map[string][]Host{}
	for _, tc := range tests {
		if !strings.Contains(tc.name, "wildcard") {
			hosts[tc.tag] = append(hosts[tc.tag], tc.host)
		}
	}
	opt.Rand = seq(1)
	first := LinksWith(u, ins, hosts, panelAddress, opt)
	opt.Rand = seq(1)
	if again := LinksWith(u, ins, hosts, panelAddress, opt); !reflect.DeepEqual(first, again) {
		t.Fatal("rendering is not deterministic")
	}
	golden(t, "hosts.golden", strings.Join(first, "\n")+"\n")
}

func TestEncodeBase64(t *testing.T) {
	_, _, links := linkFixture(t)
	raw, err := base64.StdEncoding.DecodeString(EncodeBase64(links))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(string(raw), "\n"); !reflect.DeepEqual(got, links) {
		t.Fatalf("decoded %d links, want %d", len(got), len(links))
	}
	if EncodeBase64(nil) != "" {
		t.Error("no links should give an empty body")
	}
}

func TestJalaliDate(t *testing.T) {
	tests := []struct {
		y    int
		m    time.Month
		d    int
		want string
	}{
		{2024, 3, 20, "1403-01-01"},
		{2025, 3, 20, "1403-12-30"}, // 1403 is a leap year
		{2025, 3, 21, "1404-01-01"},
		{2023, 3, 21, "1402-01-01"},
		{2023, 3, 20, "1401-12-29"},
		{2000, 1, 1, "1378-10-11"},
		{1979, 2, 11, "1357-11-22"},
		{2024, 9, 22, "1403-07-01"},
		{2024, 9, 21, "1403-06-31"},
	}
	for _, tc := range tests {
		if got := jalaliDate(time.Date(tc.y, tc.m, tc.d, 15, 0, 0, 0, time.UTC)); got != tc.want {
			t.Errorf("jalaliDate(%d-%02d-%02d) = %s, want %s", tc.y, tc.m, tc.d, got, tc.want)
		}
	}
}

func TestReadableSizeAndTimeLeft(t *testing.T) {
	sizes := map[int64]string{0: "0 B", -5: "0 B", 512: "512 B", 1024: "1 KB", 1536 << 20: "1.5 GB", 10 << 30: "10 GB", 1<<40 + 1<<38: "1.25 TB"}
	for n, want := range sizes {
		if got := readableSize(n); got != want {
			t.Errorf("readableSize(%d) = %s, want %s", n, got, want)
		}
	}
	durations := map[int64]string{0: "0s", 45: "45s", 125: "2min 5s", 3*3600 + 1200: "3h 20min", 5*86400 + 4*3600: "5d 4h", 65 * 86400: "2m 5d"}
	for s, want := range durations {
		if got := timeLeft(s); got != want {
			t.Errorf("timeLeft(%d) = %s, want %s", s, got, want)
		}
	}
}

func TestOnHoldVariables(t *testing.T) {
	u := testUser()
	u.Status = model.StatusOnHold
	u.OnHoldExpireDuration = 30 * 86400
	v := vars{u: u, now: time.Unix(1700000000, 0)}
	if got := v.expand("{DAYS_LEFT} {EXPIRE_DATE} {STATUS_TEXT} {DATA_LIMIT}", "vless", "tcp"); got != "30 ∞ On Hold ∞" {
		t.Errorf("got %q", got)
	}
}
