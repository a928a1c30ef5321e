package xrayconf

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// DefaultSSMethod is the cipher of a classic shadowsocks client whose user
// record names none (Marzban's default).
const DefaultSSMethod = "chacha20-ietf-poly1305"

// IsSS2022 reports whether method is a SIP022 (2022-blake3-*) cipher.
func IsSS2022(method string) bool {
	return strings.HasPrefix(strings.ToLower(method), "2022-blake3-")
}

// SS2022KeyLen is the key length in bytes a 2022-blake3 method needs, 0 for
// any other method.
func SS2022KeyLen(method string) int {
	switch strings.ToLower(method) {
	case "2022-blake3-aes-128-gcm":
		return 16
	case "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305":
		return 32
	}
	return 0
}

// SS2022UserKey is the key a user has in a 2022-blake3 inbound. SIP022 keys
// are base64 of exactly 16 or 32 bytes, while user records carry free-form
// passwords (Marzban's are random strings). A password that already is a
// valid key is used as is; any other is stretched deterministically, so the
// node (which puts the user in the inbound) and the share link (which hands
// the key to the client) agree without storing anything. Both sides must call
// this function.
func SS2022UserKey(method, password string) string {
	n := SS2022KeyLen(method)
	if n == 0 {
		return password
	}
	if raw, err := base64.StdEncoding.DecodeString(password); err == nil && len(raw) == n {
		return password
	}
	sum := sha256.Sum256([]byte("outpost ss2022 user key\x00" + password))
	return base64.StdEncoding.EncodeToString(sum[:n])
}
