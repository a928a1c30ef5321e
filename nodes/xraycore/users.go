package xraycore

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	xproto "github.com/xtls/xray-core/common/protocol"
	"github.com/xtls/xray-core/common/serial"
	"github.com/xtls/xray-core/proxy/shadowsocks"
	"github.com/xtls/xray-core/proxy/shadowsocks_2022"
	"github.com/xtls/xray-core/proxy/trojan"
	"github.com/xtls/xray-core/proxy/vless"
	"github.com/xtls/xray-core/proxy/vmess"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// accountKind is the form of Xray account a user takes in an inbound. Two
// inbounds of one kind share the user's Xray account object.
type accountKind uint8

const (
	kindNone        accountKind = iota
	kindVLESS                   // VLESS without flow
	kindVLESSVision             // VLESS keeping the user's flow
	kindVMess
	kindTrojan
	kindShadowsocks // classic AEAD, per-user method
	kindSS2022Short // Shadowsocks 2022 with a 16-byte key
	kindSS2022Long  // Shadowsocks 2022 with a 32-byte key
	kindCount
)

func (k accountKind) String() string {
	switch k {
	case kindVLESS, kindVLESSVision:
		return "vless"
	case kindVMess:
		return "vmess"
	case kindTrojan:
		return "trojan"
	case kindShadowsocks:
		return "shadowsocks"
	case kindSS2022Short, kindSS2022Long:
		return "shadowsocks 2022"
	}
	return "no"
}

// userKey is everything about a user that Xray sees. Users whose key did not
// change are left alone by Apply; a changed key means remove and re-add.
type userKey struct {
	vlessID, vlessFlow string
	vmessID            string
	trojanPassword     string
	ssPassword         string
	ssMethod           string
	hasVLESS, hasVMess bool
	hasTrojan, hasSS   bool
	excluded           string // sorted tags joined by NUL
}

func keyOf(u *protocol.User) userKey {
	var k userKey
	if u.VLESS != nil {
		k.hasVLESS, k.vlessID, k.vlessFlow = true, u.VLESS.ID, u.VLESS.Flow
	}
	if u.VMess != nil {
		k.hasVMess, k.vmessID = true, u.VMess.ID
	}
	if u.Trojan != nil {
		k.hasTrojan, k.trojanPassword = true, u.Trojan.Password
	}
	if u.Shadowsocks != nil {
		k.hasSS, k.ssPassword, k.ssMethod = true, u.Shadowsocks.Password, u.Shadowsocks.Method
	}
	if len(u.Excluded) > 0 {
		ex := slices.Clone(u.Excluded)
		slices.Sort(ex)
		k.excluded = strings.Join(ex, "\x00")
	}
	return k
}

// installedUser is a user the engine knows, with its Xray account built
// lazily once per kind and shared by every inbound of that kind. 100,000 of
// these stay in memory, so failures are a bit set rather than stored errors.
type installedUser struct {
	user     protocol.User
	key      userKey
	accounts [kindCount]*xproto.MemoryUser
	// refused[k]: Xray refused the account of kind k. One element per kind,
	// not a bitmask, so inbounds of different kinds fill in parallel.
	refused [kindCount]bool
}

func newInstalledUser(u protocol.User) *installedUser {
	return &installedUser{user: u, key: keyOf(&u)}
}

// has reports whether the user has credentials for kind.
func (iu *installedUser) has(kind accountKind) bool {
	switch kind {
	case kindVLESS, kindVLESSVision:
		return iu.key.hasVLESS
	case kindVMess:
		return iu.key.hasVMess
	case kindTrojan:
		return iu.key.hasTrojan
	case kindShadowsocks, kindSS2022Short, kindSS2022Long:
		return iu.key.hasSS
	}
	return false
}

// eligible reports whether the user belongs in the inbound.
func (iu *installedUser) eligible(spec *inboundSpec) bool {
	return spec.kind != kindNone && iu.has(spec.kind) && !slices.Contains(iu.user.Excluded, spec.tag)
}

// memoryUser returns the user's Xray account for kind, building it once.
// err is set only by the call that found the credentials refused, so the
// refusal is logged once; later calls get nil, nil.
func (iu *installedUser) memoryUser(kind accountKind) (*xproto.MemoryUser, error) {
	if mu := iu.accounts[kind]; mu != nil || iu.refused[kind] {
		return mu, nil
	}
	mu, err := buildMemoryUser(&iu.user, kind)
	if err != nil {
		iu.refused[kind] = true
		return nil, err
	}
	iu.accounts[kind] = mu
	return mu, nil
}

func buildMemoryUser(u *protocol.User, kind accountKind) (*xproto.MemoryUser, error) {
	var account interface {
		AsAccount() (xproto.Account, error)
	}
	switch kind {
	case kindVLESS:
		account = &vless.Account{Id: u.VLESS.ID, Encryption: "none"}
	case kindVLESSVision:
		account = &vless.Account{Id: u.VLESS.ID, Flow: u.VLESS.Flow, Encryption: "none"}
	case kindVMess:
		account = &vmess.Account{Id: u.VMess.ID}
	case kindTrojan:
		if u.Trojan.Password == "" {
			return nil, fmt.Errorf("empty trojan password")
		}
		account = &trojan.Account{Password: u.Trojan.Password}
	case kindShadowsocks:
		cipher, ok := ssCiphers[strings.ToLower(u.Shadowsocks.Method)]
		if !ok {
			return nil, fmt.Errorf("shadowsocks method %q is not a per-user AEAD method", u.Shadowsocks.Method)
		}
		if u.Shadowsocks.Password == "" {
			return nil, fmt.Errorf("empty shadowsocks password")
		}
		account = &shadowsocks.Account{Password: u.Shadowsocks.Password, CipherType: cipher}
	case kindSS2022Short, kindSS2022Long:
		n := 16
		if kind == kindSS2022Long {
			n = 32
		}
		account = &shadowsocks_2022.Account{Key: ss2022Key(u.Shadowsocks.Password, n)}
	default:
		return nil, fmt.Errorf("no account for kind %d", kind)
	}
	a, err := account.AsAccount()
	if err != nil {
		// Xray's message quotes the credential (a malformed UUID, say), and
		// credentials never reach a log line.
		return nil, fmt.Errorf("invalid %s credentials", kind)
	}
	return &xproto.MemoryUser{Email: u.Email, Level: 0, Account: a}, nil
}

// ssCiphers are the classic Shadowsocks methods Xray accepts per user on a
// multi-user inbound ("none" works only as the inbound's single user).
var ssCiphers = map[string]shadowsocks.CipherType{
	"aes-128-gcm":             shadowsocks.CipherType_AES_128_GCM,
	"aes-256-gcm":             shadowsocks.CipherType_AES_256_GCM,
	"chacha20-poly1305":       shadowsocks.CipherType_CHACHA20_POLY1305,
	"chacha20-ietf-poly1305":  shadowsocks.CipherType_CHACHA20_POLY1305,
	"xchacha20-poly1305":      shadowsocks.CipherType_XCHACHA20_POLY1305,
	"xchacha20-ietf-poly1305": shadowsocks.CipherType_XCHACHA20_POLY1305,
	"none":                    shadowsocks.CipherType_NONE,
	"plain":                   shadowsocks.CipherType_NONE,
}

// SS2022UserKey is the user PSK (base64) a user gets on a multi-user
// Shadowsocks 2022 inbound with the given method. A password that already is
// a base64 key of the method's length is used as is; any other password is
// stretched into one with SHA-256, so users with classic passwords work on
// 2022 inbounds too. Subscription links must use the same value (after the
// server PSK: "serverPSK:userPSK").
func SS2022UserKey(method, password string) (string, error) {
	n, ok := ss2022KeyLen[method]
	if !ok {
		return "", fmt.Errorf("unknown shadowsocks 2022 method %q", method)
	}
	return ss2022Key(password, n), nil
}

func ss2022Key(password string, n int) string {
	if raw, err := base64.StdEncoding.DecodeString(password); err == nil && len(raw) == n {
		return password
	}
	sum := sha256.Sum256([]byte("outpost-ss2022-user-key\x00" + password))
	return base64.StdEncoding.EncodeToString(sum[:n])
}

// ss2022ConfigUser is the user as an entry of MultiUserServerConfig.Users.
func ss2022ConfigUser(u *protocol.User, n int) *xproto.User {
	return &xproto.User{
		Email:   u.Email,
		Account: serial.ToTypedMessage(&shadowsocks_2022.Account{Key: ss2022Key(u.Shadowsocks.Password, n)}),
	}
}
