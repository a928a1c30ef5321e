package state

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

func TestUserCodecRoundTrip(t *testing.T) {
	maxInt, minInt := int64(1<<63-1), int64(-1<<63)
	users := append(testUsers(4),
		protocol.User{Email: "e"},
		protocol.User{Email: "x", ID: minInt, Expire: maxInt, BytesLeft: &minInt, Excluded: []string{"", "ü"},
			VLESS: &protocol.VLESS{}, VMess: &protocol.VMess{}, Trojan: &protocol.Trojan{}, Shadowsocks: &protocol.Shadowsocks{}},
		protocol.User{Email: "y", ID: maxInt, Expire: minInt, BytesLeft: &maxInt,
			Trojan: &protocol.Trojan{Password: strings.Repeat("\x00\xff", 300)}},
		perDeviceUser(5, 1, 2, 1<<40),
		protocol.User{Email: "z", PerDevice: true},
		protocol.User{Email: "w", Devices: []int64{minInt, 0, maxInt}}, // refused by the agent, kept by the store
		perDeviceUser(0, 7),
	)
	for _, u := range users {
		rec := encodeUser(nil, u)
		got, err := decodeUser(u.Email, rec)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", u, err)
		}
		if !reflect.DeepEqual(got, u) {
			t.Errorf("round trip of %+v gave %+v", u, got)
		}
	}
}

func TestDecodeUserRejects(t *testing.T) {
	good := encodeUser(nil, testUser(0))
	for _, c := range []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"unknown format", append([]byte{userFormat + 1}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"unknown flag", []byte{userFormat, 0, 0x80, 0, 0}},
		{"overlong varint", []byte{userFormat, 0x80, 0x00, 0, 0, 0}},
		{"varint over 64 bits", []byte{userFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0}},
		{"unterminated varint", []byte{userFormat, 0xff}},
		{"excluded count past the end", []byte{userFormat, 0, 0, 0x7f, 0}},
		{"string past the end", []byte{userFormat, 0, flagVMess, 0, 5, 'a'}},
		{"device list flagged but empty", []byte{userFormat, 0, flagDevices, 0, 0, 0}},
		{"device count past the end", []byte{userFormat, 0, flagDevices, 0, 0, 3, 2}},
		{"device id truncated", []byte{userFormat, 0, flagDevices, 0, 0, 1, 0x80}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if u, err := decodeUser("e", c.rec); !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeUser(%x) = %+v, %v; want ErrCorrupt", c.rec, u, err)
			}
		})
	}
}

// TestDecodeUserWrittenBeforeDevices decodes records laid out by the
// encoder that predates credentials per device (built by hand, byte by
// byte): they must decode exactly as they did, as users without devices,
// and re-encode to the same bytes.
func TestDecodeUserWrittenBeforeDevices(t *testing.T) {
	left := int64(7)
	for _, c := range []struct {
		rec  []byte
		want protocol.User
	}{
		{
			// format, id 1 (zigzag 2), flags trojan|bytes_left, no
			// exclusions, "pw", expire 5 (zigzag 10), bytes_left 7 (14)
			[]byte{1, 2, 0x04 | 0x10, 0, 2, 'p', 'w', 10, 14},
			protocol.User{Email: "1.a", ID: 1, Trojan: &protocol.Trojan{Password: "pw"}, Expire: 5, BytesLeft: &left},
		},
		{
			// format, id 2, flags vless, exclusions ["T"], id "u", flow "", expire 0
			[]byte{1, 4, 0x01, 1, 1, 'T', 1, 'u', 0, 0},
			protocol.User{Email: "1.a", ID: 2, Excluded: []string{"T"}, VLESS: &protocol.VLESS{ID: "u"}},
		},
	} {
		got, err := decodeUser("1.a", c.rec)
		if err != nil {
			t.Fatalf("old record %x: %v", c.rec, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("old record %x decoded to %+v; want %+v", c.rec, got, c.want)
		}
		if again := encodeUser(nil, got); !bytes.Equal(again, c.rec) {
			t.Errorf("old record %x re-encodes to %x", c.rec, again)
		}
	}
}

func TestSameUserSeesDevices(t *testing.T) {
	a := perDeviceUser(0, 1, 2)
	b := perDeviceUser(0, 1, 2)
	if !SameUser(a, b) {
		t.Fatal("equal per-device users differ")
	}
	b.Devices = []int64{2}
	if SameUser(a, b) {
		t.Error("a dropped device went unnoticed")
	}
	c := a
	c.PerDevice, c.Devices = false, nil
	if SameUser(a, c) {
		t.Error("turning per-device off went unnoticed")
	}
}

func TestJournalCodec(t *testing.T) {
	at := time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.FixedZone("Z", -3600))
	traffic := map[string]Traffic{"b": {Up: 1<<63 - 1}, "a": {Down: 3}, "c": {}}
	rec := encodeJournalEntry(nil, at, traffic)
	e, err := decodeJournalEntry(9, rec)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 9 || !e.At.Equal(at) || !reflect.DeepEqual(e.Traffic, traffic) {
		t.Errorf("round trip = %+v", e)
	}
	if again := encodeJournalEntry(nil, e.At, e.Traffic); !bytes.Equal(again, rec) {
		t.Error("re-encoding a decoded entry changed its bytes")
	}
	unsorted := []byte{journalFormat, 0, 0, 2, 1, 'b', 0, 0, 1, 'a', 0, 0}
	if _, err := decodeJournalEntry(1, unsorted); !errors.Is(err, ErrCorrupt) {
		t.Errorf("entry with unsorted emails decoded: %v", err)
	}
	nanos := []byte{journalFormat, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0} // 1e9 ns
	if _, err := decodeJournalEntry(1, nanos); !errors.Is(err, ErrCorrupt) {
		t.Errorf("entry with 1e9 nanoseconds decoded: %v", err)
	}
}

// FuzzDecodeUser: a stored user record, whatever its bytes, either fails to
// decode with ErrCorrupt or decodes to a user that encodes back to exactly
// those bytes (so no two encodings mean the same user, and nothing panics).
func FuzzDecodeUser(f *testing.F) {
	for _, u := range testUsers(4) {
		f.Add(encodeUser(nil, u))
	}
	f.Add([]byte{userFormat, 0x80, 0x00, 0, 0, 0})
	f.Add([]byte{userFormat, 0, knownUserFlags, 0})
	f.Add(encodeUser(nil, perDeviceUser(3, 1, 5, 1<<33)))
	f.Add([]byte{userFormat, 0, flagPerDevice | flagDevices, 0, 0, 2, 2, 4})
	f.Fuzz(func(t *testing.T, rec []byte) {
		u, err := decodeUser("f", rec)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if again := encodeUser(nil, u); !bytes.Equal(again, rec) {
			t.Fatalf("decoded %+v re-encodes to %x, stored %x", u, again, rec)
		}
	})
}

// FuzzDecodeJournalEntry is FuzzDecodeUser for journal entries.
func FuzzDecodeJournalEntry(f *testing.F) {
	f.Add(encodeJournalEntry(nil, time.Unix(1_800_000_000, 5), map[string]Traffic{"1.a": {Up: 1, Down: 2}, "2.b": {}}))
	f.Add(encodeJournalEntry(nil, time.Time{}, nil))
	f.Fuzz(func(t *testing.T, rec []byte) {
		e, err := decodeJournalEntry(1, rec)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if again := encodeJournalEntry(nil, e.At, e.Traffic); !bytes.Equal(again, rec) {
			t.Fatalf("decoded %+v re-encodes to %x, stored %x", e, again, rec)
		}
	})
}
