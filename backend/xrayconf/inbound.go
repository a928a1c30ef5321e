// Package xrayconf is the panel's knowledge of the Xray core config: the
// default config a new panel starts with, the inbounds it declares (what users
// can be put in and what share links must say), and a canonical form to tell
// two configs apart. The node validates configs with Xray's own builder; this
// package only reads what the panel needs and never rejects a config for a
// field it does not know.
package xrayconf

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// Security of an inbound's transport.
const (
	SecurityNone    = "none"
	SecurityTLS     = "tls"
	SecurityReality = "reality"
)

// Transport networks, in the words share links use. Xray's aliases are
// folded into these: raw -> tcp (every client knows "tcp", only new ones know
// "raw"), websocket -> ws, splithttp -> xhttp, mkcp -> kcp.
const (
	NetTCP         = "tcp"
	NetWS          = "ws"
	NetGRPC        = "grpc"
	NetHTTPUpgrade = "httpupgrade"
	NetXHTTP       = "xhttp"
	NetKCP         = "kcp"
)

// Inbound is one inbound of the core config as the panel sees it: enough to
// list it, put users in it and render share links for it.
type Inbound struct {
	Tag      string
	Protocol string // lowercased: vless, vmess, trojan, shadowsocks, or any other Xray protocol
	Listen   string
	// Port is the first port of the inbound's port list; 0 when the inbound
	// listens on a unix socket (reachable only through a fallback or a
	// reverse proxy, so its links need a host with an explicit port).
	Port int

	Network  string // NetTCP, NetWS, ...; an unknown network is kept as written
	Security string // SecurityNone, SecurityTLS, SecurityReality

	// Transport details a client needs.
	Path        string // ws, httpupgrade, xhttp; tcp http header: request paths joined by ","
	Host        string // ws, httpupgrade, xhttp; tcp http header: Host values joined by ","
	ServiceName string // grpc
	Authority   string // grpc
	MultiMode   bool   // grpc
	HeaderType  string // tcp: "none" or "http"; kcp: legacy header name ("none", "wechat-video", ...)
	Mode        string // xhttp
	Seed        string // kcp: the mkcp-aes128gcm password (the legacy "seed")

	// TLS. SNI comes from serverName, else from the DNS names of inline
	// certificates (wildcards left out).
	SNI           []string
	ALPN          []string
	Fingerprint   string
	AllowInsecure bool
	// PinnedPeerCertSHA256 is what clients should pin (share-link "pcs"): the
	// operator's tlsSettings.pinnedPeerCertSha256 when set, else the SHA-256
	// of an inline self-signed leaf certificate, which no client can verify
	// through a CA. A CA-issued certificate is never pinned: renewals would
	// break every client until its next subscription update.
	PinnedPeerCertSHA256 string
	VerifyPeerCertByName string
	// CertificatesNotAfter are the expiry times of the inline
	// certificates (tlsSettings.certificates[].certificate), in order;
	// certificates named by file live on the nodes and are not read.
	CertificatesNotAfter []time.Time

	// REALITY. PublicKey is derived from privateKey; empty when the private
	// key is missing or malformed (Xray refuses such an inbound anyway).
	PublicKey     string
	ShortIDs      []string
	ServerNames   []string
	SpiderX       string
	Mldsa65Verify string // derived from mldsa65Seed, share-link "pqv"

	// Shadowsocks. Method and Password are the inbound-level ones: for a
	// 2022-blake3 multi-user inbound they are the cipher and the server key
	// every client must also know; classic multi-user inbounds take a method
	// per client instead.
	Method    string
	Password  string
	SSNetwork string // "tcp,udp" as written in settings.network

	// FlowAllowed says xtls-rprx-vision can be used: VLESS over plain tcp
	// (no http header) with TLS or REALITY.
	FlowAllowed bool
	// AcceptsUsers says the panel puts users in this inbound: vless, vmess,
	// trojan, and shadowsocks unless the method is a single-user one
	// (2022-blake3-chacha20-poly1305 has no multi-user mode in Xray).
	AcceptsUsers bool
}

// UserProtocol reports whether the panel manages users for protocol p.
func UserProtocol(p string) bool {
	switch p {
	case model.ProtoVLESS, model.ProtoVMess, model.ProtoTrojan, model.ProtoShadowsocks:
		return true
	}
	return false
}

// ParseInbounds reads the inbounds of an Xray JSON config (comments allowed,
// as Xray allows them). It is tolerant of fields it does not know; it fails
// only on JSON that does not decode, on a user-protocol inbound without a tag
// or without a port, and on duplicate tags.
func ParseInbounds(configJSON []byte) ([]Inbound, error) {
	var cfg struct {
		Inbounds []json.RawMessage `json:"inbounds"`
	}
	if err := json.Unmarshal(stripComments(configJSON), &cfg); err != nil {
		return nil, fmt.Errorf("decoding core config: %w: %w", model.ErrInvalid, err)
	}
	out := make([]Inbound, 0, len(cfg.Inbounds))
	seen := make(map[string]int, len(cfg.Inbounds))
	for i, raw := range cfg.Inbounds {
		in, err := parseInbound(raw)
		if err != nil {
			return nil, &InboundError{Index: i, Tag: in.Tag, Err: fmt.Errorf("inbound #%d: %w: %w", i, model.ErrInvalid, err)}
		}
		if in.Tag != "" {
			if j, dup := seen[in.Tag]; dup {
				return nil, &InboundError{Index: i, Tag: in.Tag, Err: fmt.Errorf("inbounds #%d and #%d: %w: duplicate tag %q", j, i, model.ErrInvalid, in.Tag)}
			}
			seen[in.Tag] = i
		}
		out = append(out, in)
	}
	return out, nil
}

// InboundError is a ParseInbounds error that one inbound causes: Index
// is its position in "inbounds", Tag its tag ("" when it has none or
// did not decode). It wraps model.ErrInvalid.
type InboundError struct {
	Index int
	Tag   string
	Err   error
}

func (e *InboundError) Error() string { return e.Err.Error() }
func (e *InboundError) Unwrap() error { return e.Err }

// InboundIndex and InboundTag are what the API reads (through an
// interface that xraycore.InboundError also satisfies).
func (e *InboundError) InboundIndex() int  { return e.Index }
func (e *InboundError) InboundTag() string { return e.Tag }

type rawInbound struct {
	Tag            string          `json:"tag"`
	Protocol       string          `json:"protocol"`
	Listen         json.RawMessage `json:"listen"`
	Port           json.RawMessage `json:"port"`
	Settings       json.RawMessage `json:"settings"`
	StreamSettings *rawStream      `json:"streamSettings"`
}

func parseInbound(raw json.RawMessage) (Inbound, error) {
	var r rawInbound
	if err := json.Unmarshal(raw, &r); err != nil {
		return Inbound{}, err
	}
	in := Inbound{
		Tag:      r.Tag,
		Protocol: strings.ToLower(r.Protocol),
		Listen:   jsonString(r.Listen),
		Port:     firstPort(r.Port),
	}
	user := UserProtocol(in.Protocol)
	if user && in.Tag == "" {
		return in, fmt.Errorf("%s inbound without a tag", in.Protocol)
	}
	if user && in.Port == 0 && !unixSocket(in.Listen) {
		return in, fmt.Errorf("inbound %q: no usable port", in.Tag)
	}
	in.readStream(r.StreamSettings)
	if err := in.readSettings(r.Settings); err != nil {
		return in, fmt.Errorf("inbound %q: settings: %w", in.Tag, err)
	}
	in.FlowAllowed = in.Protocol == model.ProtoVLESS && in.Network == NetTCP && in.HeaderType != "http" &&
		(in.Security == SecurityTLS || in.Security == SecurityReality)
	in.AcceptsUsers = user && !(in.Protocol == model.ProtoShadowsocks && in.Method == "2022-blake3-chacha20-poly1305")
	return in, nil
}

func (in *Inbound) readSettings(raw json.RawMessage) error {
	if in.Protocol != model.ProtoShadowsocks || len(raw) == 0 {
		return nil
	}
	var s struct {
		Method   string     `json:"method"`
		Password string     `json:"password"`
		Network  stringList `json:"network"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	in.Method = strings.ToLower(s.Method)
	in.Password = s.Password
	in.SSNetwork = strings.Join(s.Network, ",")
	return nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// firstPort reads Xray's port field: a number, or a string list of ports and
// ranges ("443", "1000-2000,3000"). A link can carry one port, so the first
// wins; "env:" ports and anything unreadable give 0.
func firstPort(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return validPort(n)
	}
	s := jsonString(raw)
	s, _, _ = strings.Cut(s, ",")
	s, _, _ = strings.Cut(strings.TrimSpace(s), "-")
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return validPort(n)
}

func validPort(n int) int {
	if n < 1 || n > 65535 {
		return 0
	}
	return n
}

func unixSocket(listen string) bool {
	return strings.HasPrefix(listen, "/") || strings.HasPrefix(listen, "@")
}

// stringList decodes Xray's StringList: an array of strings, or one string
// holding a comma-separated list.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var arr []string
	if err := json.Unmarshal(b, &arr); err == nil {
		*l = arr
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a string or an array of strings, got %s", b)
	}
	*l = strings.Split(s, ",")
	return nil
}

// InboundSummary is one entry of GET /api/inbounds.
type InboundSummary struct {
	Tag      string `json:"tag"`
	Protocol string `json:"protocol"`
	Network  string `json:"network"`
	TLS      string `json:"tls"`
	Port     int    `json:"port"`
}

// Grouped is the GET /api/inbounds shape: tagged inbounds by protocol, in
// config order. Untagged inbounds cannot be referred to, so they are left out.
func Grouped(in []Inbound) map[string][]InboundSummary {
	out := make(map[string][]InboundSummary)
	for _, ib := range in {
		if ib.Tag == "" {
			continue
		}
		out[ib.Protocol] = append(out[ib.Protocol], InboundSummary{
			Tag:      ib.Tag,
			Protocol: ib.Protocol,
			Network:  ib.Network,
			TLS:      ib.Security,
			Port:     ib.Port,
		})
	}
	return out
}
