package sub

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// appendEscaped percent-encodes every byte of s except RFC 3986 unreserved
// characters. It is stricter than url.QueryEscape on purpose: a space becomes
// %20, never "+", because several clients decode query values with a plain
// percent-decoder that leaves "+" as is. The same encoding serves userinfo,
// query values and the fragment.
func appendEscaped(b []byte, s string) []byte {
	const upperHex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return b
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendParam writes &key=value, or nothing for an empty value: a client
// reads an absent key and an empty one alike, and shorter links fit in QR codes.
func appendParam(b []byte, key, val string) []byte {
	if val == "" {
		return b
	}
	b = append(b, '&')
	b = append(b, key...)
	b = append(b, '=')
	return appendEscaped(b, val)
}

// urlHost checks a link address and returns it bare (for the vmess JSON)
// and as a URL host: an IPv6 literal in brackets with its zone separator
// encoded as RFC 6874 says, an internationalized name in punycode. Anything
// else that is not a plain host name (a "host:port", a URL, spaces) is
// refused: a link to it could not be parsed by any client.
func urlHost(addr string) (bare, inURL string, ok bool) {
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if strings.IndexByte(addr, ':') >= 0 {
		if _, err := netip.ParseAddr(addr); err != nil {
			return "", "", false
		}
		return addr, "[" + strings.Replace(addr, "%", "%25", 1) + "]", true
	}
	if !ascii(addr) {
		a, err := idna.Lookup.ToASCII(addr)
		if err != nil {
			return "", "", false
		}
		addr = a
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; !unreserved(c) || c == '~' {
			return "", "", false
		}
	}
	return addr, addr, addr != ""
}

func appendHostPort(b []byte, host string, port int) []byte {
	b = append(b, host...)
	b = append(b, ':')
	return strconv.AppendInt(b, int64(port), 10)
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// AppendJSONString writes s as a JSON string (also a valid YAML
// double-quoted scalar). UTF-8 is kept as is; quotes, backslashes and
// control characters are escaped; invalid UTF-8 becomes U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029' || r == '\u0085' || r == '\ufeff':
			// Line and byte-order marks that YAML treats as breaks or BOMs.
			b = append(b, `\u`...)
			b = append(b, hexDigits[r>>12&15], hexDigits[r>>8&15], hexDigits[r>>4&15], hexDigits[r&15])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
