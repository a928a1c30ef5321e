package render

import (
	"strings"

	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// dialerTag is the freedom outbound a proxy dials through when its host
// asks for TLS ClientHello fragments or UDP noise.
const dialerTag = "proxy-dialer"

// fragment is Xray freedom's fragment settings from a host's
// "length,interval,packets" ("100-200,10-20,tlshello").
type fragment struct{ length, interval, packets string }

func parseFragment(s string) (fragment, bool) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return fragment{}, false
	}
	f := fragment{length: strings.TrimSpace(parts[0]), interval: strings.TrimSpace(parts[1]), packets: strings.TrimSpace(parts[2])}
	if !numRange(f.length) || !numRange(f.interval) || f.packets == "" {
		return fragment{}, false
	}
	return f, true
}

// noise is one of Xray freedom's noises from "type:packet[,delay]".
type noise struct{ typ, packet, delay string }

func parseNoises(s string) []noise {
	var out []noise
	for item := range strings.SplitSeq(s, "&") {
		typ, rest, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || (typ != "rand" && typ != "str" && typ != "base64" && typ != "hex") {
			return nil
		}
		n := noise{typ: typ, packet: rest}
		if i := strings.LastIndexByte(rest, ','); i >= 0 && numRange(rest[i+1:]) {
			n.packet, n.delay = rest[:i], rest[i+1:]
		}
		if n.packet == "" {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// numRange accepts "10" and "10-20".
func numRange(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	if !digits(lo) {
		return false
	}
	return !isRange || digits(hi)
}

func digits(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// appendXrayDialer writes the freedom outbound that applies e's fragment
// and noise, or nothing (ok false) when e asks for neither.
func appendXrayDialer(b []byte, e *sub.Entry) ([]byte, bool) {
	frag, hasFrag := fragment{}, false
	if e.Fragment != "" && e.Security != xrayconf.SecurityNone {
		frag, hasFrag = parseFragment(e.Fragment)
	}
	var noises []noise
	if e.Noise != "" {
		noises = parseNoises(e.Noise)
	}
	if !hasFrag && len(noises) == 0 {
		return b, false
	}
	b = append(b, `,{"tag":"`+dialerTag+`","protocol":"freedom","settings":{`...)
	if hasFrag {
		b = append(b, `"fragment":{`...)
		b = appendStr(b, "packets", frag.packets)
		b = appendStr(b, "length", frag.length)
		b = appendStr(b, "interval", frag.interval)
		b = append(b, '}')
	}
	if len(noises) > 0 {
		b = append(appendKey(b, "noises"), '[')
		for i, n := range noises {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			b = appendStr(b, "type", n.typ)
			b = appendStr(b, "packet", n.packet)
			b = appendStrNonEmpty(b, "delay", n.delay)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}}"...), true
}
