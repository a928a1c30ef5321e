package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/outpost-panel/outpost/backend/model"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	t0     = time.Date(2026, 11, 26, 1, 2, 3, 456_000_000, time.UTC)
)

func TestIssueParseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		admin  model.Admin
		access string
	}{
		{model.Admin{ID: 7, Username: "root", IsSudo: true}, AccessSudo},
		{model.Admin{ID: 8, Username: "reseller"}, AccessAdmin},
		{model.Admin{Username: "envsudo", IsSudo: true}, AccessSudo}, // no row: aid 0
	} {
		tok, err := Issue(secret, &tc.admin, time.Hour, t0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(secret, tok, t0.Add(59*time.Minute))
		if err != nil {
			t.Fatalf("%s: %v", tc.admin.Username, err)
		}
		if c.Username != tc.admin.Username || c.Access != tc.access || c.AdminID != tc.admin.ID {
			t.Errorf("claims %+v, want %s/%s", c, tc.admin.Username, tc.access)
		}
		if !c.IssuedAt.Equal(t0.Truncate(time.Second)) {
			t.Errorf("iat %v, want %v", c.IssuedAt, t0)
		}
		if !c.ExpiresAt.Equal(t0.Add(time.Hour).Truncate(time.Second)) {
			t.Errorf("exp %v", c.ExpiresAt)
		}
	}
}

// The payload uses Marzban's claim names, so tooling written for Marzban
// tokens reads ours.
func TestPayloadClaimNames(t *testing.T) {
	tok, err := Issue(secret, &model.Admin{Username: "root", IsSudo: true}, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if aid, ok := m["aid"].(float64); !ok || aid != 0 {
		t.Errorf("payload %s: want aid 0 for an admin without a row", raw)
	}
	if m["sub"] != "root" || m["access"] != "sudo" {
		t.Errorf("payload %s", raw)
	}
	if exp, _ := m["exp"].(float64); int64(exp) != t0.Add(DefaultTTL).Unix() {
		t.Errorf("exp %v, want default TTL of 1440 minutes", m["exp"])
	}
	if iat, _ := m["iat"].(float64); int64(iat) != t0.Unix() {
		t.Errorf("iat %v", m["iat"])
	}
}

func TestParseRejects(t *testing.T) {
	admin := &model.Admin{Username: "root", IsSudo: true}
	good, err := Issue(secret, admin, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Issue([]byte("another-secret-another-secret-00"), admin, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	iat, exp := float64(t0.Unix()), float64(t0.Add(time.Hour).Unix())
	for name, tok := range map[string]string{
		"expired":        good, // parsed an hour and a second later below
		"other secret":   other,
		"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "root", "aid": 1, "access": "sudo", "iat": iat, "exp": exp}),
		"HS512":          sign(jwt.SigningMethodHS512, secret, jwt.MapClaims{"sub": "root", "aid": 1, "access": "sudo", "iat": iat, "exp": exp}),
		"no aid":         sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "root", "access": "sudo", "iat": iat, "exp": exp}),
		"negative aid":   sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "root", "aid": -1, "access": "sudo", "iat": iat, "exp": exp}),
		"no exp":         sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "root", "aid": 1, "access": "sudo", "iat": iat}),
		"no sub":         sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"aid": 1, "access": "sudo", "iat": iat, "exp": exp}),
		"no iat":         sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "root", "aid": 1, "access": "sudo", "exp": exp}),
		"unknown access": sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "root", "aid": 1, "access": "god", "iat": iat, "exp": exp}),
		"garbage":        "not.a.token",
		"empty":          "",
	} {
		now := t0.Add(time.Minute)
		if name == "expired" {
			now = t0.Add(time.Hour + time.Second)
		}
		if _, err := Parse(secret, tok, now); !errors.Is(err, model.ErrUnauthorized) {
			t.Errorf("%s: err %v, want ErrUnauthorized", name, err)
		}
	}
}

func TestIssuedBeforeReset(t *testing.T) {
	tok, err := Issue(secret, &model.Admin{Username: "a"}, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(secret, tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) *model.Admin {
		r := t0.Add(d)
		return &model.Admin{Username: "a", PasswordResetAt: &r}
	}
	for _, tc := range []struct {
		name  string
		admin *model.Admin
		want  bool
	}{
		{"never reset", &model.Admin{Username: "a"}, false},
		{"reset later in the same second", at(100 * time.Millisecond), true},
		// Whole-second storage cannot order these two; refusing is the safe side.
		{"reset earlier in the same second", at(-100 * time.Millisecond), true},
		{"reset in the previous second", at(-time.Second), false},
		{"reset a day later", at(24 * time.Hour), true},
	} {
		if got := c.IssuedBeforeReset(tc.admin); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A login in the same second as a reset must still produce a usable token.
func TestIssueAfterResetInSameSecond(t *testing.T) {
	reset := t0.Add(-200 * time.Millisecond)
	stored := reset.Truncate(time.Second) // the store keeps whole seconds
	admin := &model.Admin{Username: "a", PasswordResetAt: &stored}
	tok, err := Issue(secret, admin, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(secret, tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c.IssuedBeforeReset(admin) {
		t.Fatalf("token issued after the reset is refused: iat %v, reset %v", c.IssuedAt, stored)
	}
}

func TestEnvSudoCheck(t *testing.T) {
	e := EnvSudo{Username: "boss", Password: "hunter2"}
	for _, tc := range []struct {
		env        EnvSudo
		user, pass string
		want       bool
	}{
		{e, "boss", "hunter2", true},
		{e, "boss", "hunter3", false},
		{e, "bos", "hunter2", false},
		{e, "boss", "", false},
		{EnvSudo{Username: "boss"}, "boss", "", false},
		{EnvSudo{}, "", "", false},
	} {
		if got := tc.env.Check(tc.user, tc.pass); got != tc.want {
			t.Errorf("%+v.Check(%q, %q) = %v", tc.env, tc.user, tc.pass, got)
		}
	}
	if a := e.Admin(); !a.IsSudo || a.ID != 0 || a.Username != "boss" {
		t.Errorf("Admin() = %+v", a)
	}
}

func TestIssuedTo(t *testing.T) {
	tok, err := Issue(secret, &model.Admin{ID: 5, Username: "bob"}, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(secret, tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		admin *model.Admin
		want  bool
	}{
		{"the same row", &model.Admin{ID: 5, Username: "bob"}, true},
		{"re-created under the same name", &model.Admin{ID: 6, Username: "bob", IsSudo: true}, false},
		{"another name on the same id", &model.Admin{ID: 5, Username: "rob"}, false},
		{"the env sudo (no row)", &model.Admin{Username: "bob", IsSudo: true}, false},
	} {
		if got := c.IssuedTo(tc.admin); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
