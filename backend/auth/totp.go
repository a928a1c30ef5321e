package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Two-factor sign-in (RFC 6238 TOTP: SHA-1, six digits, 30-second steps,
// what every authenticator app reads from an otpauth:// URL) and its
// single-use recovery codes.

// TOTPPeriod is the length of one TOTP step.
const TOTPPeriod = 30 * time.Second

// TOTPIssuer names the panel in authenticator apps.
const TOTPIssuer = "Outpost"

var totpOpts = totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTP makes a new secret (base32) and its otpauth:// URL for account.
func NewTOTP(account string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: account,
		Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("generating totp secret: %w", err)
	}
	return k.Secret(), k.URL(), nil
}

// TOTPStep is the step number of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// MatchTOTP finds the step, among the one of now and its two neighbours
// (clocks drift), whose code is code; 0 and false when none is. Steps at
// or before notAfter were used already and never match, so a code works
// once.
func MatchTOTP(secret, code string, now time.Time, notAfter int64) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	cur := TOTPStep(now)
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		if step <= notAfter {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*int64(TOTPPeriod/time.Second), 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// TOTPCode is the code of t (tests and the CLI's check).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

// recoveryAlphabet leaves out 0/o and 1/l, which people misread.
const recoveryAlphabet = "23456789abcdefghijkmnpqrstuvwxyz"

// NewRecoveryCodes makes n codes of ten characters (50 bits each), written
// xxxxx-xxxxx.
func NewRecoveryCodes(n int) ([]string, error) {
	out := make([]string, n)
	buf := make([]byte, 10)
	for i := range out {
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		var b strings.Builder
		for j, c := range buf {
			if j == 5 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
		}
		out[i] = b.String()
	}
	return out, nil
}

// HashRecoveryCode is the stored form of a recovery code: SHA-256 of the
// code without case, spaces or dashes, so "ABCDE FGHIJ" matches.
func HashRecoveryCode(code string) string {
	norm := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}

// The TOTP secrets are sealed with AES-256-GCM under a key derived from the
// panel's JWT signing secret. That secret lives in the same database, so
// this keeps the TOTP secrets out of a leaked table, a query log or a
// partial dump, not out of a full copy of the database.
func sealKey(panelSecret []byte) []byte {
	sum := sha256.Sum256(append([]byte("outpost totp seal v1\x00"), panelSecret...))
	return sum[:]
}

// SealSecret encrypts a TOTP secret for storage ("v1:" + base64).
func SealSecret(panelSecret []byte, secret string) (string, error) {
	gcm, err := newGCM(panelSecret)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return "v1:" + base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(secret), nil)), nil
}

// OpenSecret decrypts what SealSecret made.
func OpenSecret(panelSecret []byte, sealed string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, "v1:")
	if !ok {
		return "", errors.New("sealed totp secret: unknown format")
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "", fmt.Errorf("sealed totp secret: %w", err)
	}
	gcm, err := newGCM(panelSecret)
	if err != nil {
		return "", err
	}
	if len(data) < gcm.NonceSize() {
		return "", errors.New("sealed totp secret: too short")
	}
	plain, err := gcm.Open(nil, data[:gcm.NonceSize()], data[gcm.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("sealed totp secret: %w", err)
	}
	return string(plain), nil
}

func newGCM(panelSecret []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(sealKey(panelSecret))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// NewAPIKey makes an API key: "op_" and 32 random bytes (base64url), the
// prefix shown in lists, and the SHA-256 (hex) that is stored.
func NewAPIKey() (key, prefix, hash string, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", "", "", err
	}
	key = "op_" + base64.RawURLEncoding.EncodeToString(raw)
	return key, key[:9], HashAPIKey(key), nil
}

// HashAPIKey is the stored form of a key. A key is 256 random bits, so a
// plain hash is enough: there is nothing to guess from it.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
