// Package sub renders what subscription clients consume: the subscription
// token in the URL (Marzban's format, so migrated links keep working) and the
// share links of a user's inbounds.
package sub

import (
	"crypto/hmac"
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

// MakeUserToken builds the token the panel hands out: Marzban's format
// (b64url-nopad("username,unix_ts") + 10 signature characters, so tools that
// read the username out of a link still do), signed for one user row. The
// signature covers the user's id, which is never reused, so a link minted
// for a deleted user does not open a later user of the same name, even one
// created within the same second (the timestamp alone cannot tell them
// apart). at as for MakeToken.
func MakeUserToken(username string, userID int64, at time.Time, secret string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(username + "," + strconv.FormatInt(at.Unix(), 10)))
	return payload + signForUser(payload, userID, secret)
}

// signForUser is HMAC-SHA256 keyed with the secret over the payload and the
// user id, under a label of its own so that it never equals Marzban's
// signature of the same payload.
func signForUser(payload string, userID int64, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("outpost-sub-v2\x00" + payload + "\x00" + strconv.FormatInt(userID, 10)))
	return base64.URLEncoding.EncodeToString(m.Sum(nil))[:sigLen]
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
	return decodePayload(unpadded)
}

func decodePayload(unpadded string) (string, time.Time, error) {
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

// Token is a subscription token whose form has been checked but whose
// signature may be one only the user's row can confirm (MakeUserToken).
type Token struct {
	Username string
	IssuedAt time.Time
	// marzban is set when the token carries Marzban's signature (minted by
	// Marzban, or by Outpost before tokens named the user's id).
	marzban bool
	payload string // as written, padding trimmed
	sig     string
}

// ReadToken checks a token's form and returns what it says. A token with
// Marzban's signature is marked so; any other needs ValidFor to be
// confirmed against the user's id, so nothing it says may be trusted
// before that.
func ReadToken(token, secret string) (Token, error) {
	if secret == "" || len(token) <= sigLen {
		return Token{}, ErrInvalidToken
	}
	if name, at, err := ParseToken(token, secret); err == nil {
		return Token{Username: name, IssuedAt: at, marzban: true}, nil
	}
	payload, sig := strings.TrimRight(token[:len(token)-sigLen], "="), token[len(token)-sigLen:]
	name, at, err := decodePayload(payload)
	if err != nil {
		return Token{}, err
	}
	return Token{Username: name, IssuedAt: at, payload: payload, sig: sig}, nil
}

// ValidFor reports whether the token is good for this user: signed for its
// id (or with Marzban's signature) and issued no earlier than its creation
// and after its last revocation (see TokenValidFor).
func (t Token) ValidFor(secret string, userID int64, createdAt time.Time, revokedAt *time.Time) bool {
	if !t.marzban {
		if t.payload == "" || subtle.ConstantTimeCompare([]byte(t.sig), []byte(signForUser(t.payload, userID, secret))) != 1 {
			return false
		}
	}
	return TokenValidFor(t.IssuedAt, createdAt, revokedAt)
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
