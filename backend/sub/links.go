package sub

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// Host security values.
const (
	HostSecurityInboundDefault = "inbound_default"
	HostSecurityNone           = "none"
	HostSecurityTLS            = "tls"
)

// Host is one way to reach an inbound; each becomes one link. Empty fields
// take the inbound's values. Address, SNI and Host may be comma lists (one
// entry is picked per rendering) and a "*" in them becomes random hex.
// Remark, Address and Path may hold variables ({USERNAME}, {DATA_LEFT}, ...).
type Host struct {
	Remark        string `json:"remark"`
	Address       string `json:"address"`
	Port          int    `json:"port"` // 0: the inbound's port
	SNI           string `json:"sni"`
	Host          string `json:"host"`
	Path          string `json:"path"`
	Security      string `json:"security"` // inbound_default|none|tls
	ALPN          string `json:"alpn"`
	Fingerprint   string `json:"fingerprint"`
	AllowInsecure bool   `json:"allowinsecure"`
	// PinnedPeerCertSHA256 and VerifyPeerCertByName are share-link "pcs" and
	// "vcn", the replacements for allowInsecure in Xray 26 clients.
	PinnedPeerCertSHA256 string `json:"pinned_peer_cert_sha256"`
	VerifyPeerCertByName string `json:"verify_peer_cert_by_name"`
	UseSNIAsHost         bool   `json:"use_sni_as_host"`
	IsDisabled           bool   `json:"is_disabled"`
	// The rest reach only the formats that can carry them (share links
	// have no words for them). MuxEnable turns on Mux.Cool in Xray JSON
	// (never with Vision, which refuses it); FragmentSetting is
	// "length,interval,packets" ("100-200,10-20,tlshello") and NoiseSetting
	// "type:packet[,delay]" items joined by "&" ("rand:10-20,10-16"), both
	// for Xray JSON's freedom dialer; RandomUserAgent sends a browser's
	// User-Agent on HTTP-based transports.
	MuxEnable       bool   `json:"mux_enable"`
	FragmentSetting string `json:"fragment_setting"`
	NoiseSetting    string `json:"noise_setting"`
	RandomUserAgent bool   `json:"random_user_agent"`
}

// DefaultHost is what a link uses when the operator configured no host for
// an inbound: the panel's public address, the inbound's port, and the remark
// "<TAG> (<USERNAME>)".
func DefaultHost(tag, address string) Host {
	return Host{Remark: tag + " ({USERNAME})", Address: address, Security: HostSecurityInboundDefault}
}

// Options tune LinksWith.
type Options struct {
	// Now is the clock for {DAYS_LEFT} and {TIME_LEFT}; zero means time.Now().
	Now time.Time
	// Rand returns a number in [0, n); it picks entries of comma lists and
	// fills "*". Nil uses math/rand/v2.
	Rand func(n int) int
	// ServerIP is {SERVER_IP}; empty means the default address.
	ServerIP string
}

// Links renders the share links of user u: one per inbound the user is in
// (the protocol has credentials in u.Proxies and the tag is not in
// u.ExcludedInbounds) and per host of that inbound, in the order of the
// inbounds in the config and of the hosts in their list. An inbound with no
// entry in hosts gets DefaultHost(tag, defaultAddress); one whose entry is an
// empty list gets no link (the operator removed its hosts). Inbounds a link
// cannot describe are skipped: other protocols, unknown transports, VMess
// over REALITY, Shadowsocks over anything but plain TCP, REALITY without a
// valid key, and no port to give.
func Links(u *model.User, inbounds []xrayconf.Inbound, hosts map[string][]Host, defaultAddress string) []string {
	return LinksWith(u, inbounds, hosts, defaultAddress, Options{})
}

// LinksWith is Links with a clock, a random source and the server IP.
func LinksWith(u *model.User, inbounds []xrayconf.Inbound, hosts map[string][]Host, defaultAddress string, opt Options) []string {
	var w LinkWriter
	var out []string
	var buf []byte
	EachEntry(u, inbounds, hosts, defaultAddress, opt, func(e *Entry) {
		buf = w.AppendLink(buf[:0], e)
		out = append(out, string(buf))
	})
	return out
}

// EncodeBase64 is the base64 subscription body: standard base64 of the links
// joined by "\n".
func EncodeBase64(links []string) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Join(links, "\n")))
}

// credentials returns the user's settings for the inbound's protocol when the
// user is in the inbound.
func credentials(u *model.User, in *xrayconf.Inbound) (model.ProxySettings, bool) {
	if !in.AcceptsUsers {
		return model.ProxySettings{}, false
	}
	p, ok := u.Proxies[in.Protocol]
	if !ok {
		return p, false
	}
	switch in.Protocol {
	case model.ProtoVLESS, model.ProtoVMess:
		ok = p.ID != ""
	default:
		ok = p.Password != ""
	}
	if !ok {
		return p, false
	}
	for _, tag := range u.ExcludedInbounds[in.Protocol] {
		if tag == in.Tag {
			return p, false
		}
	}
	return p, true
}

type renderer struct {
	vars           vars
	rand           func(n int) int
	defaultAddress string
	buf            []byte // reused for every link; each link costs one string
	scratch        []byte
}

// params are a link's effective values once the host is laid over the inbound.
type params struct {
	address, urlHost, remark string // address bare, urlHost bracketed if IPv6
	port                     int
	network                  string
	security                 string
	// tls and reality
	sni, fp, alpn      string
	allowInsecure      bool
	pcs, vcn           string
	pbk, sid, spx, pqv string
	// transport
	headerType, path, host, serviceName, authority, mode, seed string
}

func (r *renderer) resolve(in *xrayconf.Inbound, h *Host) (p params, ok bool) {
	p = params{network: in.Network, port: in.Port}
	switch in.Network {
	case xrayconf.NetTCP, xrayconf.NetWS, xrayconf.NetGRPC, xrayconf.NetHTTPUpgrade, xrayconf.NetXHTTP, xrayconf.NetKCP:
	default:
		return p, false
	}
	if h.Port != 0 {
		p.port = h.Port
	}
	if p.port <= 0 || p.port > 65535 {
		return p, false
	}
	p.address = r.vars.expand(r.pick(h.Address), in.Protocol, in.Network)
	if p.address == "" {
		p.address = r.defaultAddress
	}
	if p.address, p.urlHost, ok = urlHost(p.address); !ok {
		return p, false
	}
	remark := h.Remark
	if remark == "" {
		remark = in.Tag + " ({USERNAME})" // a nameless link is useless in a client's list
	}
	p.remark = r.vars.expand(remark, in.Protocol, in.Network)

	switch h.Security {
	case HostSecurityNone:
		p.security = xrayconf.SecurityNone
	case HostSecurityTLS:
		p.security = xrayconf.SecurityTLS
	default:
		p.security = in.Security
	}
	own := p.security == in.Security // the inbound's own TLS settings apply
	switch p.security {
	case xrayconf.SecurityNone:
	case xrayconf.SecurityTLS:
		p.sni = r.pick(h.SNI)
		p.alpn = h.ALPN
		p.pcs = h.PinnedPeerCertSHA256
		p.vcn = h.VerifyPeerCertByName
		if own {
			if p.sni == "" && len(in.SNI) > 0 {
				p.sni = in.SNI[0]
			}
			if p.alpn == "" {
				p.alpn = strings.Join(in.ALPN, ",")
			}
			if p.pcs == "" {
				p.pcs = in.PinnedPeerCertSHA256
			}
			if p.vcn == "" {
				p.vcn = in.VerifyPeerCertByName
			}
			p.fp = in.Fingerprint
			p.allowInsecure = in.AllowInsecure
		}
		p.fp = first(h.Fingerprint, p.fp)
		p.allowInsecure = p.allowInsecure || h.AllowInsecure
	case xrayconf.SecurityReality:
		if in.PublicKey == "" {
			return p, false
		}
		p.sni = r.pick(h.SNI)
		if p.sni == "" && len(in.ServerNames) > 0 {
			p.sni = in.ServerNames[0]
		}
		// Clients other than Xray refuse REALITY without a fingerprint.
		p.fp = first(h.Fingerprint, in.Fingerprint, "chrome")
		p.pbk = in.PublicKey
		if len(in.ShortIDs) > 0 {
			p.sid = in.ShortIDs[0]
		}
		p.spx = in.SpiderX
		p.pqv = in.Mldsa65Verify
	default:
		return p, false
	}

	path := r.vars.expand(h.Path, in.Protocol, in.Network)
	host := r.pick(h.Host)
	if h.UseSNIAsHost && p.sni != "" {
		host = p.sni
	}
	switch in.Network {
	case xrayconf.NetTCP:
		p.headerType = in.HeaderType
		if p.headerType == "http" {
			p.path, p.host = first(path, in.Path), first(host, in.Host)
		}
	case xrayconf.NetWS, xrayconf.NetHTTPUpgrade:
		p.path, p.host = first(path, in.Path), first(host, in.Host)
	case xrayconf.NetXHTTP:
		p.path, p.host = first(path, in.Path), first(host, in.Host)
		p.mode = first(in.Mode, "auto")
	case xrayconf.NetGRPC:
		p.serviceName, p.authority = first(path, in.ServiceName), first(host, in.Authority)
		p.mode = "gun"
		if in.MultiMode {
			p.mode = "multi"
		}
	case xrayconf.NetKCP:
		p.headerType, p.seed = in.HeaderType, in.Seed
	}
	return p, true
}

func (r *renderer) link(in *xrayconf.Inbound, h *Host, cred model.ProxySettings) (string, bool) {
	var e Entry
	if !r.entry(&e, in, h, cred) {
		return "", false
	}
	r.buf = r.appendLink(r.buf[:0], &e)
	return string(r.buf), true
}

// entry fills e with what a client needs to reach in through h, or reports
// false when no link could describe it: VMess has no REALITY fields and
// SIP002 has no words for transports or TLS.
func (r *renderer) entry(e *Entry, in *xrayconf.Inbound, h *Host, cred model.ProxySettings) bool {
	p, ok := r.resolve(in, h)
	if !ok {
		return false
	}
	*e = Entry{
		Tag: in.Tag, Protocol: in.Protocol, Remark: p.remark, Address: p.address, urlHost: p.urlHost,
		Port: p.port, Network: p.network, Security: p.security,
		SNI: p.sni, Fingerprint: p.fp, ALPN: p.alpn, AllowInsecure: p.allowInsecure,
		PinnedPeerCertSHA256: p.pcs, VerifyPeerCertByName: p.vcn,
		PublicKey: p.pbk, ShortID: p.sid, SpiderX: p.spx, Mldsa65Verify: p.pqv,
		HeaderType: p.headerType, Path: p.path, Host: p.host, ServiceName: p.serviceName,
		Authority: p.authority, Mode: p.mode, Seed: p.seed,
		Mux: h.MuxEnable, Fragment: h.FragmentSetting, Noise: h.NoiseSetting,
	}
	if h.RandomUserAgent && (p.network != xrayconf.NetTCP || p.headerType == "http") && p.network != xrayconf.NetKCP && p.network != xrayconf.NetGRPC {
		e.UserAgent = browserUserAgents[r.rand(len(browserUserAgents))]
	}
	switch in.Protocol {
	case model.ProtoVLESS:
		e.ID = cred.ID
		if cred.Flow != "" && in.FlowAllowed && p.security != xrayconf.SecurityNone {
			e.Flow = cred.Flow
		}
	case model.ProtoVMess:
		if p.security == xrayconf.SecurityReality {
			return false
		}
		e.ID = cred.ID
	case model.ProtoTrojan:
		e.Password = cred.Password
	case model.ProtoShadowsocks:
		if p.network != xrayconf.NetTCP || p.headerType == "http" || p.security != xrayconf.SecurityNone {
			return false
		}
		if xrayconf.IsSS2022(in.Method) {
			if in.Password == "" {
				return false
			}
			// A multi-user 2022 inbound wants "serverKey:userKey".
			e.Method = strings.ToLower(in.Method)
			e.Password = in.Password + ":" + xrayconf.SS2022UserKey(in.Method, cred.Password)
		} else {
			e.Method = first(cred.Method, in.Method, xrayconf.DefaultSSMethod)
			e.Password = cred.Password
		}
	default:
		return false
	}
	return true
}

// appendLink writes the share link of e.
func (r *renderer) appendLink(b []byte, e *Entry) []byte {
	p := params{
		address: e.Address, urlHost: e.urlHost, remark: e.Remark, port: e.Port, network: e.Network, security: e.Security,
		sni: e.SNI, fp: e.Fingerprint, alpn: e.ALPN, allowInsecure: e.AllowInsecure, pcs: e.PinnedPeerCertSHA256,
		vcn: e.VerifyPeerCertByName, pbk: e.PublicKey, sid: e.ShortID, spx: e.SpiderX, pqv: e.Mldsa65Verify,
		headerType: e.HeaderType, path: e.Path, host: e.Host, serviceName: e.ServiceName, authority: e.Authority,
		mode: e.Mode, seed: e.Seed,
	}
	if p.urlHost == "" {
		var ok bool
		if p.address, p.urlHost, ok = urlHost(p.address); !ok {
			p.urlHost = p.address
		}
	}
	switch e.Protocol {
	case model.ProtoVLESS:
		b = append(b, "vless://"...)
		b = appendEscaped(b, e.ID)
		b = append(b, '@')
		b = appendHostPort(b, p.urlHost, p.port)
		b = append(b, "?encryption=none&type="...)
		b = append(b, p.network...)
		b = append(b, "&security="...)
		b = append(b, p.security...)
		b = appendSecurityParams(b, &p)
		b = appendParam(b, "flow", e.Flow)
		b = appendTransportParams(b, &p)
	case model.ProtoTrojan:
		b = append(b, "trojan://"...)
		b = appendEscaped(b, e.Password)
		b = append(b, '@')
		b = appendHostPort(b, p.urlHost, p.port)
		b = append(b, "?security="...)
		b = append(b, p.security...)
		b = append(b, "&type="...)
		b = append(b, p.network...)
		b = appendSecurityParams(b, &p)
		b = appendTransportParams(b, &p)
	case model.ProtoVMess:
		return r.appendVMess(b, &p, e.ID)
	case model.ProtoShadowsocks:
		b = append(b, "ss://"...)
		if xrayconf.IsSS2022(e.Method) {
			b = append(b, e.Method...)
			b = append(b, ':')
			b = appendEscaped(b, e.Password)
		} else {
			u := r.scratch[:0]
			u = append(u, e.Method...)
			u = append(u, ':')
			u = append(u, e.Password...)
			r.scratch = u
			b = base64.RawURLEncoding.AppendEncode(b, u)
		}
		b = append(b, '@')
		b = appendHostPort(b, p.urlHost, p.port)
	}
	b = append(b, '#')
	return appendEscaped(b, p.remark)
}

func appendSecurityParams(b []byte, p *params) []byte {
	switch p.security {
	case xrayconf.SecurityTLS:
		b = appendParam(b, "sni", p.sni)
		b = appendParam(b, "fp", p.fp)
		b = appendParam(b, "alpn", p.alpn)
		if p.allowInsecure {
			b = append(b, "&allowInsecure=1"...)
		}
		b = appendParam(b, "pcs", p.pcs)
		b = appendParam(b, "vcn", p.vcn)
	case xrayconf.SecurityReality:
		b = appendParam(b, "sni", p.sni)
		b = appendParam(b, "fp", p.fp)
		b = appendParam(b, "pbk", p.pbk)
		b = appendParam(b, "sid", p.sid)
		b = appendParam(b, "spx", p.spx)
		b = appendParam(b, "pqv", p.pqv)
	}
	return b
}

func appendTransportParams(b []byte, p *params) []byte {
	b = appendParam(b, "headerType", p.headerType)
	b = appendParam(b, "path", p.path)
	b = appendParam(b, "host", p.host)
	b = appendParam(b, "serviceName", p.serviceName)
	b = appendParam(b, "authority", p.authority)
	b = appendParam(b, "mode", p.mode)
	b = appendParam(b, "seed", p.seed)
	return b
}

// appendVMess writes vmess:// + standard base64 of the v2rayN JSON with its
// exact keys, in its order.
func (r *renderer) appendVMess(b []byte, p *params, id string) []byte {
	// What goes in "type", "host" and "path" depends on the transport, as
	// v2rayN reads them: gRPC puts its mode in type, its service name in
	// path and its authority in host; mKCP puts the seed in path; XHTTP puts
	// its mode in type.
	typ, host, path := "none", p.host, p.path
	switch p.network {
	case xrayconf.NetTCP, xrayconf.NetKCP:
		typ = p.headerType
		if p.network == xrayconf.NetKCP {
			path = p.seed
		}
	case xrayconf.NetGRPC:
		typ, host, path = p.mode, p.authority, p.serviceName
	case xrayconf.NetXHTTP:
		typ = p.mode
	}
	tls, sni, alpn, fp := "", "", "", ""
	if p.security == xrayconf.SecurityTLS {
		tls, sni, alpn, fp = "tls", p.sni, p.alpn, p.fp
	}
	j := r.scratch[:0]
	j = append(j, `{"v":"2","ps":`...)
	j = AppendJSONString(j, p.remark)
	j = append(j, `,"add":`...)
	j = AppendJSONString(j, p.address)
	j = append(j, `,"port":"`...)
	j = strconv.AppendInt(j, int64(p.port), 10)
	j = append(j, `","id":`...)
	j = AppendJSONString(j, id)
	j = append(j, `,"aid":"0","scy":"auto","net":`...)
	j = AppendJSONString(j, p.network)
	j = append(j, `,"type":`...)
	j = AppendJSONString(j, typ)
	j = append(j, `,"host":`...)
	j = AppendJSONString(j, host)
	j = append(j, `,"path":`...)
	j = AppendJSONString(j, path)
	j = append(j, `,"tls":`...)
	j = AppendJSONString(j, tls)
	j = append(j, `,"sni":`...)
	j = AppendJSONString(j, sni)
	j = append(j, `,"alpn":`...)
	j = AppendJSONString(j, alpn)
	j = append(j, `,"fp":`...)
	j = AppendJSONString(j, fp)
	j = append(j, '}')
	r.scratch = j
	b = append(b, "vmess://"...)
	return base64.StdEncoding.AppendEncode(b, j)
}

// pick resolves a host field: one entry of a comma list, with each "*"
// replaced by 16 random hex digits (so a CDN sees a fresh subdomain).
func (r *renderer) pick(s string) string {
	if s == "" {
		return s
	}
	if n := strings.Count(s, ",") + 1; n > 1 {
		k := r.rand(n)
		for ; k > 0; k-- {
			_, s, _ = strings.Cut(s, ",")
		}
		s, _, _ = strings.Cut(s, ",")
		s = strings.TrimSpace(s)
	}
	if strings.IndexByte(s, '*') < 0 {
		return s
	}
	const hexDigits = "0123456789abcdef"
	out := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); i++ {
		if s[i] != '*' {
			out = append(out, s[i])
			continue
		}
		for range 16 {
			out = append(out, hexDigits[r.rand(16)])
		}
	}
	return string(out)
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
