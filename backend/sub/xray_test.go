package sub

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	xnet "github.com/xtls/xray-core/common/net"
	"github.com/xtls/xray-core/core"
	"github.com/xtls/xray-core/infra/conf/serial"
)

// vmessParams turns the vmess JSON into the query words of the other links,
// reading "type", "host" and "path" per transport as v2rayN does.
func vmessParams(l shareLink) map[string]string {
	s := func(k string) string { v, _ := l.vmess[k].(string); return v }
	q := map[string]string{"type": s("net"), "security": "none"}
	if s("tls") == "tls" {
		q["security"], q["sni"], q["alpn"], q["fp"] = "tls", s("sni"), s("alpn"), s("fp")
	}
	switch s("net") {
	case "tcp":
		q["headerType"], q["path"], q["host"] = s("type"), s("path"), s("host")
	case "kcp":
		q["headerType"], q["seed"] = s("type"), s("path")
	case "grpc":
		q["mode"], q["serviceName"], q["authority"] = s("type"), s("path"), s("host")
	case "xhttp":
		q["mode"], q["path"], q["host"] = s("type"), s("path"), s("host")
	default:
		q["path"], q["host"] = s("path"), s("host")
	}
	return q
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// kcpMasks maps a legacy headerType to Xray 26's finalmask UDP header.
var kcpMasks = map[string]string{
	"dns": "header-dns", "dtls": "header-dtls", "srtp": "header-srtp", "utp": "header-utp",
	"wechat-video": "header-wechat", "wireguard": "header-wireguard",
}

// clientOutbound is the Xray outbound a client builds from a parsed link.
// pin stands in for what a user does by hand for a link that cannot carry
// a certificate pin (vmess): trust the server's self-signed certificate.
func clientOutbound(t *testing.T, l shareLink, pin string) map[string]any {
	t.Helper()
	q := l.query
	out := map[string]any{"tag": "proxy"}
	switch l.scheme {
	case "vless":
		out["protocol"] = "vless"
		out["settings"] = map[string]any{"address": l.host, "port": l.port, "id": l.user, "encryption": q["encryption"], "flow": q["flow"]}
	case "trojan":
		out["protocol"] = "trojan"
		out["settings"] = map[string]any{"address": l.host, "port": l.port, "password": l.user}
	case "ss":
		out["protocol"] = "shadowsocks"
		out["settings"] = map[string]any{"address": l.host, "port": l.port, "method": l.method, "password": l.user}
		q = map[string]string{"type": "tcp", "security": "none"}
	case "vmess":
		out["protocol"] = "vmess"
		scy, _ := l.vmess["scy"].(string)
		out["settings"] = map[string]any{"address": l.host, "port": l.port, "id": l.user, "security": scy}
		q = vmessParams(l)
	default:
		t.Fatalf("scheme %s", l.scheme)
	}

	stream := map[string]any{"network": q["type"], "security": q["security"]}
	switch q["security"] {
	case "tls":
		tlsSettings := map[string]any{"serverName": q["sni"], "fingerprint": q["fp"]}
		if a := splitList(q["alpn"]); a != nil {
			tlsSettings["alpn"] = a
		}
		// allowInsecure is gone from Xray 26 clients; pcs replaces it.
		tlsSettings["pinnedPeerCertSha256"] = first(q["pcs"], pin)
		if q["vcn"] != "" {
			tlsSettings["verifyPeerCertByName"] = q["vcn"]
		}
		stream["tlsSettings"] = tlsSettings
	case "reality":
		stream["realitySettings"] = map[string]any{"serverName": q["sni"], "fingerprint": q["fp"], "password": q["pbk"],
			"shortId": q["sid"], "spiderX": q["spx"], "mldsa65Verify": q["pqv"]}
	}
	switch q["type"] {
	case "tcp", "raw":
		if q["headerType"] == "http" {
			stream["rawSettings"] = map[string]any{"header": map[string]any{"type": "http", "request": map[string]any{
				"path": splitList(q["path"]), "headers": map[string]any{"Host": splitList(q["host"])}}}}
		}
	case "ws":
		stream["wsSettings"] = map[string]any{"path": q["path"], "host": q["host"]}
	case "httpupgrade":
		stream["httpupgradeSettings"] = map[string]any{"path": q["path"], "host": q["host"]}
	case "xhttp":
		stream["xhttpSettings"] = map[string]any{"path": q["path"], "host": q["host"], "mode": q["mode"]}
	case "grpc":
		stream["grpcSettings"] = map[string]any{"serviceName": q["serviceName"], "authority": q["authority"], "multiMode": q["mode"] == "multi"}
	case "kcp":
		// Legacy seed and header, in the order the fixture server uses.
		var masks []any
		if q["seed"] != "" {
			masks = append(masks, map[string]any{"type": "mkcp-aes128gcm", "settings": map[string]any{"password": q["seed"]}})
		}
		if h := q["headerType"]; h != "" && h != "none" {
			masks = append(masks, map[string]any{"type": kcpMasks[h]})
		}
		stream["finalmask"] = map[string]any{"udp": masks}
	default:
		t.Fatalf("transport %q", q["type"])
	}
	out["streamSettings"] = stream
	return out
}

// clientConfig is a complete client config around the link's outbound, as
// the v2ray-json format ships it. Without inbounds it is for core.Dial.
func clientConfig(t *testing.T, l shareLink, pin string, withInbounds bool) []byte {
	cfg := map[string]any{
		"log": map[string]any{"loglevel": "error"},
		"outbounds": []any{
			clientOutbound(t, l, pin),
			map[string]any{"tag": "direct", "protocol": "freedom"},
			map[string]any{"tag": "block", "protocol": "blackhole"},
		},
		"routing": map[string]any{"rules": []any{}},
	}
	if withInbounds {
		cfg["inbounds"] = []any{
			map[string]any{"tag": "socks", "protocol": "socks", "listen": "127.0.0.1", "port": 10808, "settings": map[string]any{"udp": true}},
			map[string]any{"tag": "http", "protocol": "http", "listen": "127.0.0.1", "port": 10809},
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLinksBuildAsXrayClients(t *testing.T) {
	combos, _, links := linkFixture(t)
	for i, c := range combos {
		t.Run(c.tag(), func(t *testing.T) {
			l, err := parseShareLink(links[i])
			if err != nil {
				t.Fatal(err)
			}
			buildXray(t, clientConfig(t, l, testCertSHA256, true))
		})
	}
}

func startXray(t *testing.T, cfg []byte) *core.Instance {
	t.Helper()
	c, err := serial.DecodeJSONConfig(bytes.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := c.Build()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := core.New(pb)
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	return inst
}

// freePorts picks one free port per combo (UDP for mKCP), holding every
// socket open until all are picked: closing each at once lets the kernel
// hand the same port out twice, and Xray's SO_REUSEPORT listeners would then
// share it without an error.
func freePorts(t *testing.T, combos []combo) []int {
	t.Helper()
	ports := make([]int, len(combos))
	var held []io.Closer
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for i, c := range combos {
		if c.transport == "kcp" {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, pc)
			ports[i] = pc.LocalAddr().(*net.UDPAddr).Port
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// serve accepts connections on ln until the test ends.
func serve(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// TestLinksCarryTraffic is the end-to-end check: a real Xray server runs
// every linkable inbound with the user in it, and for each rendered link a
// real Xray client built only from what the link says carries bytes to an
// echo server through it.
func TestLinksCarryTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an Xray client per link")
	}
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, echo, func(c net.Conn) { _, _ = io.Copy(c, c) })

	// REALITY borrows the TLS handshake of a real site: a local TLS 1.3
	// server plays that part.
	cert, err := tls.LoadX509KeyPair("testdata/tls.crt", "testdata/tls.key")
	if err != nil {
		t.Fatal(err)
	}
	target, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, target, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })

	combos := linkable()
	ports := freePorts(t, combos)
	cfg := serverConfig(t, combos, func(i int, _ combo) int { return ports[i] }, testUser(), target.Addr().String())
	startXray(t, cfg)
	links := Links(testUser(), mustParse(t, cfg), nil, "127.0.0.1")
	if len(links) != len(combos) {
		t.Fatalf("%d links for %d inbounds", len(links), len(combos))
	}
	echoPort := echo.Addr().(*net.TCPAddr).Port
	for i, c := range combos {
		t.Run(c.tag(), func(t *testing.T) {
			l, err := parseShareLink(links[i])
			if err != nil {
				t.Fatal(err)
			}
			client := startXray(t, clientConfig(t, l, testCertSHA256, false))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := core.Dial(ctx, client, xnet.TCPDestination(xnet.LocalHostIP, xnet.Port(echoPort)))
			if err != nil {
				t.Fatalf("dial through %s: %v", links[i], err)
			}
			defer conn.Close()
			// A deadline only so a broken link fails instead of hanging.
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			// A small first message, then a large one: Xray's trojan client
			// refuses a first write larger than its header buffer, a quirk
			// of core.Dial's pipe that real clients reading a socket avoid.
			for _, size := range []int{16, 64 << 10} {
				payload := make([]byte, size)
				_, _ = rand.Read(payload)
				go func() { _, _ = conn.Write(payload) }()
				got := make([]byte, len(payload))
				if _, err := io.ReadFull(conn, got); err != nil {
					t.Fatalf("echo of %d bytes through %s: %v", size, links[i], err)
				}
				if !bytes.Equal(got, payload) {
					t.Fatalf("echo of %d bytes through %s: bytes differ", size, links[i])
				}
			}
		})
	}
}
