package sub

import (
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"
)

func FuzzEscapes(f *testing.F) {
	for _, s := range []string{"", "plain", "a b#c&d=e+f/g?h%i", "Ünïcødé 🚀", "\x00\x1f\"\\\u2028", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := string(appendEscaped(nil, s))
		if !encodedValue.MatchString(esc) {
			t.Fatalf("appendEscaped(%q) = %q leaves reserved bytes", s, esc)
		}
		if back, err := url.QueryUnescape(esc); err != nil || back != s {
			t.Fatalf("appendEscaped(%q) = %q decodes to %q, %v", s, esc, back, err)
		}

		js := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s is not JSON: %v", s, js, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("AppendJSONString(%q) = %s decodes to %q", s, js, back)
		}
	})
}
