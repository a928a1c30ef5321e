// Package sub renders what subscription clients consume: the subscription
// token in the URL (Marzban's format, so migrated links keep working) and the
// share links of a user's inbounds.
package sub

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidToken is returned for a token that is malformed or not signed
// with the panel's secret. Callers answer 404 without saying which.
var ErrInvalidToken = errors.New("invalid subscription token")

const sigLen = 10

// MakeToken builds a Marzban-compatible subscription token:
// b64url-nopad("username,unix_ts") followed by the first 10 characters of
// b64url(sha256(b64 + secret)). at is truncated to whole seconds; pass
// IssueTime's result so that a token minted right after a revocation is
// not refused with the ones it replaces.
func MakeToken(username string, at time.Time, secret string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(username + "," + strconv.FormatInt(at.Unix(), 10)))
	return payload + sign(payload, secret)
}

func sign(payload, secret string) string {
	sum := sha256.Sum256([]byte(payload + secret))
	return base64.URLEncoding.EncodeToString(sum[:])[:sigLen]
}

// ParseToken checks a token's signature (in constant time) and returns the
// username and issue time it carries. A payload that keeps its base64
// padding is accepted with a signature over the payload as written (how
// Marzban verifies) or over the payload without its padding.
func ParseToken(token, secret string) (username string, issuedAt time.Time, err error) {
	if secret == "" || len(token) <= sigLen {
		return "", time.Time{}, ErrInvalidToken
	}
	payload, sig := token[:len(token)-sigLen], token[len(token)-sigLen:]
	unpadded := strings.TrimRight(payload, "=")
	good := subtle.ConstantTimeCompare([]byte(sig), []byte(sign(payload, secret)))
	if unpadded != payload {
		good |= subtle.ConstantTimeCompare([]byte(sig), []byte(sign(unpadded, secret)))
	}
	if good != 1 {
		return "", time.Time{}, ErrInvalidToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(unpadded)
	if err != nil {
		return "", time.Time{}, ErrInvalidToken
	}
	name, ts, ok := strings.Cut(string(raw), ",")
	if !ok || name == "" {
		return "", time.Time{}, ErrInvalidToken
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return "", time.Time{}, ErrInvalidToken
	}
	return name, time.Unix(sec, 0), nil
}

// TokenValidFor reports whether a token issued at issuedAt is still good for
// a user created at createdAt whose subscription was last revoked at
// revokedAt (nil: never). Tokens carry whole seconds, so the comparison is in
// whole seconds: a token from the second the user was created is good, one
// from the second of a revocation is not (it may predate the revocation).
func TokenValidFor(issuedAt time.Time, createdAt time.Time, revokedAt *time.Time) bool {
	ts := issuedAt.Unix()
	if ts < createdAt.Unix() {
		return false
	}
	return revokedAt == nil || ts > revokedAt.Unix()
}

// IssueTime is the time to mint a user's token with at now: now, or the
// second after the last revocation when that second has not begun yet, so a
// token minted in the same second as a revocation still passes TokenValidFor.
// The token then carries a time up to one second ahead, which is harmless.
func IssueTime(now time.Time, revokedAt *time.Time) time.Time {
	if revokedAt != nil && now.Unix() <= revokedAt.Unix() {
		return time.Unix(revokedAt.Unix()+1, 0)
	}
	return now
}
