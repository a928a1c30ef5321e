package protocol

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestOnlineBounds: an online report is refused (the session ends with
// invalid_message) when an address is not an IP literal or a count passes
// its bound; a usage batch without one is as before.
func TestOnlineBounds(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		o    *Online
		ok   bool
	}{
		{"none", nil, true},
		{"v4 and v6", &Online{At: 1, Users: []UserOnline{{Email: "1.a", IPs: []string{"198.51.100.1", "2001:db8::1"}}}}, true},
		{"a port", &Online{Users: []UserOnline{{Email: "1.a", IPs: []string{"198.51.100.1:443"}}}}, false},
		{"brackets", &Online{Users: []UserOnline{{Email: "1.a", IPs: []string{"[2001:db8::1]"}}}}, false},
		{"a zone", &Online{Users: []UserOnline{{Email: "1.a", IPs: []string{"fe80::1%eth0"}}}}, false},
		{"a name", &Online{Users: []UserOnline{{Email: "1.a", IPs: []string{"example.com"}}}}, false},
		{"64 addresses", &Online{Users: []UserOnline{{Email: "1.a", IPs: many(MaxOnlineAddrs)}}}, true},
		{"65 addresses", &Online{Users: []UserOnline{{Email: "1.a", IPs: many(MaxOnlineAddrs + 1)}}}, false},
		{"negative at", &Online{At: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &Usage{FromSeq: 0, ToSeq: 1, Online: tc.o}
			err := u.Validate()
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("Validate() = %v; want ok %v", err, tc.ok)
			}
		})
	}
}

func TestOnlineEvery(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		0: DefaultOnlineEvery, 300 * time.Millisecond: DefaultOnlineEvery, time.Second: time.Second, 10 * time.Second: 10 * time.Second,
	} {
		if got := OnlineEvery(in); got != want {
			t.Errorf("OnlineEvery(%v) = %v; want %v", in, got, want)
		}
	}
}
