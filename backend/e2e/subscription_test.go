package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// subCase is one inbound of the subscription test: the link for it must
// carry real bytes through the node.
type subCase struct {
	tag, proto, network, security string
}

var subCases = []subCase{
	{"sub-vless-tcp", "vless", "raw", "none"},
	{"sub-vless-ws", "vless", "ws", "none"},
	{"sub-vmess-ws", "vmess", "ws", "none"},
	{"sub-trojan-tls", "trojan", "raw", "tls"},
	{"sub-vless-tls", "vless", "raw", "tls"},
	{"sub-ss", "shadowsocks", "raw", "none"},
}

// selfSignedCert returns a PEM certificate and key for name and 127.0.0.1,
// and the SHA-256 of the certificate's DER (what clients pin).
func selfSignedCert(t *testing.T, name string) (certPEM, keyPEM, pin string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // a self-signed leaf is its own issuer
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		hex.EncodeToString(sum[:])
}

// subServerConfig is a node config with one inbound per subCase on
// 127.0.0.1, TLS ones with the certificate inline.
func subServerConfig(ports map[string]int, certPEM, keyPEM string) []byte {
	lines := func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
	var inbounds []any
	for _, c := range subCases {
		settings := map[string]any{"clients": []any{}}
		switch c.proto {
		case "vless":
			settings["decryption"] = "none"
		case "shadowsocks":
			settings["network"] = "tcp"
		}
		stream := map[string]any{"network": c.network, "security": c.security}
		if c.network == "ws" {
			stream["wsSettings"] = map[string]any{"path": "/" + c.tag}
		}
		if c.security == "tls" {
			stream["tlsSettings"] = map[string]any{"certificates": []any{
				map[string]any{"certificate": lines(certPEM), "key": lines(keyPEM)},
			}}
		}
		ib := map[string]any{"tag": c.tag, "listen": "127.0.0.1", "port": ports[c.tag], "protocol": c.proto, "settings": settings}
		if c.proto != "shadowsocks" {
			ib["streamSettings"] = stream
		}
		inbounds = append(inbounds, ib)
	}
	b, err := json.Marshal(map[string]any{
		"log":      map[string]any{"loglevel": "error", "access": "none"},
		"inbounds": inbounds,
		"outbounds": []any{
			map[string]any{"tag": "direct", "protocol": "freedom"},
			map[string]any{"tag": "block", "protocol": "blackhole"},
		},
		"routing": map[string]any{"rules": []any{}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// TestSubscriptionLinksCarryTraffic: for every protocol and transport that
// runs on loopback, the share link from the user's subscription, parsed by
// this test's own reader of the share-link standard and turned into an Xray
// client config, moves real bytes through a real node. Every other format
// of the same subscription is served and non-empty.
func TestSubscriptionLinksCarryTraffic(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	ports := map[string]int{}
	byPort := map[int]subCase{}
	for _, c := range subCases {
		ports[c.tag] = lowPort(t)
		byPort[ports[c.tag]] = c
	}
	certPEM, keyPEM, pin := selfSignedCert(t, "outpost-e2e.test")
	p.mustCall(t, "PUT", "/api/core/config", subServerConfig(ports, certPEM, keyPEM), nil)
	n := p.createNode(t, "edge-sub")
	nd := startNode(t, p.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected", func() bool { return nd.health(t).Connected })

	p.createUser(t, "subuser", nil)
	var u struct {
		SubscriptionURL string `json:"subscription_url"`
	}
	p.mustCall(t, "GET", "/api/user/subuser", nil, &u)
	subURL, err := url.Parse(u.SubscriptionURL)
	if err != nil || !strings.HasPrefix(subURL.Path, "/sub/") {
		t.Fatalf("subscription_url %q: not a /sub/ URL (%v)", u.SubscriptionURL, err)
	}
	// The panel derives the URL from our request's Host; fetch it as given.
	base := strings.TrimRight(u.SubscriptionURL, "/")

	body, _ := fetchSub(t, base+"/v2ray", "text/plain")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(body)))
	if err != nil {
		t.Fatalf("v2ray subscription is not standard base64: %v", err)
	}
	links := strings.Split(strings.TrimSpace(string(raw)), "\n")

	parsed := map[string]shareLink{}
	for _, line := range links {
		l, err := parseShareLink(line)
		if err != nil {
			t.Errorf("link %q: %v", line, err)
			continue
		}
		c, ok := byPort[l.Port]
		if !ok {
			t.Errorf("link %q: port %d is none of the test's inbounds", line, l.Port)
			continue
		}
		if _, dup := parsed[c.tag]; dup {
			t.Errorf("two links for inbound %s", c.tag)
		}
		parsed[c.tag] = l
	}

	echo := xraytest.StartEcho(t)
	msg := xraytest.Payload(32 << 10)
	for _, c := range subCases {
		t.Run(c.tag, func(t *testing.T) {
			l, ok := parsed[c.tag]
			if !ok {
				t.Fatalf("no link for inbound %s in the subscription (%d links)", c.tag, len(links))
			}
			if l.Proto != c.proto || l.Network != c.network || l.Security != c.security {
				t.Errorf("link says %s/%s/%s; inbound is %s/%s/%s", l.Proto, l.Network, l.Security, c.proto, c.network, c.security)
			}
			if c.network == "ws" && l.Path != "/"+c.tag {
				t.Errorf("ws path %q; want %q", l.Path, "/"+c.tag)
			}
			if c.security == "tls" && !strings.EqualFold(strings.ReplaceAll(l.PCS, ":", ""), pin) {
				t.Errorf("pinned certificate hash %q; want %s", l.PCS, pin)
			}
			out, err := l.xrayOutbound()
			if err != nil {
				t.Fatal(err)
			}
			socks := xraytest.StartClient(t, out)
			var last error
			defer func() {
				if t.Failed() && last != nil {
					t.Logf("last round trip through %s: %v", c.tag, last)
				}
			}()
			waitFor(t, 20*time.Second, "bytes through "+c.tag, func() bool {
				last = xraytest.RoundTripWithin(socks, echo, msg, 3*time.Second)
				return last == nil
			})
		})
	}

	// The other formats: served, typed and non-empty for the same user.
	for _, f := range []struct{ name, contentType string }{
		{"v2ray-json", "application/json"},
		{"clash", "yaml"},
		{"clash-meta", "yaml"},
		{"sing-box", "application/json"},
		{"outline", "application/json"},
	} {
		t.Run("format-"+f.name, func(t *testing.T) {
			body, _ := fetchSub(t, base+"/"+f.name, f.contentType)
			switch f.name {
			case "v2ray-json":
				var configs []struct {
					Outbounds []json.RawMessage `json:"outbounds"`
				}
				if err := json.Unmarshal(body, &configs); err != nil || len(configs) == 0 || len(configs[0].Outbounds) == 0 {
					t.Errorf("v2ray-json: want a non-empty array of configs with outbounds (%v): %.300s", err, body)
				}
			case "sing-box":
				var cfg struct {
					Outbounds []json.RawMessage `json:"outbounds"`
				}
				if err := json.Unmarshal(body, &cfg); err != nil || len(cfg.Outbounds) == 0 {
					t.Errorf("sing-box: want outbounds (%v): %.300s", err, body)
				}
			case "clash", "clash-meta":
				var cfg struct {
					Proxies []map[string]any `yaml:"proxies"`
				}
				if err := yaml.Unmarshal(body, &cfg); err != nil || len(cfg.Proxies) == 0 {
					t.Errorf("%s: want proxies (%v): %.300s", f.name, err, body)
				}
			case "outline":
				var key struct {
					Server     string `json:"server"`
					ServerPort int    `json:"server_port"`
					Password   string `json:"password"`
					Method     string `json:"method"`
				}
				if err := json.Unmarshal(body, &key); err != nil || key.ServerPort != ports["sub-ss"] || key.Password == "" || key.Method == "" {
					t.Errorf("outline: want the shadowsocks key on port %d (%v): %.300s", ports["sub-ss"], err, body)
				}
			}
		})
	}
}

// fetchSub GETs a subscription URL and checks status, content type and a
// non-empty body.
func fetchSub(t *testing.T, u, wantType string) ([]byte, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %.300s", u, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, wantType) {
		t.Errorf("GET %s: Content-Type %q; want one containing %q", u, ct, wantType)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		t.Fatalf("GET %s: empty body", u)
	}
	return body, resp.Header
}

// shareLink is what a client reads from one share link (REFERENCE §4).
type shareLink struct {
	Proto                    string // vless, vmess, trojan, shadowsocks
	Address                  string
	Port                     int
	ID, Password, Method     string
	Flow                     string
	Network, Security        string // network normalized: tcp -> raw
	SNI, FP, ALPN, PCS       string
	HeaderType, Path, Host   string
	ServiceName, Remark, VCN string
}

func parseShareLink(s string) (shareLink, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return shareLink{}, fmt.Errorf("no scheme")
	}
	switch scheme {
	case "vless", "trojan":
		return parseURLLink(scheme, s)
	case "vmess":
		return parseVMessLink(rest)
	case "ss":
		return parseSSLink(s)
	}
	return shareLink{}, fmt.Errorf("unknown scheme %q", scheme)
}

func hostPort(u *url.URL) (string, int, error) {
	port, err := strconv.Atoi(u.Port())
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", u.Port())
	}
	if u.Hostname() == "" {
		return "", 0, fmt.Errorf("no host")
	}
	return u.Hostname(), port, nil
}

func normNetwork(n string) string {
	if n == "" || n == "tcp" {
		return "raw"
	}
	return n
}

func parseURLLink(scheme, s string) (shareLink, error) {
	u, err := url.Parse(s)
	if err != nil {
		return shareLink{}, err
	}
	l := shareLink{Proto: scheme, Remark: u.Fragment}
	if l.Address, l.Port, err = hostPort(u); err != nil {
		return l, err
	}
	if u.User == nil || u.User.Username() == "" {
		return l, fmt.Errorf("no credentials")
	}
	if scheme == "vless" {
		l.ID = u.User.Username()
	} else {
		l.Password = u.User.Username()
	}
	q := u.Query()
	if scheme == "vless" && q.Get("encryption") != "none" {
		return l, fmt.Errorf("vless link without encryption=none")
	}
	if _, ok := q["security"]; !ok {
		return l, fmt.Errorf("no security parameter")
	}
	l.Network = normNetwork(q.Get("type"))
	l.Security = q.Get("security")
	l.SNI, l.FP, l.ALPN, l.PCS, l.VCN = q.Get("sni"), q.Get("fp"), q.Get("alpn"), q.Get("pcs"), q.Get("vcn")
	l.Flow, l.HeaderType = q.Get("flow"), q.Get("headerType")
	l.Path, l.Host, l.ServiceName = q.Get("path"), q.Get("host"), q.Get("serviceName")
	return l, nil
}

func parseVMessLink(b64 string) (shareLink, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return shareLink{}, fmt.Errorf("vmess payload is not standard base64: %w", err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return shareLink{}, fmt.Errorf("vmess payload: %w", err)
	}
	str := func(k string) string {
		switch x := v[k].(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return ""
	}
	if str("v") != "2" {
		return shareLink{}, fmt.Errorf("vmess v=%q; want 2", str("v"))
	}
	port, err := strconv.Atoi(str("port"))
	if err != nil {
		return shareLink{}, fmt.Errorf("vmess port %q", str("port"))
	}
	l := shareLink{Proto: "vmess", Address: str("add"), Port: port, ID: str("id"), Remark: str("ps"),
		Network: normNetwork(str("net")), HeaderType: str("type"), Host: str("host"), Path: str("path"),
		SNI: str("sni"), ALPN: str("alpn"), FP: str("fp"), Security: "none"}
	if str("tls") == "tls" {
		l.Security = "tls"
	}
	if l.Network == "grpc" {
		l.ServiceName, l.Path = l.Path, ""
	}
	if l.Address == "" || l.ID == "" {
		return l, fmt.Errorf("vmess link without address or id")
	}
	return l, nil
}

func parseSSLink(s string) (shareLink, error) {
	u, err := url.Parse(s)
	if err != nil {
		return shareLink{}, err
	}
	l := shareLink{Proto: "shadowsocks", Network: "raw", Security: "none", Remark: u.Fragment}
	if l.Address, l.Port, err = hostPort(u); err != nil {
		return l, err
	}
	if u.User == nil {
		return l, fmt.Errorf("no userinfo")
	}
	if pw, ok := u.User.Password(); ok {
		// SIP022: method:percent-encoded-password, not base64.
		l.Method, l.Password = u.User.Username(), pw
	} else {
		info := u.User.Username()
		var dec []byte
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
			if dec, err = enc.DecodeString(info); err == nil {
				break
			}
		}
		if err != nil {
			return l, fmt.Errorf("ss userinfo is not base64: %w", err)
		}
		var ok bool
		if l.Method, l.Password, ok = strings.Cut(string(dec), ":"); !ok {
			return l, fmt.Errorf("ss userinfo has no method:password")
		}
	}
	if l.Method == "" || l.Password == "" {
		return l, fmt.Errorf("ss link without method or password")
	}
	return l, nil
}

// xrayOutbound is the Xray client outbound a client builds from the link.
func (l shareLink) xrayOutbound() (json.RawMessage, error) {
	var settings map[string]any
	switch l.Proto {
	case "vless":
		user := map[string]any{"id": l.ID, "encryption": "none"}
		if l.Flow != "" {
			user["flow"] = l.Flow
		}
		settings = map[string]any{"vnext": []any{map[string]any{"address": l.Address, "port": l.Port, "users": []any{user}}}}
	case "vmess":
		settings = map[string]any{"vnext": []any{map[string]any{"address": l.Address, "port": l.Port,
			"users": []any{map[string]any{"id": l.ID, "security": "auto"}}}}}
	case "trojan":
		settings = map[string]any{"servers": []any{map[string]any{"address": l.Address, "port": l.Port, "password": l.Password}}}
	case "shadowsocks":
		settings = map[string]any{"servers": []any{map[string]any{"address": l.Address, "port": l.Port,
			"method": l.Method, "password": l.Password}}}
	default:
		return nil, fmt.Errorf("no outbound for %q", l.Proto)
	}
	stream := map[string]any{"network": l.Network, "security": l.Security}
	switch l.Network {
	case "raw":
		if l.HeaderType == "http" {
			req := map[string]any{"path": []string{first(l.Path, "/")}}
			if l.Host != "" {
				req["headers"] = map[string]any{"Host": strings.Split(l.Host, ",")}
			}
			stream["rawSettings"] = map[string]any{"header": map[string]any{"type": "http", "request": req}}
		}
	case "ws", "httpupgrade":
		stream[l.Network+"Settings"] = map[string]any{"path": l.Path, "host": l.Host}
	case "grpc":
		stream["grpcSettings"] = map[string]any{"serviceName": l.ServiceName}
	default:
		return nil, fmt.Errorf("network %q not exercised by this test", l.Network)
	}
	switch l.Security {
	case "none", "":
	case "tls":
		tls := map[string]any{"serverName": l.SNI}
		if l.FP != "" {
			tls["fingerprint"] = l.FP
		}
		if l.ALPN != "" {
			tls["alpn"] = strings.Split(l.ALPN, ",")
		}
		if l.PCS != "" {
			tls["pinnedPeerCertSha256"] = l.PCS
		}
		if l.VCN != "" {
			tls["verifyPeerCertByName"] = l.VCN
		}
		stream["tlsSettings"] = tls
	default:
		return nil, fmt.Errorf("security %q not exercised by this test", l.Security)
	}
	b, err := json.Marshal(map[string]any{"tag": "proxy", "protocol": l.Proto, "settings": settings, "streamSettings": stream})
	return b, err
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// TestSubscriptionUserAgentTable: the format each client's User-Agent
// gets from a real panel process, with Marzban's defaults (v2rayN,
// v2rayNG, Streisand and Happ get base64 links) and with its
// USE_CUSTOM_JSON_* switches, one set in the panel's environment as a
// Marzban .env writes it ("yes") and one through the API.
func TestSubscriptionUserAgentTable(t *testing.T) {
	p := startPanelEnv(t, t.TempDir(), "", nil, []string{"USE_CUSTOM_JSON_FOR_HAPP=yes", "USE_CUSTOM_JSON_FOR_V2RAYN=False"})
	u := p.createUser(t, "uatable", nil)
	var got struct {
		SubscriptionURL string `json:"subscription_url"`
	}
	p.mustCall(t, "GET", "/api/user/"+u.Username, nil, &got)
	base := strings.TrimRight(got.SubscriptionURL, "/")
	fetch := func(ua string) (string, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", base, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("UA %q: HTTP %d %v: %.200s", ua, resp.StatusCode, err, body)
		}
		return resp.Header.Get("Content-Type"), body
	}
	// format tells what a body is: links (base64 share links), xray-json
	// (an array of Xray configs), sing-box, or yaml (clash).
	format := func(ua string) string {
		t.Helper()
		ct, body := fetch(ua)
		switch {
		case strings.HasPrefix(ct, "text/plain"):
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(body)))
			if err != nil || !strings.Contains(string(raw), "vless://") {
				t.Fatalf("UA %q: text/plain that is not base64 links (%v): %.200s", ua, err, body)
			}
			return "links"
		case strings.HasPrefix(ct, "text/yaml"):
			return "yaml"
		case strings.HasPrefix(ct, "application/json") && strings.HasPrefix(strings.TrimSpace(string(body)), "["):
			var configs []struct {
				Outbounds []json.RawMessage `json:"outbounds"`
			}
			if err := json.Unmarshal(body, &configs); err != nil || len(configs) == 0 || len(configs[0].Outbounds) == 0 {
				t.Fatalf("UA %q: not an array of Xray configs (%v): %.200s", ua, err, body)
			}
			return "xray-json"
		case strings.HasPrefix(ct, "application/json"):
			return "json"
		}
		t.Fatalf("UA %q: %s", ua, ct)
		return ""
	}
	table := map[string]string{
		"v2rayN/7.10.5":    "links", // USE_CUSTOM_JSON_FOR_V2RAYN=False
		"v2rayN/6.30":      "links",
		"v2rayNG/1.9.1":    "links", // off: Marzban's default
		"Streisand/1.6.30": "links",
		"Happ/1.63.1":      "xray-json", // USE_CUSTOM_JSON_FOR_HAPP=yes
		"Happ/1.63.0":      "links",     // older than Happ's JSON import
		"clash-verge/v1.7": "yaml",
		"Stash/2.4":        "yaml",
		"SFA/1.10.0":       "json",
		"Outline/1.12":     "json",
		"curl/8.5":         "links",
	}
	for ua, want := range table {
		if got := format(ua); got != want {
			t.Errorf("UA %q: %s, want %s", ua, got, want)
		}
	}
	// A switch the environment does not set changes through the API; one
	// it sets does not.
	p.mustCall(t, "PUT", "/api/subscription/settings", map[string]any{"use_custom_json_for_v2rayng": true, "use_custom_json_for_streisand": true}, nil)
	table["v2rayNG/1.9.1"], table["Streisand/1.6.30"] = "xray-json", "xray-json"
	table["v2rayNG/1.8.20"] = "links"
	for ua, want := range table {
		if got := format(ua); got != want {
			t.Errorf("after PUT: UA %q: %s, want %s", ua, got, want)
		}
	}
	if code := p.call(t, "PUT", "/api/subscription/settings", map[string]any{"use_custom_json_for_v2rayn": true}, nil); code != 400 {
		t.Errorf("turning on a switch the environment turns off: HTTP %d, want 400", code)
	}
	if got := format("v2rayN/7.10.5"); got != "links" {
		t.Errorf("refused PUT: v2rayN gets %s", got)
	}
}
