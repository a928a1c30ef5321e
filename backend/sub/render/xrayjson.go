package render

import (
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// kcpHeaderMasks maps a legacy mKCP header to Xray 26's finalmask UDP mask;
// Xray 26 refuses the old kcpSettings header and seed.
var kcpHeaderMasks = map[string]string{
	"dns": "header-dns", "dtls": "header-dtls", "srtp": "header-srtp", "utp": "header-utp",
	"wechat-video": "header-wechat", "wireguard": "header-wireguard",
}

// renderXrayJSON is a JSON array of complete Xray client configs, one per
// entry, each named by its remarks.
func (t *Templates) renderXrayJSON(entries []sub.Entry) []byte {
	b := make([]byte, 0, len(entries)*(1024+len(t.xrayMembers)+len(t.xrayOutbounds))+4)
	b = append(b, '[')
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		b = append(b, `{"remarks":`...)
		b = appendJSONString(b, entries[i].Remark)
		b = append(b, t.xrayMembers...)
		b = append(b, `,"outbounds":[`...)
		// The dialer goes last but is written first into a scratch slice
		// only when the entry asks for it; most do not.
		dialer, hasDialer := appendXrayDialer(nil, &entries[i])
		b = appendXrayOutbound(b, &entries[i], hasDialer)
		b = append(b, t.xrayOutbounds...)
		b = append(b, dialer...)
		b = append(b, "]}"...)
	}
	return append(b, "\n]\n"...)
}

func appendXrayOutbound(b []byte, e *sub.Entry, viaDialer bool) []byte {
	b = append(b, `{"tag":"proxy","protocol":`...)
	b = appendJSONString(b, e.Protocol)
	b = append(b, `,"settings":{`...)
	switch e.Protocol {
	case model.ProtoVLESS, model.ProtoVMess:
		b = append(b, `"vnext":[{"address":`...)
		b = appendJSONString(b, e.Address)
		b = appendIntKey(b, "port", e.Port)
		b = append(b, `,"users":[{"id":`...)
		b = appendJSONString(b, e.ID)
		if e.Protocol == model.ProtoVLESS {
			// Xray 26 refuses a VLESS user without it.
			b = append(b, `,"encryption":"none"`...)
			b = appendStrNonEmpty(b, "flow", e.Flow)
		} else {
			b = append(b, `,"alterId":0,"security":"auto"`...)
		}
		b = append(b, `,"level":0}]}]`...)
	default:
		b = append(b, `"servers":[{"address":`...)
		b = appendJSONString(b, e.Address)
		b = appendIntKey(b, "port", e.Port)
		if e.Protocol == model.ProtoShadowsocks {
			b = appendStr(b, "method", e.Method)
		}
		b = appendStr(b, "password", e.Password)
		b = append(b, `,"level":0}]`...)
	}
	b = append(b, '}')
	if e.Mux && e.Flow == "" {
		// Vision refuses Mux.Cool; everything else may share connections.
		b = append(b, `,"mux":{"enabled":true,"concurrency":8}`...)
	}
	b = append(b, `,"streamSettings":{"network":`...)
	b = appendJSONString(b, e.Network)
	b = appendStr(b, "security", e.Security)
	switch e.Security {
	case xrayconf.SecurityTLS:
		b = append(b, `,"tlsSettings":{`...)
		b = appendStrNonEmpty(b, "serverName", e.SNI)
		b = appendStrNonEmpty(b, "fingerprint", e.Fingerprint)
		if e.ALPN != "" {
			b = appendList(b, "alpn", e.ALPN)
		}
		// allowInsecure is gone from Xray 26 clients (Build refuses it);
		// a pinned certificate or a verify name replaces it.
		b = appendStrNonEmpty(b, "pinnedPeerCertSha256", e.PinnedPeerCertSHA256)
		b = appendStrNonEmpty(b, "verifyPeerCertByName", e.VerifyPeerCertByName)
		b = append(b, '}')
	case xrayconf.SecurityReality:
		b = append(b, `,"realitySettings":{`...)
		b = appendStrNonEmpty(b, "serverName", e.SNI)
		b = appendStrNonEmpty(b, "fingerprint", e.Fingerprint)
		b = appendStr(b, "publicKey", e.PublicKey)
		b = appendStrNonEmpty(b, "shortId", e.ShortID)
		b = appendStrNonEmpty(b, "spiderX", e.SpiderX)
		b = appendStrNonEmpty(b, "mldsa65Verify", e.Mldsa65Verify)
		b = append(b, '}')
	}
	switch e.Network {
	case xrayconf.NetTCP:
		if e.HeaderType == "http" {
			b = append(b, `,"tcpSettings":{"header":{"type":"http","request":{`...)
			b = appendList(b, "path", e.Path)
			b = append(b, `,"headers":{`...)
			if e.Host != "" {
				b = appendList(b, "Host", e.Host)
			}
			if e.UserAgent != "" {
				b = append(appendKey(b, "User-Agent"), '[')
				b = appendJSONString(b, e.UserAgent)
				b = append(b, ']')
			}
			b = append(b, "}}}}"...)
		}
	case xrayconf.NetWS:
		b = append(b, `,"wsSettings":{`...)
		b = appendStrNonEmpty(b, "path", e.Path)
		b = appendStrNonEmpty(b, "host", e.Host)
		b = appendUserAgentHeader(b, e.UserAgent)
		b = append(b, '}')
	case xrayconf.NetHTTPUpgrade:
		b = append(b, `,"httpupgradeSettings":{`...)
		b = appendStrNonEmpty(b, "path", e.Path)
		b = appendStrNonEmpty(b, "host", e.Host)
		b = appendUserAgentHeader(b, e.UserAgent)
		b = append(b, '}')
	case xrayconf.NetXHTTP:
		b = append(b, `,"xhttpSettings":{`...)
		b = appendStrNonEmpty(b, "path", e.Path)
		b = appendStrNonEmpty(b, "host", e.Host)
		b = appendUserAgentHeader(b, e.UserAgent)
		b = appendStrNonEmpty(b, "mode", e.Mode)
		b = append(b, '}')
	case xrayconf.NetGRPC:
		b = append(b, `,"grpcSettings":{`...)
		b = appendStr(b, "serviceName", e.ServiceName)
		b = appendStrNonEmpty(b, "authority", e.Authority)
		b = appendBool(b, "multiMode", e.Mode == "multi")
		b = append(b, '}')
	case xrayconf.NetKCP:
		mask := kcpHeaderMasks[e.HeaderType]
		if e.Seed != "" || mask != "" {
			b = append(b, `,"finalmask":{"udp":[`...)
			if e.Seed != "" {
				b = append(b, `{"type":"mkcp-aes128gcm","settings":{"password":`...)
				b = appendJSONString(b, e.Seed)
				b = append(b, `}}`...)
			}
			if mask != "" {
				if e.Seed != "" {
					b = append(b, ',')
				}
				b = append(b, `{"type":`...)
				b = appendJSONString(b, mask)
				b = append(b, '}')
			}
			b = append(b, "]}"...)
		}
	}
	if viaDialer {
		b = append(b, `,"sockopt":{"dialerProxy":"`+dialerTag+`"}`...)
	}
	return append(b, "}}"...)
}

// appendUserAgentHeader writes "headers":{"User-Agent":ua} when ua is set.
func appendUserAgentHeader(b []byte, ua string) []byte {
	if ua == "" {
		return b
	}
	b = append(appendKey(b, "headers"), `{"User-Agent":`...)
	b = appendJSONString(b, ua)
	return append(b, '}')
}
