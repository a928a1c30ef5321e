// Package xraytest has helpers for tests that push real bytes through real
// Xray over loopback: echo and sink servers, an in-process Xray client with a
// SOCKS inbound, a minimal SOCKS5 dialer, a server config with one inbound
// per supported protocol, and users with fresh credentials.
//
// A typical test:
//
//	ports := map[string]int{xraytest.TagVLESS: xraytest.FreePort(t)}
//	u := xraytest.TestUser(1, "alice")
//	engine.Apply(xraytest.ServerConfig(ports), []protocol.User{u})
//	socks := xraytest.StartClient(t, xraytest.ClientOutbound("vless", "127.0.0.1", ports[xraytest.TagVLESS], u, nil))
//	err := xraytest.RoundTrip(socks, xraytest.StartEcho(t), []byte("hello"))
//
// The server engine and any number of clients can run in one test process.
package xraytest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xtls/xray-core/core"
	xrayserial "github.com/xtls/xray-core/infra/conf/serial"

	// Registers every Xray feature the client config needs.
	_ "github.com/xtls/xray-core/main/distro/all"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Tags of the inbounds ServerConfig writes.
const (
	TagVLESS  = "vless-tcp"  // vless, raw TCP, no TLS
	TagVMess  = "vmess-ws"   // vmess over WebSocket, path WSPath
	TagTrojan = "trojan-tcp" // trojan, raw TCP, no TLS
	TagSS     = "ss"         // shadowsocks, per-user methods, TCP
)

// WSPath is the WebSocket path of the vmess-ws inbound.
const WSPath = "/vmess"

// SSMethod is the Shadowsocks method TestUser gives users.
const SSMethod = "chacha20-ietf-poly1305"

// DefaultTimeout bounds every network step of the helpers.
const DefaultTimeout = 10 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serve accepts connections on a fresh loopback listener and runs handle
// for each until the test ends; cleanup closes the listener and every
// connection and waits for the handlers.
func serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// StartEcho starts a TCP server on 127.0.0.1 that writes back every byte it
// reads, and returns its address. It stops when the test ends.
func StartEcho(t testing.TB) string {
	t.Helper()
	return serve(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// StartSink starts a TCP server on 127.0.0.1 for download tests: it reads
// an 8-byte big-endian count n, writes n zero bytes, and closes. Use Download.
func StartSink(t testing.TB) string {
	t.Helper()
	return serve(t, func(c net.Conn) {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int64(binary.BigEndian.Uint64(hdr[:]))
		_, _ = io.CopyN(c, zeroReader{}, n)
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Download asks the sink at sinkAddr, through the SOCKS proxy, for n bytes
// and reads them all.
func Download(socksAddr, sinkAddr string, n int64) error {
	c, err := DialSOCKS(socksAddr, sinkAddr, DefaultTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(DefaultTimeout))
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(n))
	if _, err := c.Write(hdr[:]); err != nil {
		return fmt.Errorf("asking for %d bytes: %w", n, err)
	}
	// Read exactly n bytes rather than up to EOF: the close travels back
	// through Xray only after its idle timeouts.
	if got, err := io.CopyN(io.Discard, c, n); err != nil {
		return fmt.Errorf("downloaded %d of %d bytes: %w", got, n, err)
	}
	return nil
}

// ClientOutbound returns an Xray client outbound (tag "proxy") that logs in
// as u on the server at serverHost:port with protocol proto ("vless",
// "vmess", "trojan" or "shadowsocks"). stream, when not empty, is used as
// the outbound's streamSettings, e.g. {"network":"ws","wsSettings":{"path":"/vmess"}}.
// It panics on an unknown protocol or a user without credentials for it.
func ClientOutbound(proto, serverHost string, port int, u protocol.User, stream json.RawMessage) json.RawMessage {
	var settings any
	switch proto {
	case "vless":
		settings = map[string]any{"vnext": []any{map[string]any{
			"address": serverHost, "port": port,
			"users": []any{map[string]any{"id": u.VLESS.ID, "encryption": "none", "flow": u.VLESS.Flow}},
		}}}
	case "vmess":
		settings = map[string]any{"vnext": []any{map[string]any{
			"address": serverHost, "port": port,
			"users": []any{map[string]any{"id": u.VMess.ID, "security": "auto"}},
		}}}
	case "trojan":
		settings = map[string]any{"servers": []any{map[string]any{
			"address": serverHost, "port": port, "password": u.Trojan.Password,
		}}}
	case "shadowsocks":
		settings = map[string]any{"servers": []any{map[string]any{
			"address": serverHost, "port": port,
			"method": u.Shadowsocks.Method, "password": u.Shadowsocks.Password,
		}}}
	default:
		panic("xraytest: unknown protocol " + strconv.Quote(proto))
	}
	out := map[string]any{"tag": "proxy", "protocol": proto, "settings": settings}
	if len(stream) > 0 {
		out["streamSettings"] = stream
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return b
}

// StreamWS is the streamSettings a client needs for the vmess-ws inbound.
var StreamWS = json.RawMessage(`{"network":"ws","wsSettings":{"path":"` + WSPath + `"}}`)

// StartClient runs an in-process Xray client whose SOCKS5 inbound (no auth,
// on a free 127.0.0.1 port) forwards everything to outbound, and returns the
// SOCKS address. The client is closed when the test ends. Like any Xray
// instance it takes over Xray's process-wide log handler and system dialer
// DNS; a server engine in the same process does not need them for IP
// targets such as the echo server.
func StartClient(t testing.TB, outbound json.RawMessage) string {
	t.Helper()
	return startClient(t, outbound, nil)
}

// StartClientQuickClose is StartClient with a client that closes its SOCKS
// side as soon as the server ends a connection (Xray's uplinkOnly and
// downlinkOnly of 0 instead of 1 s), so a test sees a server's cut when it
// happens rather than a second later.
func StartClientQuickClose(t testing.TB, outbound json.RawMessage) string {
	t.Helper()
	return startClient(t, outbound, map[string]any{"policy": map[string]any{"levels": map[string]any{
		"0": map[string]any{"uplinkOnly": 0, "downlinkOnly": 0}}}})
}

func startClient(t testing.TB, outbound json.RawMessage, extra map[string]any) string {
	t.Helper()
	port := FreePort(t)
	cfg := map[string]any{
		"log": map[string]any{"loglevel": "error", "access": "none"},
		"inbounds": []any{map[string]any{
			"tag": "socks-in", "listen": "127.0.0.1", "port": port, "protocol": "socks",
			"settings": map[string]any{"auth": "noauth", "udp": false},
		}},
		"outbounds": []any{outbound},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("encoding client config: %v", err)
	}
	pb, err := xrayserial.LoadJSONConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("building client config: %v", err)
	}
	inst, err := core.New(pb)
	if err != nil {
		t.Fatalf("creating xray client: %v", err)
	}
	if err := inst.Start(); err != nil {
		t.Fatalf("starting xray client: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// DialSOCKS opens a TCP connection to target ("host:port") through the
// SOCKS5 proxy at socksAddr (no authentication, CONNECT). timeout bounds the
// handshake; the returned connection has no deadline.
func DialSOCKS(socksAddr, target string, timeout time.Duration) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("socks target %q: %w", target, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("socks target port %q: %w", portStr, err)
	}
	c, err := net.DialTimeout("tcp", socksAddr, timeout)
	if err != nil {
		return nil, fmt.Errorf("dialing socks proxy: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))

	fail := func(step string, err error) (net.Conn, error) {
		c.Close()
		return nil, fmt.Errorf("socks %s: %w", step, err)
	}
	// Greeting: version 5, one method, "no authentication".
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return fail("greeting", err)
	}
	var choice [2]byte
	if _, err := io.ReadFull(c, choice[:]); err != nil {
		return fail("greeting", err)
	}
	if choice[0] != 5 || choice[1] != 0 {
		return fail("greeting", fmt.Errorf("proxy refused no-auth (version %d, method %d)", choice[0], choice[1]))
	}
	req := []byte{5, 1, 0} // version, CONNECT, reserved
	if ip := net.ParseIP(host); ip == nil {
		if len(host) > 255 {
			return fail("connect", errors.New("target host too long"))
		}
		req = append(req, 3, byte(len(host)))
		req = append(req, host...)
	} else if ip4 := ip.To4(); ip4 != nil {
		req = append(req, 1)
		req = append(req, ip4...)
	} else {
		req = append(req, 4)
		req = append(req, ip.To16()...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := c.Write(req); err != nil {
		return fail("connect", err)
	}
	var head [3]byte // version, reply code, reserved
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return fail("connect", err)
	}
	if head[1] != 0 {
		return fail("connect", fmt.Errorf("reply code %d", head[1]))
	}
	var atyp [1]byte
	if _, err := io.ReadFull(c, atyp[:]); err != nil {
		return fail("reply", err)
	}
	var skip int
	switch atyp[0] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return fail("reply", err)
		}
		skip = int(l[0]) + 2
	default:
		return fail("reply", fmt.Errorf("address type %d", atyp[0]))
	}
	if _, err := io.CopyN(io.Discard, c, int64(skip)); err != nil {
		return fail("reply", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// Echo writes payload on a connection to an echo server and reads it back,
// failing if what comes back differs or takes longer than DefaultTimeout.
// Use it to prove an already open connection still carries traffic.
func Echo(c net.Conn, payload []byte) error {
	return echoWithin(c, payload, DefaultTimeout)
}

func echoWithin(c net.Conn, payload []byte, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { // write concurrently: a large payload would fill both buffers
		_, err := c.Write(payload)
		errc <- err
	}()
	got := make([]byte, len(payload))
	_, rerr := io.ReadFull(c, got)
	if werr := <-errc; werr != nil {
		return fmt.Errorf("writing %d bytes: %w", len(payload), werr)
	}
	if rerr != nil {
		return fmt.Errorf("reading back %d bytes: %w", len(payload), rerr)
	}
	if !bytes.Equal(got, payload) {
		return errors.New("echoed bytes differ from the payload")
	}
	return nil
}

// RoundTrip dials echoAddr through the SOCKS proxy at socksAddr, sends
// payload, reads it back and compares.
//
// The first 512 bytes go alone and come back before the rest is sent:
// Xray's trojan client (v26.3.27) fails with "buffer is full" when more than
// one buffer (8 KiB) of payload is waiting before its request header is out.
func RoundTrip(socksAddr, echoAddr string, payload []byte) error {
	return RoundTripWithin(socksAddr, echoAddr, payload, DefaultTimeout)
}

// RoundTripWithin is RoundTrip with timeout bounding each step instead of
// DefaultTimeout. Tests that expect a refusal use a short one: a server
// refusing a Shadowsocks or Trojan client keeps the connection open and
// silent (against active probing) rather than closing it.
func RoundTripWithin(socksAddr, echoAddr string, payload []byte, timeout time.Duration) error {
	c, err := DialSOCKS(socksAddr, echoAddr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	first := min(len(payload), 512)
	if err := echoWithin(c, payload[:first], timeout); err != nil {
		return err
	}
	if first == len(payload) {
		return nil
	}
	return echoWithin(c, payload[first:], timeout)
}

// Payload returns n random bytes.
func Payload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ServerConfig returns a server config with one inbound on 127.0.0.1 for
// each tag in ports (TagVLESS, TagVMess, TagTrojan, TagSS; other keys are
// ignored), no users in it, a freedom outbound "direct" and a blackhole
// "block". It uses no geoip/geosite rules (no .dat files are needed).
func ServerConfig(ports map[string]int) []byte {
	type inbound = map[string]any
	newInbound := func(tag, proto string, settings, stream map[string]any) inbound {
		ib := inbound{"tag": tag, "listen": "127.0.0.1", "port": ports[tag], "protocol": proto, "settings": settings}
		if stream != nil {
			ib["streamSettings"] = stream
		}
		return ib
	}
	all := []struct {
		tag string
		ib  func() inbound
	}{
		{TagVLESS, func() inbound {
			return newInbound(TagVLESS, "vless", map[string]any{"clients": []any{}, "decryption": "none"},
				map[string]any{"network": "raw"})
		}},
		{TagVMess, func() inbound {
			return newInbound(TagVMess, "vmess", map[string]any{"clients": []any{}},
				map[string]any{"network": "ws", "wsSettings": map[string]any{"path": WSPath}})
		}},
		{TagTrojan, func() inbound {
			return newInbound(TagTrojan, "trojan", map[string]any{"clients": []any{}}, map[string]any{"network": "raw"})
		}},
		{TagSS, func() inbound {
			return newInbound(TagSS, "shadowsocks", map[string]any{"clients": []any{}, "network": "tcp"}, nil)
		}},
	}
	inbounds := []any{}
	for _, x := range all {
		if _, ok := ports[x.tag]; ok {
			inbounds = append(inbounds, x.ib())
		}
	}
	cfg := map[string]any{
		"log":      map[string]any{"loglevel": "error", "access": "none"},
		"inbounds": inbounds,
		"outbounds": []any{
			map[string]any{"tag": "direct", "protocol": "freedom"},
			map[string]any{"tag": "block", "protocol": "blackhole"},
		},
		"routing": map[string]any{"rules": []any{}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// TestUser returns user id with email "<id>.<name>" and fresh credentials
// for vless, vmess, trojan and shadowsocks (method SSMethod).
func TestUser(id int64, name string) protocol.User {
	return protocol.User{
		ID:          id,
		Email:       fmt.Sprintf("%d.%s", id, name),
		VLESS:       &protocol.VLESS{ID: newUUID()},
		VMess:       &protocol.VMess{ID: newUUID()},
		Trojan:      &protocol.Trojan{Password: randomHex(16)},
		Shadowsocks: &protocol.Shadowsocks{Password: randomHex(16), Method: SSMethod},
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StartClientFor starts a client (see StartClient) for user u on the
// ServerConfig inbound tag listening on port of 127.0.0.1.
func StartClientFor(t testing.TB, tag string, port int, u protocol.User) string {
	t.Helper()
	var out json.RawMessage
	switch tag {
	case TagVLESS:
		out = ClientOutbound("vless", "127.0.0.1", port, u, nil)
	case TagVMess:
		out = ClientOutbound("vmess", "127.0.0.1", port, u, StreamWS)
	case TagTrojan:
		out = ClientOutbound("trojan", "127.0.0.1", port, u, nil)
	case TagSS:
		out = ClientOutbound("shadowsocks", "127.0.0.1", port, u, nil)
	default:
		t.Fatalf("xraytest: no client for inbound tag %q", tag)
	}
	return StartClient(t, out)
}
