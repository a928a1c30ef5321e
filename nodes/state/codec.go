package state

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Records are stored in a compact binary form rather than JSON: decoding
// 100,000 users at startup is on the path to serving traffic (see
// BenchmarkLoadDesired100k). Every record starts with a format byte so a
// future layout can be told apart from this one. Encodings are canonical:
// a decoder accepts exactly the bytes the encoder produces, so a record that
// decodes re-encodes to the same bytes (FuzzDecodeUser checks it).
const (
	userFormat     = 1
	journalFormat  = 1
	enforcedFormat = 1
)

// User flags: which optional parts follow.
const (
	flagVLESS byte = 1 << iota
	flagVMess
	flagTrojan
	flagShadowsocks
	flagBytesLeft
	// flagPerDevice: protocol.User.PerDevice. flagDevices: a device list
	// follows bytes_left (a count, at least 1, then each id as a varint).
	// Records written before credentials per device have neither and
	// decode as they always did; an agent that predates them refuses a
	// record with them as corrupt rather than run the user's own
	// credentials in its place.
	flagPerDevice
	flagDevices
	knownUserFlags = flagVLESS | flagVMess | flagTrojan | flagShadowsocks | flagBytesLeft | flagPerDevice | flagDevices
)

var errTruncated = errors.New("truncated")

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendVarint(b []byte, v int64) []byte {
	return appendUvarint(b, uint64(v<<1)^uint64(v>>63)) // zigzag: small negatives stay short
}

func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeUser encodes everything but the email, which is the record's key.
func encodeUser(b []byte, u protocol.User) []byte {
	var flags byte
	if u.VLESS != nil {
		flags |= flagVLESS
	}
	if u.VMess != nil {
		flags |= flagVMess
	}
	if u.Trojan != nil {
		flags |= flagTrojan
	}
	if u.Shadowsocks != nil {
		flags |= flagShadowsocks
	}
	if u.BytesLeft != nil {
		flags |= flagBytesLeft
	}
	if u.PerDevice {
		flags |= flagPerDevice
	}
	if len(u.Devices) > 0 {
		flags |= flagDevices
	}
	b = append(b, userFormat)
	b = appendVarint(b, u.ID)
	b = append(b, flags)
	b = appendUvarint(b, uint64(len(u.Excluded)))
	for _, tag := range u.Excluded {
		b = appendString(b, tag)
	}
	if u.VLESS != nil {
		b = appendString(b, u.VLESS.ID)
		b = appendString(b, u.VLESS.Flow)
	}
	if u.VMess != nil {
		b = appendString(b, u.VMess.ID)
	}
	if u.Trojan != nil {
		b = appendString(b, u.Trojan.Password)
	}
	if u.Shadowsocks != nil {
		b = appendString(b, u.Shadowsocks.Password)
		b = appendString(b, u.Shadowsocks.Method)
	}
	b = appendVarint(b, u.Expire)
	if u.BytesLeft != nil {
		b = appendVarint(b, *u.BytesLeft)
	}
	if len(u.Devices) > 0 {
		b = appendUvarint(b, uint64(len(u.Devices)))
		for _, id := range u.Devices {
			b = appendVarint(b, id)
		}
	}
	return b
}

// reader decodes from a string so that every decoded string is a substring
// of one allocation per record instead of one allocation per field.
type reader struct {
	s   string
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.s) == 0 {
		r.fail(errTruncated)
		return 0
	}
	c := r.s[0]
	r.s = r.s[1:]
	return c
}

// uvarint refuses overlong and overflowing encodings, which keeps decoding
// canonical.
func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(r.s); i++ {
		c := r.s[i]
		if i == 9 && c > 1 {
			r.fail(errors.New("varint overflows 64 bits"))
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				r.fail(errors.New("overlong varint"))
				return 0
			}
			r.s = r.s[i+1:]
			return v
		}
	}
	r.fail(errTruncated)
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// nonNegative reads a uvarint that must fit an int64.
func (r *reader) nonNegative() int64 {
	u := r.uvarint()
	if u > math.MaxInt64 {
		r.fail(errors.New("value overflows int64"))
		return 0
	}
	return int64(u)
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)) {
		r.fail(errTruncated)
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

// count reads a length prefix, bounded by what the rest could possibly hold
// (each element takes at least minSize bytes) so a corrupt record cannot ask
// for a huge allocation.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.s)/minSize) {
		r.fail(fmt.Errorf("count %d larger than the record", n))
		return 0
	}
	return int(n)
}

func (r *reader) end() error {
	if r.err == nil && len(r.s) != 0 {
		r.fail(fmt.Errorf("%d trailing bytes", len(r.s)))
	}
	return r.err
}

func (r *reader) format(want byte) {
	if got := r.byte(); r.err == nil && got != want {
		r.fail(fmt.Errorf("record format %d, this agent reads %d", got, want))
	}
}

// userParts holds the optional parts of one decoded user, so that a user
// costs one allocation for them rather than one per pointer.
type userParts struct {
	vless  protocol.VLESS
	vmess  protocol.VMess
	trojan protocol.Trojan
	ss     protocol.Shadowsocks
	left   int64
}

// decodeUser decodes a record written by encodeUser; email is its key.
func decodeUser(email string, rec []byte) (protocol.User, error) {
	u, err := decodeUserString(email, string(rec))
	if err != nil {
		return protocol.User{}, fmt.Errorf("decoding user %q: %w: %w", email, ErrCorrupt, err)
	}
	return u, nil
}

func decodeUserString(email, rec string) (protocol.User, error) {
	r := reader{s: rec}
	r.format(userFormat)
	u := protocol.User{Email: email, ID: r.varint()}
	flags := r.byte()
	if flags&^knownUserFlags != 0 {
		r.fail(fmt.Errorf("unknown user flags %#x", flags))
	}
	if r.err != nil {
		return protocol.User{}, r.err
	}
	if n := r.count(1); n > 0 {
		u.Excluded = make([]string, n)
		for i := range u.Excluded {
			u.Excluded[i] = r.string()
		}
	}
	var parts *userParts
	if flags != 0 {
		parts = new(userParts)
	}
	if flags&flagVLESS != 0 {
		parts.vless.ID = r.string()
		parts.vless.Flow = r.string()
		u.VLESS = &parts.vless
	}
	if flags&flagVMess != 0 {
		parts.vmess.ID = r.string()
		u.VMess = &parts.vmess
	}
	if flags&flagTrojan != 0 {
		parts.trojan.Password = r.string()
		u.Trojan = &parts.trojan
	}
	if flags&flagShadowsocks != 0 {
		parts.ss.Password = r.string()
		parts.ss.Method = r.string()
		u.Shadowsocks = &parts.ss
	}
	u.Expire = r.varint()
	if flags&flagBytesLeft != 0 {
		parts.left = r.varint()
		u.BytesLeft = &parts.left
	}
	u.PerDevice = flags&flagPerDevice != 0
	if flags&flagDevices != 0 {
		n := r.count(1)
		if n == 0 && r.err == nil {
			r.fail(errors.New("device list flagged but empty"))
		}
		if n > 0 {
			u.Devices = make([]int64, n)
			for i := range u.Devices {
				u.Devices[i] = r.varint()
			}
		}
	}
	if err := r.end(); err != nil {
		return protocol.User{}, err
	}
	return u, nil
}

// encodeJournalEntry writes the traffic sorted by email, so equal entries
// have equal bytes.
func encodeJournalEntry(b []byte, at time.Time, traffic map[string]Traffic) []byte {
	emails := make([]string, 0, len(traffic))
	for email := range traffic {
		emails = append(emails, email)
	}
	slices.Sort(emails)
	b = append(b, journalFormat)
	b = appendVarint(b, at.Unix())
	b = appendUvarint(b, uint64(at.Nanosecond()))
	b = appendUvarint(b, uint64(len(emails)))
	for _, email := range emails {
		t := traffic[email]
		b = appendString(b, email)
		b = appendUvarint(b, uint64(t.Up))
		b = appendUvarint(b, uint64(t.Down))
	}
	return b
}

func decodeJournalEntry(seq int64, rec []byte) (JournalEntry, error) {
	e, err := decodeJournalString(string(rec))
	if err != nil {
		return JournalEntry{}, fmt.Errorf("decoding journal entry %d: %w: %w", seq, ErrCorrupt, err)
	}
	e.Seq = seq
	return e, nil
}

func decodeJournalString(rec string) (JournalEntry, error) {
	r := reader{s: rec}
	r.format(journalFormat)
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= uint64(time.Second) {
		r.fail(fmt.Errorf("nanoseconds %d out of range", nsec))
	}
	n := r.count(4) // a length, an email of at least one byte, two counters
	e := JournalEntry{At: time.Unix(sec, int64(nsec)).UTC(), Traffic: make(map[string]Traffic, n)}
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		email := r.string()
		t := Traffic{Up: r.nonNegative(), Down: r.nonNegative()}
		if r.err == nil && (email == "" || (i > 0 && email <= prev)) {
			r.fail(errors.New("emails not strictly ascending"))
		}
		e.Traffic[email] = t
		prev = email
	}
	if err := r.end(); err != nil {
		return JournalEntry{}, err
	}
	return e, nil
}

// enforcedRecord is what the store keeps per enforced user.
type enforcedRecord struct {
	protocol.EnforcedUser
	Reported bool
}

func encodeEnforced(b []byte, e enforcedRecord) []byte {
	b = append(b, enforcedFormat)
	b = appendString(b, e.Reason)
	b = appendVarint(b, e.At)
	if e.Reported {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeEnforced(email string, rec []byte) (enforcedRecord, error) {
	r := reader{s: string(rec)}
	r.format(enforcedFormat)
	e := enforcedRecord{EnforcedUser: protocol.EnforcedUser{Email: email, Reason: r.string(), At: r.varint()}}
	switch r.byte() {
	case 0:
	case 1:
		e.Reported = true
	default:
		r.fail(errors.New("bad reported flag"))
	}
	if err := r.end(); err != nil {
		return enforcedRecord{}, fmt.Errorf("decoding enforcement of %q: %w: %w", email, ErrCorrupt, err)
	}
	return e, nil
}

// int64 keys are big-endian so bbolt's byte order is numeric order.
func seqKey(seq int64) []byte {
	return []byte{byte(seq >> 56), byte(seq >> 48), byte(seq >> 40), byte(seq >> 32),
		byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)}
}

func keySeq(k []byte) int64 {
	var v int64
	for _, c := range k {
		v = v<<8 | int64(c)
	}
	return v
}
