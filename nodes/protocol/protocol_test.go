package protocol

import "testing"

func TestCloseStatusRoundTrip(t *testing.T) {
	seen := map[int]ErrorCode{}
	for _, c := range []ErrorCode{ErrCodeProtocol, ErrCodeFenced, ErrCodeInvalid, ErrCodeClosed} {
		st := c.CloseStatus()
		if st < 4000 || st > 4999 {
			t.Fatalf("%s closes with %d, outside the private range", c, st)
		}
		if other, dup := seen[st]; dup {
			t.Fatalf("%s and %s share close status %d", c, other, st)
		}
		seen[st] = c
		if got, ok := CodeOfCloseStatus(st); !ok || got != c {
			t.Fatalf("status %d reads back as %q %v; want %s", st, got, ok, c)
		}
	}
	if st := ErrorCode("").CloseStatus(); st != 1000 {
		t.Fatalf("no code closes with %d; want 1000", st)
	}
	if _, ok := CodeOfCloseStatus(1000); ok {
		t.Fatal("a normal closure names a code")
	}
}

func TestTokenValue(t *testing.T) {
	if tok, ok := TokenFromValue(TokenValue("abc")); !ok || tok != "abc" {
		t.Fatalf("round trip: %q %v", tok, ok)
	}
	for _, v := range []string{"", "Bearer ", "Basic abc", "abc"} {
		if _, ok := TokenFromValue(v); ok {
			t.Fatalf("%q read as a token", v)
		}
	}
}
