package render

import (
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// singBoxSupports reports whether sing-box can express e: it has no mKCP and
// no XHTTP. Its "http" transport is plain HTTP/1.1 (what Xray's raw http
// header speaks) only without TLS; with TLS it is HTTP/2, which that header
// is not.
func singBoxSupports(e *sub.Entry) bool {
	switch e.Network {
	case xrayconf.NetTCP:
		return e.HeaderType != "http" || e.Security == xrayconf.SecurityNone
	case xrayconf.NetWS, xrayconf.NetGRPC, xrayconf.NetHTTPUpgrade:
		return true
	}
	return false
}

// renderSingBox writes a sing-box config: the template's members, then a
// selector and a urltest group over the proxies, the proxies, and the
// template's other outbounds (direct among them).
func (t *Templates) renderSingBox(entries []sub.Entry) []byte {
	taken := make(uniqueNames, len(entries)+4)
	for _, reserved := range []string{sbSelectTag, sbAutoTag, sbDirectTag, "block", "dns-out"} {
		taken[reserved] = struct{}{}
	}
	proxies := make([]byte, 0, 512*len(entries))
	names := make([]string, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		if !singBoxSupports(e) {
			continue
		}
		name := taken.take(e.Remark)
		names = append(names, name)
		proxies = append(proxies, ",\n"...)
		proxies = appendSingBoxOutbound(proxies, e, name)
	}

	b := make([]byte, 0, len(t.sbMembers)+len(t.sbOutbounds)+len(proxies)+64*len(names)+256)
	b = append(b, '{')
	if len(t.sbMembers) > 0 {
		b = append(b, t.sbMembers[1:]...) // drop the leading comma
		b = append(b, ',')
	}
	b = append(b, `"outbounds":[`...)
	b = append(b, "\n"+`{"type":"selector","tag":"proxy","outbounds":[`...)
	// An empty group makes sing-box refuse the config: with no proxies both
	// groups fall back to direct.
	if len(names) == 0 {
		b = append(b, `"direct"`...)
	} else {
		b = append(b, `"auto"`...)
	}
	b = appendJSONNames(b, names)
	b = append(b, `],"interrupt_exist_connections":true},`+"\n"+`{"type":"urltest","tag":"auto","outbounds":[`...)
	if len(names) == 0 {
		b = append(b, `"direct"`...)
	}
	if len(names) > 0 {
		b = appendJSONString(b, names[0])
		b = appendJSONNames(b, names[1:])
	}
	b = append(b, `],"url":"`+probeURL+`","interval":"5m","tolerance":50}`...)
	b = append(b, proxies...)
	b = append(b, t.sbOutbounds...)
	return append(b, "]}\n"...)
}

func appendJSONNames(b []byte, names []string) []byte {
	for _, n := range names {
		b = append(b, ',')
		b = appendJSONString(b, n)
	}
	return b
}

func appendSingBoxOutbound(b []byte, e *sub.Entry, tag string) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, e.Protocol)
	b = appendStr(b, "tag", tag)
	b = appendStr(b, "server", e.Address)
	b = appendIntKey(b, "server_port", e.Port)
	switch e.Protocol {
	case model.ProtoVLESS:
		b = appendStr(b, "uuid", e.ID)
		b = appendStrNonEmpty(b, "flow", e.Flow)
		b = append(b, `,"packet_encoding":"xudp"`...)
	case model.ProtoVMess:
		b = appendStr(b, "uuid", e.ID)
		b = append(b, `,"security":"auto","alter_id":0`...)
	case model.ProtoTrojan:
		b = appendStr(b, "password", e.Password)
	case model.ProtoShadowsocks:
		b = appendStr(b, "method", e.Method)
		b = appendStr(b, "password", e.Password)
		return append(b, '}')
	}
	if e.Security != xrayconf.SecurityNone {
		b = append(b, `,"tls":{"enabled":true`...)
		b = appendStrNonEmpty(b, "server_name", e.SNI)
		if e.AllowInsecure {
			b = append(b, `,"insecure":true`...)
		}
		if e.ALPN != "" {
			b = appendList(b, "alpn", e.ALPN)
		}
		if e.Fingerprint != "" {
			b = append(b, `,"utls":{"enabled":true,"fingerprint":`...)
			b = appendJSONString(b, e.Fingerprint)
			b = append(b, '}')
		}
		if e.Security == xrayconf.SecurityReality {
			b = append(b, `,"reality":{"enabled":true,"public_key":`...)
			b = appendJSONString(b, e.PublicKey)
			b = appendStr(b, "short_id", e.ShortID)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	switch e.Network {
	case xrayconf.NetTCP:
		if e.HeaderType == "http" {
			b = append(b, `,"transport":{"type":"http","method":"GET"`...)
			if e.Host != "" {
				b = appendList(b, "host", e.Host)
			}
			b = appendStr(b, "path", firstOf(first(e.Path, "/")))
			b = appendUserAgentHeader(b, e.UserAgent)
			b = append(b, '}')
		}
	case xrayconf.NetWS:
		path, earlyData := splitEarlyData(e.Path)
		b = append(b, `,"transport":{"type":"ws"`...)
		b = appendStr(b, "path", first(path, "/"))
		if e.Host != "" || e.UserAgent != "" {
			b = append(appendKey(b, "headers"), '{')
			b = appendStrNonEmpty(b, "Host", e.Host)
			b = appendStrNonEmpty(b, "User-Agent", e.UserAgent)
			b = append(b, '}')
		}
		if earlyData > 0 {
			b = appendIntKey(b, "max_early_data", earlyData)
			b = append(b, `,"early_data_header_name":"Sec-WebSocket-Protocol"`...)
		}
		b = append(b, '}')
	case xrayconf.NetHTTPUpgrade:
		b = append(b, `,"transport":{"type":"httpupgrade"`...)
		b = appendStrNonEmpty(b, "host", e.Host)
		b = appendStr(b, "path", first(e.Path, "/"))
		b = appendUserAgentHeader(b, e.UserAgent)
		b = append(b, '}')
	case xrayconf.NetGRPC:
		b = append(b, `,"transport":{"type":"grpc"`...)
		b = appendStr(b, "service_name", e.ServiceName)
		b = append(b, '}')
	}
	return append(b, '}')
}
