package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
)

// StateHash is an order-independent digest of a desired state: the XOR of
// the SHA-256 of the config and of every user's canonical JSON. XOR lets both
// sides keep it up to date in O(1) per changed user instead of rehashing
// 100,000 users on every delta.
type StateHash [sha256.Size]byte

// String renders the hash as hex.
func (h StateHash) String() string { return hex.EncodeToString(h[:]) }

func (h *StateHash) xor(d [sha256.Size]byte) {
	for i := range h {
		h[i] ^= d[i]
	}
}

// AddUser mixes a user into the hash; RemoveUser with the same user undoes it.
func (h *StateHash) AddUser(u User) { h.xor(UserDigest(u)) }

// RemoveUser undoes AddUser for the same user value.
func (h *StateHash) RemoveUser(u User) { h.xor(UserDigest(u)) }

// SetConfig mixes the config in; call it again with the same bytes to undo.
func (h *StateHash) ToggleConfig(config []byte) { h.xor(ConfigDigest(config)) }

// UserDigest is the SHA-256 of the user's canonical encoding (exclusions sorted).
func UserDigest(u User) [sha256.Size]byte {
	if !sort.StringsAreSorted(u.Excluded) {
		in := append([]string(nil), u.Excluded...)
		sort.Strings(in)
		u.Excluded = in
	}
	b, _ := json.Marshal(u) // a struct of strings and ints cannot fail
	return sha256.Sum256(append([]byte("user\x00"), b...))
}

// ConfigDigest is the SHA-256 of the config bytes as sent.
func ConfigDigest(config []byte) [sha256.Size]byte {
	return sha256.Sum256(append([]byte("config\x00"), config...))
}

// ComputeStateHash hashes a whole state at once.
func ComputeStateHash(config []byte, users []User) StateHash {
	var h StateHash
	h.ToggleConfig(config)
	for _, u := range users {
		h.AddUser(u)
	}
	return h
}
