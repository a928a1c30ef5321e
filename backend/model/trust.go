package model

import (
	"fmt"
	"slices"
	"time"
)

// API key scopes. A key carries one or more; "read" lets it call the
// routes that change nothing, each other scope adds the writes of one area
// (and reading everything), "all" is everything its owner may do. Routes of
// the account itself (keys, sessions, two-factor, password) are never open
// to a key, whatever its scopes.
const (
	ScopeRead   = "read"
	ScopeUsers  = "users"
	ScopeNodes  = "nodes" // nodes and the core config, hosts, settings
	ScopeAdmins = "admins"
	ScopeAll    = "all"
)

// Scopes are the scope names in the order the API documents them.
var Scopes = []string{ScopeRead, ScopeUsers, ScopeNodes, ScopeAdmins, ScopeAll}

// APIKeyPrefix starts every API key, so a key is told from a JWT (and from
// other secrets in a leak scanner) at a glance.
const APIKeyPrefix = "op_"

// Bounds of the account-security inputs.
const (
	MaxAPIKeysPerAdmin = 50
	MaxAPIKeyName      = 64
	RecoveryCodeCount  = 10
)

// APIKey is an admin's API key as listed; the key itself is shown once, at
// creation, and only its SHA-256 is stored.
type APIKey struct {
	ID         int64      `json:"id"`
	AdminID    int64      `json:"-"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	LastUsedIP *string    `json:"last_used_ip"`
	KeyHash    string     `json:"-"`
}

// HasScope reports whether the key carries scope (or "all").
func (k *APIKey) HasScope(scope string) bool {
	for _, s := range k.Scopes {
		if s == scope || s == ScopeAll {
			return true
		}
	}
	return false
}

// AdminSession is one sign-in: the token it returned carries its ID.
type AdminSession struct {
	ID        int64     `json:"id"`
	AdminID   int64     `json:"-"`
	Username  string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Address   string    `json:"address"`
	UserAgent string    `json:"user_agent"`
	// Current is set in a listing for the session of the caller's token.
	Current bool `json:"current"`
}

// TOTPState is an admin's second factor as stored; Secret is sealed.
type TOTPState struct {
	AdminID   int64
	Secret    string
	Confirmed bool
	LastStep  int64
}

// CheckScopes validates the scopes asked for a key of an admin (sudo or
// not) and returns them without repeats: one at least, each known, and
// "admins" only for a sudo admin (a key never has more rights than its
// owner; "all" is capped by the owner at each request).
func CheckScopes(scopes []string, sudo bool) ([]string, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("%w: scopes: at least one of %v", ErrInvalid, Scopes)
	}
	var out []string
	for _, sc := range scopes {
		if !slices.Contains(Scopes, sc) {
			if len(sc) > 20 {
				sc = sc[:20] + "..."
			}
			return nil, fmt.Errorf("%w: scopes: %q is not one of %v", ErrInvalid, sc, Scopes)
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if slices.Contains(out, ScopeAdmins) && !sudo {
		return nil, fmt.Errorf("%w: scopes: \"admins\" needs a sudo admin; a key never has more rights than its owner", ErrInvalid)
	}
	return out, nil
}
