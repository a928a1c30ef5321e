package sub

import (
	"math/rand/v2"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// Entry is one way for the user to reach one inbound: a host laid over the
// inbound, variables expanded, comma lists picked, credentials resolved. It
// is what every subscription format is written from, so that a share link, a
// Clash proxy and a sing-box outbound of the same host always agree.
type Entry struct {
	Tag      string // the inbound's tag
	Protocol string // vless, vmess, trojan, shadowsocks
	Remark   string
	Address  string // bare: an IPv6 literal has no brackets
	urlHost  string // Address as a URL host; computed by AppendLink when empty
	Port     int
	Network  string // tcp, ws, grpc, httpupgrade, xhttp, kcp
	Security string // none, tls, reality

	// TLS and REALITY.
	SNI, Fingerprint     string
	ALPN                 string // comma list
	AllowInsecure        bool
	PinnedPeerCertSHA256 string
	VerifyPeerCertByName string
	PublicKey, ShortID   string
	SpiderX              string
	Mldsa65Verify        string

	// Transport. HeaderType is tcp's "none"/"http" or kcp's legacy header;
	// Path and Host of a tcp http header are comma lists.
	HeaderType, Path, Host string
	ServiceName, Authority string
	Mode                   string // grpc: gun|multi; xhttp: auto|packet-up|stream-up|stream-one
	Seed                   string // kcp

	// Extras only some formats carry; see Host.
	Mux             bool
	Fragment, Noise string
	UserAgent       string // set when the host asks for a random browser User-Agent

	// Credentials. Flow is set only where Xray accepts it (vless over raw
	// with TLS or REALITY). For Shadowsocks, Method is the cipher and
	// Password what the client types, "serverKey:userKey" for 2022 ciphers.
	ID, Flow, Password, Method string
}

// EachEntry calls fn for every entry of u, in the order Links renders them
// (one per inbound the user is in and per enabled host). fn must not keep e:
// it is reused for the next entry.
func EachEntry(u *model.User, inbounds []xrayconf.Inbound, hosts map[string][]Host, defaultAddress string, opt Options, fn func(e *Entry)) {
	r := newRenderer(u, defaultAddress, opt)
	var e Entry
	for i := range inbounds {
		in := &inbounds[i]
		cred, ok := credentials(u, in)
		if !ok {
			continue
		}
		list, configured := hosts[in.Tag]
		var fallback [1]Host
		if !configured {
			fallback[0] = DefaultHost(in.Tag, defaultAddress)
			list = fallback[:]
		}
		for j := range list {
			if list[j].IsDisabled {
				continue
			}
			if r.entry(&e, in, &list[j], cred) {
				fn(&e)
			}
		}
	}
}

// LinkWriter appends share links of entries to a buffer, reusing its scratch
// space across calls.
type LinkWriter struct{ r renderer }

// AppendLink appends the share link of e to b.
func (w *LinkWriter) AppendLink(b []byte, e *Entry) []byte { return w.r.appendLink(b, e) }

func newRenderer(u *model.User, defaultAddress string, opt Options) *renderer {
	r := &renderer{
		vars:           vars{u: u, serverIP: opt.ServerIP, now: opt.Now},
		rand:           opt.Rand,
		defaultAddress: defaultAddress,
		buf:            make([]byte, 0, 512),
	}
	if r.vars.serverIP == "" {
		r.vars.serverIP = defaultAddress
	}
	if r.vars.now.IsZero() {
		r.vars.now = time.Now()
	}
	if r.rand == nil {
		r.rand = rand.IntN
	}
	return r
}

// browserUserAgents are current desktop and mobile browsers' User-Agents,
// for hosts with random_user_agent: a fixed client string is easy to
// fingerprint on an HTTP transport.
var browserUserAgents = [...]string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
}
