package auth

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/outpost-panel/outpost/backend/model"
)

// EnvSudo is the sudo admin configured by SUDO_USERNAME / SUDO_PASSWORD. Like
// Marzban's, it has no database row: it exists while the environment says so,
// which keeps a way in when the database's admins are lost or locked out.
type EnvSudo struct {
	Username string
	Password string
}

// Configured reports whether both halves of the pair are set; a username
// without a password must never let anybody in.
func (e EnvSudo) Configured() bool { return e.Username != "" && e.Password != "" }

// Admin is the env sudo as a model.Admin (ID 0: it owns no rows).
func (e EnvSudo) Admin() *model.Admin {
	return &model.Admin{Username: e.Username, IsSudo: true}
}

// Check reports whether username/password are the env sudo's. Both are
// compared in constant time over their digests, so neither the values nor
// their lengths leak through timing.
func (e EnvSudo) Check(username, password string) bool {
	if !e.Configured() {
		return false
	}
	u := equalDigest(username, e.Username)
	p := equalDigest(password, e.Password)
	return u&p == 1
}

func equalDigest(a, b string) int {
	da, db := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:])
}
