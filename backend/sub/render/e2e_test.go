package render

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	xnet "github.com/xtls/xray-core/common/net"
	"github.com/xtls/xray-core/core"
	"github.com/xtls/xray-core/infra/conf/serial"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// TestXrayJSONCarriesTraffic is the end-to-end check of the v2ray-json
// format: a real Xray server runs every combo with the user in it, and each
// rendered client config, started as is in a real Xray client, carries bytes
// to an echo server.
func TestXrayJSONCarriesTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an Xray client per config")
	}
	echo := listen(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	// REALITY borrows the handshake of a real TLS 1.3 site: a local one.
	cert, err := tls.LoadX509KeyPair("../testdata/tls.crt", "../testdata/tls.key")
	if err != nil {
		t.Fatal(err)
	}
	target, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, target, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })

	u := testUser()
	var cs []combo
	for _, c := range combos() {
		if !(c.proto == "vmess" && c.security == "reality") { // no client can express it
			cs = append(cs, c)
		}
	}
	serverCfg := liveServerConfig(t, cs, u, target.Addr().String())
	startXray(t, serverCfg)
	ins, err := xrayconf.ParseInbounds(serverCfg)
	if err != nil {
		t.Fatal(err)
	}

	// A skeleton without inbounds: core.Dial drives the client directly, and
	// parallel tests would fight over 10808.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, XrayTemplateFile), []byte(`{"log":{"loglevel":"error"},"routing":{"rules":[]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tp, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := Render(V2RayJSON, Input{User: u, Inbounds: ins, DefaultAddress: "127.0.0.1", Now: fixedNow, Templates: tp})
	if err != nil {
		t.Fatal(err)
	}
	var configs []json.RawMessage
	if err := json.Unmarshal(body, &configs); err != nil {
		t.Fatal(err)
	}
	if len(configs) != len(cs) {
		t.Fatalf("%d configs for %d inbounds", len(configs), len(cs))
	}
	echoPort := echo.Addr().(*net.TCPAddr).Port
	for i, c := range cs {
		t.Run(c.name(), func(t *testing.T) {
			client := startXray(t, configs[i])
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := core.Dial(ctx, client, xnet.TCPDestination(xnet.LocalHostIP, xnet.Port(echoPort)))
			if err != nil {
				t.Fatalf("dial: %v\n%s", err, configs[i])
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a broken config fails instead of hanging
			// Small first: Xray's trojan client refuses a first write larger
			// than its header buffer through core.Dial's pipe.
			for _, size := range []int{16, 64 << 10} {
				payload := make([]byte, size)
				_, _ = rand.Read(payload)
				go func() { _, _ = conn.Write(payload) }()
				got := make([]byte, size)
				if _, err := io.ReadFull(conn, got); err != nil {
					t.Fatalf("echo of %d bytes: %v\n%s", size, err, configs[i])
				}
				if !bytes.Equal(got, payload) {
					t.Fatalf("echo of %d bytes: bytes differ", size)
				}
			}
		})
	}
}

func listen(t *testing.T, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, handle)
	return ln
}

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

// liveServerConfig is a server config on free loopback ports with u in
// every inbound, the way a node puts users in.
func liveServerConfig(t *testing.T, cs []combo, u *model.User, realityTarget string) []byte {
	t.Helper()
	cert, key := pemLines(t, "../testdata/tls.crt"), pemLines(t, "../testdata/tls.key")
	ports := freePorts(t, cs)
	email := u.Email()
	var ins []any
	for i, c := range cs {
		settings := serverSettings(c)
		var client map[string]any
		switch c.proto {
		case "vless":
			client = map[string]any{"id": u.Proxies["vless"].ID, "email": email}
			if c.transport == "raw" && c.security != "none" {
				client["flow"] = u.Proxies["vless"].Flow
			}
		case "vmess":
			client = map[string]any{"id": u.Proxies["vmess"].ID, "email": email}
		case "trojan":
			client = map[string]any{"password": u.Proxies["trojan"].Password, "email": email}
		case "shadowsocks":
			ss := u.Proxies["shadowsocks"]
			client = map[string]any{"password": ss.Password, "method": ss.Method, "email": email}
			if c.ss2022 {
				client = map[string]any{"password": xrayconf.SS2022UserKey(ss2022Method, ss.Password), "email": email}
			}
		}
		settings["clients"] = []any{client}
		stream := serverStream(c, cert, key)
		if rs, ok := stream["realitySettings"].(map[string]any); ok {
			rs["target"] = realityTarget
		}
		ins = append(ins, map[string]any{"tag": c.name(), "protocol": c.proto, "listen": "127.0.0.1", "port": ports[i],
			"settings": settings, "streamSettings": stream})
	}
	b, err := json.Marshal(map[string]any{
		"log":       map[string]any{"loglevel": "error", "access": "none"},
		"inbounds":  ins,
		"outbounds": []any{map[string]any{"protocol": "freedom", "tag": "direct"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// freePorts picks one free port per combo (UDP for mKCP), holding every
// socket until all are picked so none is handed out twice.
func freePorts(t *testing.T, cs []combo) []int {
	t.Helper()
	ports := make([]int, len(cs))
	var held []io.Closer
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for i, c := range cs {
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
