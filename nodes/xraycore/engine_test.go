package xraycore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// refusalTimeout bounds checks that a refused user gets nothing back; the
// servers of some protocols hold a refused connection open in silence.
const refusalTimeout = 2 * time.Second

var allTags = []string{xraytest.TagVLESS, xraytest.TagVMess, xraytest.TagTrojan, xraytest.TagSS}

// server is an engine on loopback ports with an echo target.
type server struct {
	t      *testing.T
	engine *xraycore.Engine
	ports  map[string]int
	config []byte
	echo   string
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newServer(t *testing.T, tags ...string) *server {
	t.Helper()
	ports := map[string]int{}
	for _, tag := range tags {
		ports[tag] = xraytest.FreePort(t)
	}
	e := xraycore.New(testLogger(t))
	t.Cleanup(func() { _ = e.Close() })
	return &server{t: t, engine: e, ports: ports, config: xraytest.ServerConfig(ports), echo: xraytest.StartEcho(t)}
}

func (s *server) apply(config []byte, users ...protocol.User) xraycore.Result {
	s.t.Helper()
	res, err := s.engine.Apply(config, users)
	if err != nil {
		s.t.Fatalf("Apply: %v", err)
	}
	return res
}

func (s *server) client(tag string, u protocol.User) string {
	s.t.Helper()
	return xraytest.StartClientFor(s.t, tag, s.ports[tag], u)
}

// open dials the echo server through socks and proves the connection works.
func (s *server) open(socks string) net.Conn {
	s.t.Helper()
	c, err := xraytest.DialSOCKS(socks, s.echo, xraytest.DefaultTimeout)
	if err != nil {
		s.t.Fatalf("dial through proxy: %v", err)
	}
	s.t.Cleanup(func() { c.Close() })
	if err := xraytest.Echo(c, []byte("first")); err != nil {
		s.t.Fatalf("fresh connection: %v", err)
	}
	return c
}

func (s *server) mustRoundTrip(socks string, what string) {
	s.t.Helper()
	if err := xraytest.RoundTrip(socks, s.echo, xraytest.Payload(1024)); err != nil {
		s.t.Fatalf("%s: round trip: %v", what, err)
	}
}

func (s *server) mustFail(socks string, what string) {
	s.t.Helper()
	if err := xraytest.RoundTripWithin(socks, s.echo, xraytest.Payload(1024), refusalTimeout); err == nil {
		s.t.Fatalf("%s: round trip succeeded, want failure", what)
	}
}

// waitUsage collects until email has at least min bytes each way (the
// counters are updated by Xray's goroutines) and returns the total.
func waitUsage(t *testing.T, e *xraycore.Engine, email string, min int64) xraycore.Traffic {
	t.Helper()
	return waitUsageOf(t, e, email, min, min)
}

func waitUsageOf(t *testing.T, e *xraycore.Engine, email string, minUp, minDown int64) xraycore.Traffic {
	t.Helper()
	var total xraycore.Traffic
	deadline := time.Now().Add(5 * time.Second)
	for {
		for k, v := range e.CollectUsage() {
			if k == email {
				total.Up += v.Up
				total.Down += v.Down
			}
		}
		if total.Up >= minUp && total.Down >= minDown {
			return total
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage of %s = %+v, want at least %d up and %d down", email, total, minUp, minDown)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProtocolsCarryTrafficAndCountIt(t *testing.T) {
	s := newServer(t, allTags...)
	users := make([]protocol.User, len(allTags))
	for i := range users {
		users[i] = xraytest.TestUser(int64(i+1), "user"+strconv.Itoa(i))
	}
	res := s.apply(s.config, users...)
	if !res.Restarted || len(res.InboundErrors) != 0 {
		t.Fatalf("first Apply = %+v, want a started core without inbound errors", res)
	}
	if got := s.engine.UserCount(); got != len(users) {
		t.Fatalf("UserCount = %d, want %d", got, len(users))
	}
	const n = 64 << 10
	for i, tag := range allTags {
		t.Run(tag, func(t *testing.T) {
			u := users[i]
			socks := s.client(tag, u)
			if err := xraytest.RoundTrip(socks, s.echo, xraytest.Payload(n)); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			got := waitUsage(t, s.engine, u.Email, n)
			if got.Up > n+n/10 || got.Down > n+n/10 {
				t.Fatalf("usage = %+v, want between %d and %d each way", got, n, n+n/10)
			}
			if again := s.engine.CollectUsage()[u.Email]; again != (xraycore.Traffic{}) {
				t.Fatalf("second CollectUsage = %+v, want nothing new", again)
			}
		})
	}
}

func TestDownloadIsCountedAsDownlink(t *testing.T) {
	s := newServer(t, xraytest.TagTrojan)
	u := xraytest.TestUser(1, "dl")
	s.apply(s.config, u)
	const n = 1 << 20
	if err := xraytest.Download(s.client(xraytest.TagTrojan, u), xraytest.StartSink(t), n); err != nil {
		t.Fatalf("download: %v", err)
	}
	got := waitUsageOf(t, s.engine, u.Email, 8, n)
	if got.Down > n+n/10 || got.Up > 1024 {
		t.Fatalf("usage = %+v, want ~%d down and a few bytes up", got, n)
	}
}

func TestUpsertAndRemoveUsersWithoutRestart(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS, xraytest.TagTrojan)
	alice, bob := xraytest.TestUser(1, "alice"), xraytest.TestUser(2, "bob")
	s.apply(s.config, alice)
	aliceConn := s.open(s.client(xraytest.TagVLESS, alice))
	restarts := s.engine.Restarts()

	bobVLESS, bobTrojan := s.client(xraytest.TagVLESS, bob), s.client(xraytest.TagTrojan, bob)
	if err := s.engine.UpsertUsers([]protocol.User{bob}); err != nil {
		t.Fatalf("UpsertUsers: %v", err)
	}
	s.mustRoundTrip(bobVLESS, "new user on vless")
	s.mustRoundTrip(bobTrojan, "new user on trojan")
	if err := xraytest.Echo(aliceConn, []byte("still there")); err != nil {
		t.Fatalf("open connection of another user after upsert: %v", err)
	}
	if s.engine.UserCount() != 2 {
		t.Fatalf("UserCount = %d, want 2", s.engine.UserCount())
	}

	// New credentials: the old ones stop working, the new ones work.
	oldBobVLESS := bobVLESS
	bob.VLESS = xraytest.TestUser(2, "bob").VLESS
	if err := s.engine.UpsertUsers([]protocol.User{bob}); err != nil {
		t.Fatalf("UpsertUsers: %v", err)
	}
	s.mustFail(oldBobVLESS, "old vless id after credential change")
	s.mustRoundTrip(s.client(xraytest.TagVLESS, bob), "new vless id")
	s.mustRoundTrip(bobTrojan, "unchanged trojan password")

	s.engine.RemoveUsers([]string{bob.Email})
	s.mustFail(s.client(xraytest.TagVLESS, bob), "removed user on vless")
	s.mustFail(bobTrojan, "removed user on trojan")
	if err := xraytest.Echo(aliceConn, []byte("still there")); err != nil {
		t.Fatalf("open connection of another user after remove: %v", err)
	}
	if s.engine.UserCount() != 1 {
		t.Fatalf("UserCount = %d, want 1", s.engine.UserCount())
	}
	if got := s.engine.Restarts(); got != restarts {
		t.Fatalf("Restarts = %d, want %d (user changes must not restart)", got, restarts)
	}
}

func TestExcludedInboundAndBadUser(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS, xraytest.TagTrojan)
	good := xraytest.TestUser(1, "good")
	good.Excluded = []string{xraytest.TagTrojan}
	// Vision needs TLS or REALITY: on this plain inbound the flow is dropped,
	// so a client without flow gets in (Xray would refuse it otherwise).
	good.VLESS.Flow = "xtls-rprx-vision"
	bad := xraytest.TestUser(2, "bad")
	bad.VLESS.ID = "not-a-uuid"
	res := s.apply(s.config, bad, good)
	if len(res.InboundErrors) != 0 {
		t.Fatalf("InboundErrors = %v", res.InboundErrors)
	}
	noFlow := good
	noFlow.VLESS = &protocol.VLESS{ID: good.VLESS.ID}
	s.mustRoundTrip(s.client(xraytest.TagVLESS, noFlow), "good user next to a bad one")
	s.mustRoundTrip(s.client(xraytest.TagTrojan, bad), "bad vless id does not stop trojan")
	s.mustFail(s.client(xraytest.TagTrojan, good), "excluded inbound")
}

func TestIdenticalApplyDoesNothing(t *testing.T) {
	s := newServer(t, allTags...)
	users := []protocol.User{xraytest.TestUser(1, "a"), xraytest.TestUser(2, "b")}
	s.apply(s.config, users...)
	conn := s.open(s.client(xraytest.TagVMess, users[0]))
	restarts := s.engine.Restarts()

	// The same config re-encoded (other key order and spacing) is the same.
	var v any
	if err := json.Unmarshal(s.config, &v); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(v)
	for i, cfg := range [][]byte{s.config, compact} {
		// Expiry and limits are not Xray's business: changing them is a no-op too.
		users[1].Expire = int64(1000 + i)
		res := s.apply(cfg, users...)
		if !reflect.DeepEqual(res, xraycore.Result{}) {
			t.Fatalf("identical Apply %d = %+v, want an empty Result", i, res)
		}
	}
	if got := s.engine.Restarts(); got != restarts {
		t.Fatalf("Restarts = %d, want %d", got, restarts)
	}
	if err := xraytest.Echo(conn, []byte("after identical apply")); err != nil {
		t.Fatalf("open connection: %v", err)
	}
}

func TestChangingOneInboundLeavesOthersAlone(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS, xraytest.TagVMess)
	u := xraytest.TestUser(1, "u")
	s.apply(s.config, u)
	conn := s.open(s.client(xraytest.TagVLESS, u))
	restarts := s.engine.Restarts()

	changed := bytes.Replace(s.config, []byte(`"`+xraytest.WSPath+`"`), []byte(`"/other"`), 1)
	res := s.apply(changed, u)
	want := xraycore.Result{InboundsRebuilt: []string{xraytest.TagVMess}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("Apply = %+v, want %+v", res, want)
	}
	if s.engine.Restarts() != restarts {
		t.Fatalf("core restarted for an inbound change")
	}
	if err := xraytest.Echo(conn, []byte("other inbound changed")); err != nil {
		t.Fatalf("open connection on the untouched inbound: %v", err)
	}
	stream := json.RawMessage(`{"network":"ws","wsSettings":{"path":"/other"}}`)
	socks := xraytest.StartClient(t, xraytest.ClientOutbound("vmess", "127.0.0.1", s.ports[xraytest.TagVMess], u, stream))
	s.mustRoundTrip(socks, "rebuilt inbound with its users re-added")
	s.mustFail(s.client(xraytest.TagVMess, u), "old ws path")

	// Removing an inbound removes only that one.
	only := xraytest.ServerConfig(map[string]int{xraytest.TagVLESS: s.ports[xraytest.TagVLESS]})
	res = s.apply(only, u)
	want = xraycore.Result{InboundsRebuilt: []string{xraytest.TagVMess}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("Apply without vmess = %+v, want %+v", res, want)
	}
	if err := xraytest.Echo(conn, []byte("other inbound removed")); err != nil {
		t.Fatalf("open connection after removing another inbound: %v", err)
	}
}

func TestInvalidConfigChangesNothing(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS)
	u := xraytest.TestUser(1, "u")
	s.apply(s.config, u)
	socks := s.client(xraytest.TagVLESS, u)
	conn := s.open(socks)
	restarts := s.engine.Restarts()
	if err := xraycore.Validate(s.config); err != nil {
		t.Fatalf("Validate(good config): %v", err)
	}

	port := s.ports[xraytest.TagVLESS]
	withInbound := func(ib string) []byte {
		return []byte(`{"inbounds":[` + ib + `],"outbounds":[{"protocol":"freedom","tag":"direct"}]}`)
	}
	cases := []struct {
		name   string
		config []byte
		want   string // part of the error message
	}{
		{"bad json", []byte(`{"inbounds": [`), "parsing config"},
		{"not an object", []byte(`[1,2]`), "parsing config"},
		{"unknown protocol", withInbound(`{"tag":"x","port":1,"protocol":"nosuch","settings":{}}`), "nosuch"},
		{"vless broken settings", withInbound(`{"tag":"x","port":1,"protocol":"vless","settings":{"clients":"oops"}}`), "vless"},
		{"vless without decryption", withInbound(`{"tag":"x","port":1,"protocol":"vless","settings":{"clients":[]}}`), "decryption"},
		{"unknown outbound", []byte(`{"outbounds":[{"protocol":"nosuch"}]}`), "nosuch"},
		{"missing tag", withInbound(`{"port":` + strconv.Itoa(port) + `,"protocol":"vless","settings":{"clients":[],"decryption":"none"}}`), "no tag"},
		{"duplicate tag", []byte(`{"inbounds":[` +
			`{"tag":"a","port":1,"protocol":"trojan","settings":{"clients":[]}},` +
			`{"tag":"a","port":2,"protocol":"trojan","settings":{"clients":[]}}]}`), "twice"},
		{"policy not an object", []byte(`{"policy":[]}`), "policy"},
		{"trailing data", []byte(`{} {}`), "after the top-level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			verr := xraycore.Validate(tc.config)
			_, aerr := s.engine.Apply(tc.config, []protocol.User{u})
			for _, err := range []error{verr, aerr} {
				if !errors.Is(err, xraycore.ErrInvalidConfig) {
					t.Fatalf("error = %v, want ErrInvalidConfig", err)
				}
				if !strings.Contains(strings.ToLower(err.Error()), tc.want) {
					t.Fatalf("error %q does not mention %q", err, tc.want)
				}
			}
			if err := xraytest.Echo(conn, []byte("still serving")); err != nil {
				t.Fatalf("open connection after refused config: %v", err)
			}
		})
	}
	s.mustRoundTrip(socks, "new connection after refused configs")
	if got := s.engine.Restarts(); got != restarts {
		t.Fatalf("Restarts = %d, want %d", got, restarts)
	}

	// A bad user list is refused as a whole too.
	if _, err := s.engine.Apply(s.config, []protocol.User{u, u}); !errors.Is(err, xraycore.ErrInvalidUser) {
		t.Fatalf("Apply with a duplicate email: %v, want ErrInvalidUser", err)
	}
	s.mustRoundTrip(socks, "after refused user list")
}

func TestCoreThatFailsToStartLeavesTheOldOneServing(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS)
	u := xraytest.TestUser(1, "u")
	s.apply(s.config, u)
	socks := s.client(xraytest.TagVLESS, u)
	conn := s.open(socks)
	restarts := s.engine.Restarts()

	// The API server listens when the core starts; a taken port makes the
	// new core fail after it was built.
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	var cfg map[string]any
	if err := json.Unmarshal(s.config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["api"] = map[string]any{"tag": "api", "listen": squatter.Addr().String(), "services": []any{"StatsService"}}
	withAPI, _ := json.Marshal(cfg)
	if err := xraycore.Validate(withAPI); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	res, err := s.engine.Apply(withAPI, []protocol.User{u})
	if err == nil {
		t.Fatalf("Apply with a core that cannot start = %+v, want an error", res)
	}
	if s.engine.Restarts() != restarts {
		t.Fatalf("Restarts = %d, want %d", s.engine.Restarts(), restarts)
	}
	if err := xraytest.Echo(conn, []byte("old core")); err != nil {
		t.Fatalf("open connection after a failed start: %v", err)
	}
	s.mustRoundTrip(socks, "old core after a failed start")
	// The old config is still the running one: applying it changes nothing.
	if res := s.apply(s.config, u); !reflect.DeepEqual(res, xraycore.Result{}) {
		t.Fatalf("re-applying the running config = %+v, want an empty Result", res)
	}
}

func TestTakenPortIsReportedAndRetried(t *testing.T) {
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	ports := map[string]int{
		xraytest.TagVLESS:  xraytest.FreePort(t),
		xraytest.TagTrojan: squatter.Addr().(*net.TCPAddr).Port,
	}
	s := &server{t: t, engine: xraycore.New(testLogger(t)), ports: ports,
		config: xraytest.ServerConfig(ports), echo: xraytest.StartEcho(t)}
	t.Cleanup(func() { _ = s.engine.Close() })
	u := xraytest.TestUser(1, "u")

	res := s.apply(s.config, u)
	msg, ok := res.InboundErrors[xraytest.TagTrojan]
	if !ok || !strings.Contains(msg, "address already in use") {
		t.Fatalf("InboundErrors = %v, want %s: address already in use", res.InboundErrors, xraytest.TagTrojan)
	}
	if len(res.InboundErrors) != 1 {
		t.Fatalf("InboundErrors = %v, want only %s", res.InboundErrors, xraytest.TagTrojan)
	}
	if got := s.engine.InboundErrors(); !reflect.DeepEqual(got, res.InboundErrors) {
		t.Fatalf("InboundErrors() = %v, want %v", got, res.InboundErrors)
	}
	conn := s.open(s.client(xraytest.TagVLESS, u))
	restarts := s.engine.Restarts()

	squatter.Close()
	res = s.apply(s.config, u)
	want := xraycore.Result{InboundsRebuilt: []string{xraytest.TagTrojan}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("retry Apply = %+v, want %+v", res, want)
	}
	if len(s.engine.InboundErrors()) != 0 {
		t.Fatalf("InboundErrors() = %v after retry", s.engine.InboundErrors())
	}
	s.mustRoundTrip(s.client(xraytest.TagTrojan, u), "retried inbound")
	if err := xraytest.Echo(conn, []byte("untouched")); err != nil {
		t.Fatalf("open connection across the retry: %v", err)
	}
	if s.engine.Restarts() != restarts {
		t.Fatalf("retrying an inbound restarted the core")
	}
}

func TestCoreChangeRestartsWithoutLosingUsage(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS, xraytest.TagSS)
	u := xraytest.TestUser(1, "u")
	s.apply(s.config, u)
	socks := s.client(xraytest.TagSS, u)
	const n = 10000
	if err := xraytest.RoundTrip(socks, s.echo, xraytest.Payload(n)); err != nil {
		t.Fatal(err)
	}
	survivor := s.open(s.client(xraytest.TagVLESS, u))
	restarts := s.engine.Restarts()

	var cfg map[string]any
	if err := json.Unmarshal(s.config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["outbounds"] = append(cfg["outbounds"].([]any), map[string]any{"tag": "extra", "protocol": "freedom"})
	changed, _ := json.Marshal(cfg)
	res := s.apply(changed, u)
	if !res.Restarted || len(res.InboundsRebuilt) != 2 {
		t.Fatalf("Apply with a new outbound = %+v, want a restart rebuilding both inbounds", res)
	}
	if s.engine.Restarts() != restarts+1 {
		t.Fatalf("Restarts = %d, want %d", s.engine.Restarts(), restarts+1)
	}
	// Bytes counted by the replaced core are still reported.
	got := s.engine.CollectUsage()[u.Email]
	if got.Up < n || got.Down < n {
		t.Fatalf("usage after restart = %+v, want at least %d each way", got, n)
	}
	s.mustRoundTrip(socks, "after restart")
	s.mustRoundTrip(s.client(xraytest.TagVLESS, u), "vless after restart")
	s.engine.CollectUsage()

	// Xray does not cut a connection of the closed core; what it carries
	// afterwards is counted by the old core and must still be reported.
	if err := xraytest.Echo(survivor, xraytest.Payload(n)); err != nil {
		t.Skipf("connection did not survive the restart (%v); nothing more to count", err)
	}
	waitUsage(t, s.engine, u.Email, n)
}

func TestApplyDiffsUsers(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS, xraytest.TagVMess)
	a, b, c := xraytest.TestUser(1, "a"), xraytest.TestUser(2, "b"), xraytest.TestUser(3, "c")
	s.apply(s.config, a, b)
	aConn := s.open(s.client(xraytest.TagVLESS, a))
	bSocks := s.client(xraytest.TagVLESS, b)
	s.mustRoundTrip(bSocks, "b before")
	restarts := s.engine.Restarts()

	res := s.apply(s.config, a, c)
	if !reflect.DeepEqual(res, xraycore.Result{}) {
		t.Fatalf("user-only Apply = %+v, want an empty Result", res)
	}
	s.mustFail(bSocks, "user dropped from the set")
	s.mustRoundTrip(s.client(xraytest.TagVLESS, c), "user added to the set")
	s.mustRoundTrip(s.client(xraytest.TagVMess, c), "user added to the set (vmess)")
	if err := xraytest.Echo(aConn, []byte("unchanged user")); err != nil {
		t.Fatalf("open connection of an unchanged user: %v", err)
	}
	if s.engine.Restarts() != restarts || s.engine.UserCount() != 2 {
		t.Fatalf("Restarts = %d (want %d), UserCount = %d (want 2)", s.engine.Restarts(), restarts, s.engine.UserCount())
	}
}

func TestShadowsocks2022MultiUser(t *testing.T) {
	port := xraytest.FreePort(t)
	const method = "2022-blake3-aes-128-gcm"
	serverKey := "MDEyMzQ1Njc4OWFiY2RlZg==" // base64 of 16 bytes
	config := []byte(fmt.Sprintf(`{
		// comments are allowed, as in Xray
		"inbounds": [{"tag": "ss22", "listen": "127.0.0.1", "port": %d, "protocol": "shadowsocks",
			"settings": {"method": %q, "password": %q, "clients": [], "network": "tcp"}}],
		"outbounds": [{"tag": "direct", "protocol": "freedom"}]
	}`, port, method, serverKey))
	e := xraycore.New(testLogger(t))
	t.Cleanup(func() { _ = e.Close() })
	echo := xraytest.StartEcho(t)
	clientFor := func(u protocol.User) string {
		key, err := xraycore.SS2022UserKey(method, u.Shadowsocks.Password)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(map[string]any{"tag": "proxy", "protocol": "shadowsocks", "settings": map[string]any{
			"servers": []any{map[string]any{"address": "127.0.0.1", "port": port, "method": method, "password": serverKey + ":" + key}},
		}})
		return xraytest.StartClient(t, out)
	}

	a, b := xraytest.TestUser(1, "a"), xraytest.TestUser(2, "b")
	if _, err := e.Apply(config, []protocol.User{a}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := xraytest.RoundTrip(clientFor(a), echo, xraytest.Payload(4096)); err != nil {
		t.Fatalf("user built into the inbound: %v", err)
	}
	waitUsage(t, e, a.Email, 4096)
	if err := e.UpsertUsers([]protocol.User{b}); err != nil {
		t.Fatal(err)
	}
	if err := xraytest.RoundTrip(clientFor(b), echo, xraytest.Payload(4096)); err != nil {
		t.Fatalf("user added to the running inbound: %v", err)
	}
	e.RemoveUsers([]string{a.Email})
	if err := xraytest.RoundTripWithin(clientFor(a), echo, xraytest.Payload(4096), refusalTimeout); err == nil {
		t.Fatalf("removed user still gets through")
	}

	// A large batch rebuilds the inbound once instead of re-keying per user.
	batch := []protocol.User{b}
	for i := range 100 {
		batch = append(batch, xraytest.TestUser(int64(100+i), "batch"))
	}
	res, err := e.Apply(config, batch)
	if err != nil {
		t.Fatal(err)
	}
	if want := (xraycore.Result{InboundsRebuilt: []string{"ss22"}}); !reflect.DeepEqual(res, want) {
		t.Fatalf("batch Apply = %+v, want %+v", res, want)
	}
	for _, u := range []protocol.User{b, batch[len(batch)-1]} {
		if err := xraytest.RoundTrip(clientFor(u), echo, xraytest.Payload(1024)); err != nil {
			t.Fatalf("%s after batch rebuild: %v", u.Email, err)
		}
	}
}

func TestConcurrentReadersDuringChanges(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS, xraytest.TagVMess)
	u := xraytest.TestUser(1, "u")
	s.apply(s.config, u)
	socks := s.client(xraytest.TagVLESS, u)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.engine.CollectUsage()
			s.engine.InboundErrors()
			s.engine.UserCount()
			s.engine.Restarts()
		}
	}()
	others := make([]protocol.User, 50)
	for i := range others {
		others[i] = xraytest.TestUser(int64(i+2), "o")
	}
	for i := range 5 {
		if err := s.engine.UpsertUsers(others[i*10 : i*10+10]); err != nil {
			t.Fatal(err)
		}
		s.mustRoundTrip(socks, "during concurrent reads")
		s.engine.RemoveUsers([]string{others[i*10].Email})
		s.apply(s.config, append([]protocol.User{u}, others[:i*10]...)...)
	}
	close(stop)
	<-done
	if got := s.engine.UserCount(); got != 1+40 {
		t.Fatalf("UserCount = %d, want 41", got)
	}
}

func TestStatsPolicyIsInjectedAndAdminPolicyKept(t *testing.T) {
	// A policy without stats must still yield user counters, and the admin's
	// own level settings must survive (a bad one is still refused).
	base := `{"policy":{"levels":{"0":{"handshake":%s}}},"outbounds":[{"protocol":"freedom"}]}`
	if err := xraycore.Validate([]byte(fmt.Sprintf(base, "4"))); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := xraycore.Validate([]byte(fmt.Sprintf(base, `"x"`))); !errors.Is(err, xraycore.ErrInvalidConfig) {
		t.Fatalf("a bad admin policy was dropped instead of refused: %v", err)
	}
	s := newServer(t, xraytest.TagTrojan)
	var cfg map[string]any
	if err := json.Unmarshal(s.config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["policy"] = map[string]any{"levels": map[string]any{"0": map[string]any{"statsUserUplink": false, "connIdle": 300}}}
	withPolicy, _ := json.Marshal(cfg)
	u := xraytest.TestUser(1, "u")
	s.apply(withPolicy, u)
	if err := xraytest.RoundTrip(s.client(xraytest.TagTrojan, u), s.echo, xraytest.Payload(2048)); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, s.engine, u.Email, 2048)
}

func TestVersion(t *testing.T) {
	if v := xraycore.Version(); !strings.HasPrefix(v, "26.") {
		t.Fatalf("Version = %q, want Xray 26.x", v)
	}
}

// benchUsers makes n users once per process.
var benchUserCache []protocol.User

func benchUsers(n int) []protocol.User {
	for len(benchUserCache) < n {
		i := len(benchUserCache)
		benchUserCache = append(benchUserCache, xraytest.TestUser(int64(i+1), "bench"+strconv.Itoa(i)))
	}
	return benchUserCache[:n]
}

func benchConfig(b *testing.B) []byte {
	ports := map[string]int{}
	for _, tag := range allTags {
		ports[tag] = xraytest.FreePort(b)
	}
	return xraytest.ServerConfig(ports)
}

func reportMemory(b *testing.B) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB")); err == nil {
					b.ReportMetric(float64(kb)/1024, "rss-MiB")
				}
			}
		}
	}
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkApply100k is a cold Apply of 100,000 users on the four inbounds.
func BenchmarkApply100k(b *testing.B) {
	benchApply(b, benchUsers(100_000))
}

// BenchmarkApply100kPerDevice3 is BenchmarkApply100k with every user per
// device with three devices: 300,000 identities, credentials derived.
func BenchmarkApply100kPerDevice3(b *testing.B) {
	users := slices.Clone(benchUsers(100_000))
	devices := []int64{1, 2, 3}
	for i := range users {
		users[i].PerDevice, users[i].Devices = true, devices
	}
	benchApply(b, users)
}

// benchApply measures a cold Apply of users, then reports the memory the
// engine holds and how long an identical Apply (a snapshot that changes
// nothing) takes.
func benchApply(b *testing.B, users []protocol.User) {
	var e *xraycore.Engine
	var cfg []byte
	var cpu time.Duration // the process's CPU time in Apply: moves less with the machine's load than ns/op
	for b.Loop() {
		b.StopTimer()
		if e != nil {
			_ = e.Close()
		}
		cfg = benchConfig(b)
		e = xraycore.New(quietLogger())
		before := processCPU()
		b.StartTimer()
		res, err := e.Apply(cfg, users)
		b.StopTimer()
		cpu += processCPU() - before
		b.StartTimer()
		if err != nil || len(res.InboundErrors) != 0 {
			b.Fatalf("Apply: %v %v", err, res.InboundErrors)
		}
	}
	b.StopTimer()
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	reportMemory(b)
	b.ReportMetric(float64(e.UserCount()), "identities")
	start := time.Now()
	if _, err := e.Apply(cfg, users); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "reapply-ms")
	_ = e.Close()
}

// BenchmarkUpsertOne adds one new user to an engine already holding 1,000
// or 100,000: the cost must not depend on how many are installed.
func BenchmarkUpsertOne(b *testing.B) {
	for _, installed := range []int{1_000, 100_000} {
		b.Run(strconv.Itoa(installed), func(b *testing.B) {
			e := xraycore.New(quietLogger())
			defer e.Close()
			if _, err := e.Apply(benchConfig(b), benchUsers(installed)); err != nil {
				b.Fatal(err)
			}
			var batch []protocol.User
			added := 0
			for b.Loop() {
				if len(batch) == 0 {
					b.StopTimer()
					for j := range 1024 {
						batch = append(batch, xraytest.TestUser(int64(10_000_000+added+j), "extra"))
					}
					b.StartTimer()
				}
				u := batch[len(batch)-1]
				batch = batch[:len(batch)-1]
				added++
				if err := e.UpsertUsers([]protocol.User{u}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if e.UserCount() != installed+added {
				b.Fatalf("UserCount = %d, want %d", e.UserCount(), installed+added)
			}
		})
	}
}
