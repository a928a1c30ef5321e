package xraycore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xtls/xray-core/common/serial"
	"github.com/xtls/xray-core/core"
	jsonreader "github.com/xtls/xray-core/infra/conf/json"
	xrayserial "github.com/xtls/xray-core/infra/conf/serial"
	"github.com/xtls/xray-core/proxy/shadowsocks_2022"

	// Registers every Xray feature (protocols, transports, apps) with the core.
	_ "github.com/xtls/xray-core/main/distro/all"
)

// ErrInvalidConfig is wrapped by every error that is the config's fault: it
// does not parse, Xray's builder refuses it, or an inbound has no unique tag.
var ErrInvalidConfig = errors.New("invalid xray config")

// Validate decodes configJSON with Xray's JSON loader (comments allowed) and
// builds it exactly as Apply would, after injecting the stats policy. The
// error wraps ErrInvalidConfig and carries Xray's own message. Besides Xray's
// rules, every inbound must have a tag that no other inbound has, because the
// engine diffs and reports inbounds by tag.
func Validate(configJSON []byte) error {
	_, err := prepare(configJSON)
	return err
}

// Version is the version of the embedded Xray core.
func Version() string { return core.Version() }

// preparedConfig is a config that passed Validate, split the way the engine
// applies it: the core (everything but inbounds) and each inbound on its own.
type preparedConfig struct {
	base      *core.Config // built config with Inbound emptied
	baseCanon string       // canonical JSON of everything but "inbounds"
	inbounds  []inboundSpec
}

// inboundSpec is one inbound of a prepared config.
type inboundSpec struct {
	tag      string
	protocol string // lower case, as written in the config
	canon    string // canonical JSON of the inbound object
	built    *core.InboundHandlerConfig
	// kind is the account type users get in this inbound; kindNone when the
	// inbound does not take panel users.
	kind accountKind
	// ss2022 is set for a multi-user Shadowsocks 2022 inbound: users are
	// injected into this config when the handler is built, because Xray's
	// AddUser for it re-keys every user on each call.
	ss2022 *shadowsocks_2022.MultiUserServerConfig
	// note explains why an inbound that looks like it should take users does
	// not (logged when the inbound is built).
	note string
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// prepare parses, injects the stats settings, builds and splits a config.
func prepare(configJSON []byte) (*preparedConfig, error) {
	// Xray accepts comments in JSON configs; strip them with Xray's own
	// reader so the engine sees the same document Xray does.
	plain, err := io.ReadAll(&jsonreader.Reader{Reader: bytes.NewReader(configJSON)})
	if err != nil {
		return nil, invalid("reading config: %v", err)
	}
	top, err := decodeObject(plain)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if err := injectStats(top); err != nil {
		return nil, err
	}
	injected, err := json.Marshal(top)
	if err != nil {
		return nil, invalid("encoding config: %v", err)
	}
	decoded, err := xrayserial.DecodeJSONConfig(bytes.NewReader(injected))
	if err != nil {
		return nil, locateInbound(top, err)
	}
	built, err := decoded.Build()
	if err != nil {
		return nil, locateInbound(top, err)
	}

	var rawInbounds []any
	inboundsKey := findKey(top, "inbounds")
	if v, ok := top[inboundsKey]; ok && v != nil {
		rawInbounds, ok = v.([]any)
		if !ok {
			return nil, invalid("inbounds must be an array")
		}
	}
	if len(rawInbounds) != len(built.Inbound) {
		// Cannot happen with Xray's builder, which builds inbounds in order.
		return nil, invalid("built %d inbounds from %d in the config", len(built.Inbound), len(rawInbounds))
	}

	cfg := &preparedConfig{inbounds: make([]inboundSpec, 0, len(rawInbounds))}
	seen := make(map[string]bool, len(rawInbounds))
	for i, raw := range rawInbounds {
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, inboundInvalid(i, "", "not an object")
		}
		spec, err := newInboundSpec(obj, built.Inbound[i])
		if err != nil {
			return nil, &InboundError{Index: i, Tag: built.Inbound[i].Tag, Err: err}
		}
		if spec.tag == "" {
			return nil, inboundInvalid(i, "", "no tag; the engine identifies inbounds by tag")
		}
		if seen[spec.tag] {
			return nil, inboundInvalid(i, spec.tag, "tag %q is used twice", spec.tag)
		}
		seen[spec.tag] = true
		cfg.inbounds = append(cfg.inbounds, spec)
	}

	delete(top, inboundsKey)
	baseCanon, err := json.Marshal(top)
	if err != nil {
		return nil, invalid("encoding config: %v", err)
	}
	cfg.baseCanon = string(baseCanon)
	built.Inbound = nil
	withCuttingDispatcher(built)
	cfg.base = built
	return cfg, nil
}

// decodeObject decodes a JSON object keeping numbers as written, so that
// re-encoding it (sorted keys) gives a canonical form for comparison.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	if top == nil {
		return nil, errors.New("config must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parsing config: data after the top-level object")
	}
	return top, nil
}

// findKey returns the key of m that matches name case-insensitively (Xray's
// loader is encoding/json, which matches field names that way), or name.
func findKey(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// childObject returns m[name] as an object, creating it when absent or null.
func childObject(m map[string]any, name, path string) (map[string]any, error) {
	key := findKey(m, name)
	switch v := m[key].(type) {
	case nil:
		child := map[string]any{}
		m[key] = child
		return child, nil
	case map[string]any:
		return v, nil
	default:
		return nil, invalid("%s must be an object", path)
	}
}

// injectStats turns on the per-user traffic counters the engine reads:
// "stats": {} and policy level 0 with statsUserUplink/Downlink, and the
// per-user online address maps (statsUserOnline) the online report reads.
// The rest of the admin's policy is kept as written.
func injectStats(top map[string]any) error {
	if _, err := childObject(top, "stats", "stats"); err != nil {
		return err
	}
	policy, err := childObject(top, "policy", "policy")
	if err != nil {
		return err
	}
	levels, err := childObject(policy, "levels", "policy.levels")
	if err != nil {
		return err
	}
	level0, err := childObject(levels, "0", `policy.levels["0"]`)
	if err != nil {
		return err
	}
	level0[findKey(level0, "statsUserUplink")] = true
	level0[findKey(level0, "statsUserDownlink")] = true
	level0[findKey(level0, "statsUserOnline")] = true
	return nil
}

func stringField(m map[string]any, name string) string {
	s, _ := m[findKey(m, name)].(string)
	return s
}

func objectField(m map[string]any, name string) map[string]any {
	o, _ := m[findKey(m, name)].(map[string]any)
	return o
}

func newInboundSpec(obj map[string]any, built *core.InboundHandlerConfig) (inboundSpec, error) {
	canon, err := json.Marshal(obj)
	if err != nil {
		return inboundSpec{}, invalid("encoding inbound: %v", err)
	}
	spec := inboundSpec{
		tag:      built.Tag,
		protocol: strings.ToLower(stringField(obj, "protocol")),
		canon:    string(canon),
		built:    built,
	}
	settings := objectField(obj, "settings")
	switch spec.protocol {
	case "vless":
		spec.kind = kindVLESS
		if visionCapable(objectField(obj, "streamSettings")) {
			spec.kind = kindVLESSVision
		}
	case "vmess":
		spec.kind = kindVMess
	case "trojan":
		spec.kind = kindTrojan
	case "shadowsocks", "ss":
		if err := spec.setShadowsocksKind(settings); err != nil {
			return inboundSpec{}, err
		}
	}
	return spec, nil
}

// visionCapable reports whether a VLESS inbound can carry the
// xtls-rprx-vision flow: raw TCP under TLS or REALITY. Elsewhere a user's
// flow is dropped, as Marzban does, so one user record works on every
// VLESS inbound.
func visionCapable(stream map[string]any) bool {
	if stream == nil {
		return false
	}
	network := strings.ToLower(stringField(stream, "network"))
	security := strings.ToLower(stringField(stream, "security"))
	return (network == "" || network == "tcp" || network == "raw") &&
		(security == "tls" || security == "reality")
}

// ss2022KeyLen is the PSK length of each Shadowsocks 2022 method.
var ss2022KeyLen = map[string]int{
	"2022-blake3-aes-128-gcm":       16,
	"2022-blake3-aes-256-gcm":       32,
	"2022-blake3-chacha20-poly1305": 32,
}

func (spec *inboundSpec) setShadowsocksKind(settings map[string]any) error {
	proxySettings, err := spec.built.ProxySettings.GetInstance()
	if err != nil {
		return invalid("inbound %q: %v", spec.tag, err)
	}
	switch ps := proxySettings.(type) {
	case *shadowsocks_2022.MultiUserServerConfig:
		spec.ss2022 = ps
	case *shadowsocks_2022.ServerConfig:
		// Xray builds a 2022 inbound with an empty "clients" list as a
		// single-user one (no user manager). "clients" present means the
		// admin wants a multi-user inbound, so build that instead.
		_, hasClients := settings[findKey(settings, "clients")].([]any)
		switch {
		case !hasClients:
			spec.note = "single-user shadowsocks 2022 inbound (no \"clients\" array): panel users are not added"
		case !strings.Contains(ps.Method, "aes"):
			spec.note = "shadowsocks 2022 multi-user needs a 2022-blake3-aes-*-gcm method: panel users are not added"
		default:
			if _, err := base64.StdEncoding.DecodeString(ps.Key); err != nil || ps.Key == "" {
				return invalid("inbound %q: shadowsocks 2022 server password must be a base64 key", spec.tag)
			}
			spec.ss2022 = &shadowsocks_2022.MultiUserServerConfig{
				Method:  ps.Method,
				Key:     ps.Key,
				Network: ps.Network,
			}
			spec.built = &core.InboundHandlerConfig{
				Tag:              spec.built.Tag,
				ReceiverSettings: spec.built.ReceiverSettings,
				ProxySettings:    serial.ToTypedMessage(spec.ss2022),
			}
		}
	default:
		spec.kind = kindShadowsocks
		return nil
	}
	if spec.ss2022 != nil {
		switch ss2022KeyLen[spec.ss2022.Method] {
		case 16:
			spec.kind = kindSS2022Short
		case 32:
			spec.kind = kindSS2022Long
		default:
			return invalid("inbound %q: unknown shadowsocks 2022 method %q", spec.tag, spec.ss2022.Method)
		}
	}
	return nil
}
