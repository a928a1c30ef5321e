package render

import (
	"strings"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// clashSupports reports whether a Clash client can express e. Plain Clash
// has no VLESS, no REALITY, no HTTPUpgrade and no 2022 ciphers; neither has
// mKCP; only Meta has XHTTP (VLESS only). Clash's Trojan always speaks TLS,
// and REALITY in Meta is written for VLESS.
func clashSupports(e *sub.Entry, meta bool) bool {
	switch e.Protocol {
	case model.ProtoVLESS:
		if !meta {
			return false
		}
	case model.ProtoTrojan:
		if e.Security != xrayconf.SecurityTLS {
			return false
		}
	case model.ProtoShadowsocks:
		return meta || !xrayconf.IsSS2022(e.Method)
	}
	if e.Security == xrayconf.SecurityReality && (!meta || e.Protocol != model.ProtoVLESS) {
		return false
	}
	switch e.Network {
	case xrayconf.NetTCP:
		// The http header is Clash's "http" network, which it has for VMess
		// (and Meta for VLESS), not for Trojan.
		return e.HeaderType != "http" || e.Protocol != model.ProtoTrojan
	case xrayconf.NetWS, xrayconf.NetGRPC:
		return true
	case xrayconf.NetHTTPUpgrade:
		return meta
	case xrayconf.NetXHTTP:
		return meta && e.Protocol == model.ProtoVLESS
	}
	return false
}

// renderClash writes the Clash (or Clash Meta) YAML: the proxies, a select
// group and a url-test group, then the template's other keys and rules.
// Strings are written as JSON strings, which YAML reads as double-quoted
// scalars, so no remark can break the document.
func (t *Templates) renderClash(entries []sub.Entry, meta bool) []byte {
	sk := &t.clash
	if meta {
		sk = &t.clashMeta
	}
	names := make([]string, 0, len(entries))
	taken := make(uniqueNames, len(entries)+4)
	for _, reserved := range []string{clashSelectGroup, clashAutoGroup, "DIRECT", "REJECT", "GLOBAL"} {
		taken[reserved] = struct{}{}
	}
	b := make([]byte, 0, len(sk.head)+len(sk.rules)+512*len(entries)+256)
	b = append(b, sk.head...)
	b = append(b, "proxies:"...)
	for i := range entries {
		e := &entries[i]
		if !clashSupports(e, meta) {
			continue
		}
		name := taken.take(e.Remark)
		names = append(names, name)
		b = appendClashProxy(b, e, name, meta)
	}
	if len(names) == 0 {
		b = append(b, " []"...)
	}
	b = append(b, "\nproxy-groups:\n  - name: "...)
	b = appendJSONString(b, clashSelectGroup)
	b = append(b, "\n    type: select\n    proxies:\n      - "...)
	// With nothing to offer, both groups hold DIRECT: an empty group makes
	// the client refuse the whole config.
	if len(names) == 0 {
		b = append(b, "DIRECT"...)
	} else {
		b = appendJSONString(b, clashAutoGroup)
	}
	b = appendYAMLNames(b, names)
	b = append(b, "\n  - name: "...)
	b = appendJSONString(b, clashAutoGroup)
	b = append(b, "\n    type: url-test\n    url: \""+probeURL+"\"\n    interval: 300\n    tolerance: 50\n    proxies:"...)
	if len(names) == 0 {
		b = append(b, "\n      - DIRECT"...)
	}
	b = appendYAMLNames(b, names)
	b = append(b, '\n')
	return append(b, sk.rules...)
}

func appendYAMLNames(b []byte, names []string) []byte {
	for _, n := range names {
		b = append(b, "\n      - "...)
		b = appendJSONString(b, n)
	}
	return b
}

// yamlKey starts "    key: " on a new line inside a proxy.
func yamlKey(b []byte, key string) []byte {
	b = append(b, "\n    "...)
	b = append(b, key...)
	return append(b, ": "...)
}

// yamlMapKey starts "    key:" for a nested mapping on the next lines.
func yamlMapKey(b []byte, key string) []byte {
	b = append(b, "\n    "...)
	b = append(b, key...)
	return append(b, ':')
}

func yamlStr(b []byte, key, val string) []byte { return appendJSONString(yamlKey(b, key), val) }

func yamlStrNonEmpty(b []byte, key, val string) []byte {
	if val == "" {
		return b
	}
	return yamlStr(b, key, val)
}

// yamlFlowList writes key: ["a", "b"] from a comma list.
func yamlFlowList(b []byte, key, commaList string) []byte {
	b = append(yamlKey(b, key), '[')
	appendListItems(&b, commaList)
	return append(b, ']')
}

// clashFingerprint maps a uTLS fingerprint to the names mihomo knows.
func clashFingerprint(fp string) string {
	if fp == "randomized" {
		return "random"
	}
	return fp
}

func appendClashProxy(b []byte, e *sub.Entry, name string, meta bool) []byte {
	b = append(b, "\n  - name: "...)
	b = appendJSONString(b, name)
	typ := e.Protocol
	if typ == model.ProtoShadowsocks {
		typ = "ss"
	}
	b = yamlKey(b, "type")
	b = append(b, typ...)
	b = yamlStr(b, "server", e.Address)
	b = appendInt(yamlKey(b, "port"), e.Port)
	b = append(yamlKey(b, "udp"), "true"...)
	switch e.Protocol {
	case model.ProtoShadowsocks:
		b = yamlStr(b, "cipher", e.Method)
		return yamlStr(b, "password", e.Password)
	case model.ProtoVMess:
		b = yamlStr(b, "uuid", e.ID)
		b = append(yamlKey(b, "alterId"), '0')
		b = append(yamlKey(b, "cipher"), "auto"...)
	case model.ProtoVLESS:
		b = yamlStr(b, "uuid", e.ID)
		b = yamlStrNonEmpty(b, "flow", e.Flow)
	case model.ProtoTrojan:
		b = yamlStr(b, "password", e.Password)
	}

	if e.Security != xrayconf.SecurityNone {
		if e.Protocol != model.ProtoTrojan {
			b = append(yamlKey(b, "tls"), "true"...)
			b = yamlStrNonEmpty(b, "servername", e.SNI)
		} else {
			b = yamlStrNonEmpty(b, "sni", e.SNI)
		}
		if e.ALPN != "" {
			b = yamlFlowList(b, "alpn", e.ALPN)
		}
		if e.AllowInsecure {
			b = append(yamlKey(b, "skip-cert-verify"), "true"...)
		}
		if meta {
			b = yamlStrNonEmpty(b, "client-fingerprint", clashFingerprint(e.Fingerprint))
			// mihomo pins a certificate by its SHA-256, as Xray's pcs does.
			// mihomo wants it as colon-separated hex pairs.
			if pin := firstOf(e.PinnedPeerCertSHA256); len(pin) == 64 {
				b = append(yamlKey(b, "fingerprint"), '"')
				for i := 0; i < len(pin); i += 2 {
					if i > 0 {
						b = append(b, ':')
					}
					b = append(b, pin[i:i+2]...)
				}
				b = append(b, '"')
			}
		}
		if e.Security == xrayconf.SecurityReality {
			b = append(yamlMapKey(b, "reality-opts"), "\n      public-key: "...)
			b = appendJSONString(b, e.PublicKey)
			if e.ShortID != "" {
				b = append(b, "\n      short-id: "...)
				b = appendJSONString(b, e.ShortID)
			}
		}
	}

	switch e.Network {
	case xrayconf.NetTCP:
		if e.HeaderType == "http" {
			b = append(yamlKey(b, "network"), "http"...)
			b = append(yamlMapKey(b, "http-opts"), "\n      method: \"GET\"\n      path: ["...)
			appendListItems(&b, first(e.Path, "/"))
			b = append(b, ']')
			if e.Host != "" || e.UserAgent != "" {
				b = append(b, "\n      headers:"...)
			}
			if e.Host != "" {
				b = append(b, "\n        Host: ["...)
				appendListItems(&b, e.Host)
				b = append(b, ']')
			}
			if e.UserAgent != "" {
				b = append(b, "\n        User-Agent: ["...)
				b = appendJSONString(b, e.UserAgent)
				b = append(b, ']')
			}
		} else {
			b = append(yamlKey(b, "network"), "tcp"...)
		}
	case xrayconf.NetWS, xrayconf.NetHTTPUpgrade:
		b = append(yamlKey(b, "network"), "ws"...)
		path, earlyData := splitEarlyData(e.Path)
		b = append(yamlMapKey(b, "ws-opts"), "\n      path: "...)
		b = appendJSONString(b, first(path, "/"))
		if e.Host != "" || e.UserAgent != "" {
			b = append(b, "\n      headers:"...)
		}
		if e.Host != "" {
			b = append(b, "\n        Host: "...)
			b = appendJSONString(b, e.Host)
		}
		if e.UserAgent != "" {
			b = append(b, "\n        User-Agent: "...)
			b = appendJSONString(b, e.UserAgent)
		}
		if e.Network == xrayconf.NetHTTPUpgrade {
			b = append(b, "\n      v2ray-http-upgrade: true"...)
		} else if earlyData > 0 {
			b = append(b, "\n      max-early-data: "...)
			b = appendInt(b, earlyData)
			b = append(b, "\n      early-data-header-name: \"Sec-WebSocket-Protocol\""...)
		}
	case xrayconf.NetGRPC:
		b = append(yamlKey(b, "network"), "grpc"...)
		b = append(yamlMapKey(b, "grpc-opts"), "\n      grpc-service-name: "...)
		b = appendJSONString(b, e.ServiceName)
	case xrayconf.NetXHTTP:
		b = append(yamlKey(b, "network"), "xhttp"...)
		b = append(yamlMapKey(b, "xhttp-opts"), "\n      path: "...)
		b = appendJSONString(b, first(e.Path, "/"))
		if e.Host != "" {
			b = append(b, "\n      host: "...)
			b = appendJSONString(b, e.Host)
		}
		if e.Mode != "" {
			b = append(b, "\n      mode: "...)
			b = appendJSONString(b, e.Mode)
		}
		if e.UserAgent != "" {
			b = append(b, "\n      headers:\n        User-Agent: "...)
			b = appendJSONString(b, e.UserAgent)
		}
	}
	return b
}

// splitEarlyData turns Xray's "/path?ed=2048" into the path and the early
// data size, which Clash and sing-box take as separate settings and would
// otherwise send as part of the path.
func splitEarlyData(path string) (string, int) {
	p, query, ok := strings.Cut(path, "?")
	if !ok {
		return path, 0
	}
	var rest []string
	ed := 0
	for kv := range strings.SplitSeq(query, "&") {
		if v, isED := strings.CutPrefix(kv, "ed="); isED {
			n := 0
			for i := 0; i < len(v) && v[i] >= '0' && v[i] <= '9' && n < 1<<20; i++ {
				n = n*10 + int(v[i]-'0')
			}
			ed = n
			continue
		}
		rest = append(rest, kv)
	}
	if ed == 0 {
		return path, 0
	}
	if len(rest) > 0 {
		p += "?" + strings.Join(rest, "&")
	}
	return p, ed
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
