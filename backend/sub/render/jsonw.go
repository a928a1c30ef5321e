package render

import (
	"strconv"
	"strings"

	"github.com/outpost-panel/outpost/backend/sub"
)

// appendJSONString is sub.AppendJSONString: one escaper for every format.
func appendJSONString(b []byte, s string) []byte { return sub.AppendJSONString(b, s) }

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// appendKey writes ,"key": (or "key": right after an opening brace).
func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendStr(b []byte, key, val string) []byte {
	return appendJSONString(appendKey(b, key), val)
}

// appendStrNonEmpty writes key only when val is set.
func appendStrNonEmpty(b []byte, key, val string) []byte {
	if val == "" {
		return b
	}
	return appendStr(b, key, val)
}

func appendIntKey(b []byte, key string, n int) []byte { return appendInt(appendKey(b, key), n) }

func appendBool(b []byte, key string, v bool) []byte {
	b = appendKey(b, key)
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendList writes key: ["a","b"] from a comma list.
func appendList(b []byte, key, commaList string) []byte {
	b = append(appendKey(b, key), '[')
	appendListItems(&b, commaList)
	return append(b, ']')
}

func appendListItems(b *[]byte, commaList string) {
	first := true
	for item := range strings.SplitSeq(commaList, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !first {
			*b = append(*b, ',')
		}
		first = false
		*b = appendJSONString(*b, item)
	}
}

// firstOf returns the first item of a comma list.
func firstOf(commaList string) string {
	s, _, _ := strings.Cut(commaList, ",")
	return strings.TrimSpace(s)
}

// uniqueNames hands out display names that are unique within one
// subscription: Clash and sing-box refuse a config with two proxies of the
// same name, and operators often reuse a remark across hosts.
type uniqueNames map[string]struct{}

func (u uniqueNames) take(name string) string {
	if name == "" {
		name = "proxy"
	}
	if _, dup := u[name]; !dup {
		u[name] = struct{}{}
		return name
	}
	for i := 2; ; i++ {
		n := name + " " + strconv.Itoa(i)
		if _, dup := u[n]; !dup {
			u[n] = struct{}{}
			return n
		}
	}
}
