// Package auth issues and checks the admins' bearer tokens (HS256 JWT with
// Marzban's claims) and holds the env-configured sudo admin that lives outside
// the database.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/outpost-panel/outpost/backend/model"
)

// DefaultTTL is Marzban's JWT_ACCESS_TOKEN_EXPIRE_MINUTES default.
const DefaultTTL = 1440 * time.Minute

// Access levels carried in the "access" claim.
const (
	AccessSudo  = "sudo"
	AccessAdmin = "admin"
)

// Claims are what a token says about its bearer.
type Claims struct {
	Username string
	// AdminID is the admin row the token was issued to; 0 is the env sudo,
	// which has no row. A username alone cannot tell a deleted admin from a
	// new one of the same name, so a token is honoured only while the row
	// that carries the name is still the one it was issued to (row ids are
	// never reused: AUTOINCREMENT on SQLite, an identity on PostgreSQL).
	AdminID int64
	// SessionID is the sign-in session (admin_sessions row) the token
	// belongs to; 0 for a token signed without one (before sessions
	// existed), which is honoured until it expires or the password changes.
	SessionID int64
	Access    string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// tokenClaims is the payload: Marzban's sub, access, iat and exp, plus aid,
// the admin's row id. Marzban's tools ignore the extra claim.
type tokenClaims struct {
	Access  string `json:"access"`
	AdminID *int64 `json:"aid,omitempty"`
	// SessionID is the sign-in session; Marzban's tools ignore it too.
	SessionID int64 `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// Issue signs a token for admin, valid for ttl from now (DefaultTTL when ttl
// is not positive).
//
// iat is whole seconds and so is the stored password_reset_at, so a token
// whose iat is in the reset's second cannot be told apart from one issued
// just before the reset; IssuedBeforeReset refuses both. A login right after
// a reset therefore gets an iat one second past the reset, never a token that
// is dead on arrival.
func Issue(secret []byte, admin *model.Admin, ttl time.Duration, now time.Time) (string, error) {
	return IssueSession(secret, admin, 0, ttl, now)
}

// IssueSession is Issue for the sign-in session sid (the "sid" claim).
func IssueSession(secret []byte, admin *model.Admin, sid int64, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("issuing token: empty signing secret")
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	access := AccessAdmin
	if admin.IsSudo {
		access = AccessSudo
	}
	iat := now.Truncate(time.Second)
	if r := admin.PasswordResetAt; r != nil && iat.Unix() <= r.Unix() {
		iat = time.Unix(r.Unix()+1, 0)
	}
	aid := admin.ID
	claims := tokenClaims{
		Access:    access,
		AdminID:   &aid,
		SessionID: sid,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   admin.Username,
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing token for %q: %w", admin.Username, err)
	}
	return tok, nil
}

// Parse checks a token's signature, algorithm and expiry at now. Every failure
// wraps model.ErrUnauthorized.
func Parse(secret []byte, token string, now time.Time) (Claims, error) {
	var tc tokenClaims
	_, err := jwt.ParseWithClaims(token, &tc, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", model.ErrUnauthorized, err)
	}
	if tc.Subject == "" || tc.IssuedAt == nil || (tc.Access != AccessSudo && tc.Access != AccessAdmin) {
		return Claims{}, fmt.Errorf("%w: token lacks sub, iat or access", model.ErrUnauthorized)
	}
	// Tokens from before the aid claim cannot be bound to a row: refused
	// (they lived 24 hours at most; the admin logs in again).
	if tc.AdminID == nil || *tc.AdminID < 0 || tc.SessionID < 0 {
		return Claims{}, fmt.Errorf("%w: token lacks aid", model.ErrUnauthorized)
	}
	return Claims{
		Username:  tc.Subject,
		AdminID:   *tc.AdminID,
		SessionID: tc.SessionID,
		Access:    tc.Access,
		IssuedAt:  tc.IssuedAt.UTC(),
		ExpiresAt: tc.ExpiresAt.UTC(),
	}, nil
}

// IssuedTo reports whether the token was issued to this admin row: same
// name and same row id. A re-created admin of the same name has a new id.
func (c Claims) IssuedTo(admin *model.Admin) bool {
	return admin.ID != 0 && c.AdminID == admin.ID && c.Username == admin.Username
}

// IssuedBeforeReset reports whether a token with these claims may predate the
// admin's last password reset and must therefore be refused (see Issue).
func (c Claims) IssuedBeforeReset(admin *model.Admin) bool {
	return admin.PasswordResetAt != nil && c.IssuedAt.Unix() <= admin.PasswordResetAt.Unix()
}
