package sub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// shareLink is a link as a client reads it. The parser follows REFERENCE.md
// section 4 and the XTLS share-link standard, and uses net/url and
// encoding/json rather than anything from the renderer, so the two can
// disagree.
type shareLink struct {
	scheme string
	user   string // vless/vmess UUID, trojan or shadowsocks password
	method string // shadowsocks
	host   string // without IPv6 brackets
	port   int
	remark string
	query  map[string]string
	// vmess: the JSON fields and the order of their keys.
	vmess     map[string]any
	vmessKeys []string
}

// encodedValue is what an encoded query value or fragment may hold:
// unreserved characters and percent escapes, nothing else (no raw space, no
// "+", no raw "#", "&" or non-ASCII byte).
var encodedValue = regexp.MustCompile(`^([A-Za-z0-9\-._~]|%[0-9A-F]{2})*$`)

func parseShareLink(s string) (shareLink, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return shareLink{}, fmt.Errorf("no scheme in %q", s)
	}
	switch scheme {
	case "vmess":
		return parseVMess(rest)
	case "vless", "trojan", "ss":
	default:
		return shareLink{}, fmt.Errorf("unknown scheme %q", scheme)
	}
	u, err := url.Parse(s)
	if err != nil {
		return shareLink{}, err
	}
	if !encodedValue.MatchString(u.RawFragment) && u.RawFragment != "" {
		return shareLink{}, fmt.Errorf("fragment %q not percent-encoded", u.RawFragment)
	}
	if strings.ContainsAny(u.User.String(), " +#") {
		return shareLink{}, fmt.Errorf("userinfo %q not encoded", u.User.String())
	}
	l := shareLink{scheme: scheme, host: u.Hostname(), remark: u.Fragment, query: map[string]string{}}
	if l.port, err = strconv.Atoi(u.Port()); err != nil {
		return l, fmt.Errorf("port of %q: %w", s, err)
	}
	if u.RawQuery != "" {
		for _, pair := range strings.Split(u.RawQuery, "&") {
			k, v, _ := strings.Cut(pair, "=")
			if !encodedValue.MatchString(v) {
				return l, fmt.Errorf("value of %s = %q not percent-encoded", k, v)
			}
			if _, dup := l.query[k]; dup {
				return l, fmt.Errorf("key %s repeated", k)
			}
			if l.query[k], err = url.QueryUnescape(v); err != nil {
				return l, err
			}
		}
	}
	switch scheme {
	case "vless", "trojan":
		l.user = u.User.Username()
	case "ss":
		if pass, ok := u.User.Password(); ok {
			// SIP022: method:percent-encoded-password, not base64.
			l.method, l.user = u.User.Username(), pass
			break
		}
		raw, err := base64.RawURLEncoding.DecodeString(u.User.Username())
		if err != nil {
			return l, fmt.Errorf("SIP002 userinfo %q: %w", u.User.Username(), err)
		}
		var found bool
		if l.method, l.user, found = strings.Cut(string(raw), ":"); !found {
			return l, fmt.Errorf("SIP002 userinfo %q has no method", raw)
		}
	}
	return l, nil
}

func parseVMess(b64 string) (shareLink, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return shareLink{}, fmt.Errorf("vmess base64: %w", err)
	}
	l := shareLink{scheme: "vmess", vmess: map[string]any{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return l, fmt.Errorf("vmess JSON %s: not an object", raw)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return l, err
		}
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return l, err
		}
		l.vmessKeys = append(l.vmessKeys, key)
		l.vmess[key] = v
	}
	str := func(k string) string { s, _ := l.vmess[k].(string); return s }
	l.user, l.host, l.remark = str("id"), str("add"), str("ps")
	if l.port, err = strconv.Atoi(str("port")); err != nil {
		return l, fmt.Errorf("vmess port %v: %w", l.vmess["port"], err)
	}
	return l, nil
}
