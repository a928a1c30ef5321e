package model

import (
	"fmt"
	"math"
	"time"
)

// Ranges of every number a client may send, in one place. Request decoders
// check each numeric field against one of the named ranges (the API's
// decoder reads the name from a `limit:"..."` struct tag); state checks the
// same ranges for callers that do not come through HTTP; the lifecycle jobs
// skip a stored row outside them (SaneUser) instead of failing for everyone.
// 0 keeps Marzban's meaning of "never" or "unlimited" where it has one.
// README.md's API section lists them.
const (
	// MaxExpire is 9999-12-31T23:59:59Z in unix seconds: the last instant
	// both engines, Go and every client can print as a date.
	MaxExpire int64 = 253402300799
	// MaxDuration bounds every duration in seconds (on_hold_expire_duration,
	// a template's expire_duration, a next plan's expire): under 100 years.
	MaxDuration int64 = 100 * 365 * 24 * 3600
	// MaxBytes bounds data limits and traffic: 2^62 bytes (4 EiB), so the
	// sum of two of them still fits an int64.
	MaxBytes int64 = 1 << 62
	// MaxAutoDeleteDays bounds auto_delete_in_days: 100 years of days.
	MaxAutoDeleteDays int64 = 100 * 366
	// MaxUsageCoefficient bounds a node's usage_coefficient.
	MaxUsageCoefficient = 1000.0
	// MaxTelegramID bounds telegram_id: Telegram's ids fit 52 bits; 2^53
	// keeps them exact in a JavaScript number.
	MaxTelegramID int64 = 1 << 53
	// MaxOffset bounds offset query parameters of list endpoints.
	MaxOffset int64 = 1<<31 - 1
	// MaxPageSize bounds limit query parameters of list endpoints.
	MaxPageSize int64 = 1000
	// MaxCapUsers bounds an admin's max_users cap.
	MaxCapUsers int64 = 100_000_000
	// MaxDevices bounds hwid_device_limit, and is also how many devices a
	// user may have registered at all (an unlimited user's further
	// devices are served but not listed).
	MaxDevices int64 = 256
	// MaxIPLimit bounds ip_limit: the panel keeps MaxUserIPs addresses
	// per user, so a higher limit could never be passed.
	MaxIPLimit int64 = MaxUserIPs
)

// Range is the allowed interval of one kind of number, both ends included.
type Range struct {
	Min, Max int64
	// What says what the number is, for the error text.
	What string
}

// Ranges are the named ranges of integer fields.
var Ranges = map[string]Range{
	"expire":    {0, MaxExpire, "0 (never) or a unix time in seconds up to year 9999"},
	"duration":  {0, MaxDuration, "0 or a number of seconds under 100 years"},
	"bytes":     {0, MaxBytes, "0 (unlimited) or a number of bytes up to 2^62"},
	"days":      {0, MaxAutoDeleteDays, "a number of days up to 36600"},
	"port":      {0, 65535, "a port number"},
	"hours":     {1, 24 * 365, "a number of hours from 1 to 8760"},
	"telegram":  {0, MaxTelegramID, "0 or a Telegram id up to 2^53"},
	"offset":    {0, MaxOffset, "an offset up to 2^31-1"},
	"page_size": {0, MaxPageSize, "a page size up to 1000"},
	"cap_users": {0, MaxCapUsers, "a number of users up to 100000000"},
	"cap_bytes": {0, MaxBytes, "a number of bytes up to 2^62"},
	"devices":   {0, MaxDevices, "0 (unlimited) or a number of devices up to 256"},
	"ip_limit":  {0, MaxIPLimit, "0 (unlimited) or a number of addresses up to 64"},
	"ip_grace":  {10, 24 * 3600, "a number of seconds from 10 to 86400"},
	"minutes":   {1, 30 * 24 * 60, "a number of minutes from 1 to 43200"},
}

// FloatRanges are the named ranges of floating-point fields.
var FloatRanges = map[string]struct {
	Min, Max float64
	What     string
}{
	"coefficient": {0, MaxUsageCoefficient, "a finite number from 0 to 1000"},
}

// CheckInt reports a value of field outside the named range, as an
// ErrInvalid whose text starts with the field name.
func CheckInt(field, rangeName string, v int64) error {
	r, ok := Ranges[rangeName]
	if !ok {
		panic("model: unknown range " + rangeName)
	}
	if v < r.Min || v > r.Max {
		return fmt.Errorf("%w: %s: must be %s (got %d)", ErrInvalid, field, r.What, v)
	}
	return nil
}

// CheckFloat is CheckInt for floating-point fields; NaN and infinities are
// always out of range.
func CheckFloat(field, rangeName string, v float64) error {
	r, ok := FloatRanges[rangeName]
	if !ok {
		panic("model: unknown range " + rangeName)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < r.Min || v > r.Max {
		return fmt.Errorf("%w: %s: must be %s", ErrInvalid, field, r.What)
	}
	return nil
}

// CheckText refuses NUL and the other C0 control characters but tab, line
// feed and carriage return, and DEL, in a string that is stored or used in
// a query: PostgreSQL cannot store NUL at all (SQLite can), and the others
// only garble logs, links and terminals.
func CheckText(field, s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return fmt.Errorf("%w: %s: control character 0x%02x at byte %d is not allowed", ErrInvalid, field, c, i)
		}
	}
	return nil
}

// SatAdd is a+b clamped to the int64 range instead of wrapping.
func SatAdd(a, b int64) int64 {
	s := a + b
	if a > 0 && b > 0 && s < 0 {
		return math.MaxInt64
	}
	if a < 0 && b < 0 && s >= 0 {
		return math.MinInt64
	}
	return s
}

// ClampExpire clamps a computed unix time into [0, MaxExpire].
func ClampExpire(v int64) int64 { return min(max(v, 0), MaxExpire) }

// ClampBytes clamps a computed byte count into [0, MaxBytes].
func ClampBytes(v int64) int64 { return min(max(v, 0), MaxBytes) }

// ExpireAfter is at + seconds as a unix time, saturating at MaxExpire.
func ExpireAfter(at time.Time, seconds int64) int64 {
	return ClampExpire(SatAdd(at.Unix(), seconds))
}

// SaneUser reports the first stored field of u outside its range: such a
// row was written around the API (an old version, a migration, by hand),
// and the lifecycle jobs log and skip it rather than compute with it.
func SaneUser(u *User) error {
	checks := []struct {
		field, rng string
		v          int64
	}{
		{"expire", "expire", u.Expire},
		{"data_limit", "bytes", u.DataLimit},
		{"used_traffic", "bytes", u.UsedTraffic},
		{"on_hold_expire_duration", "duration", u.OnHoldExpireDuration},
	}
	if u.AutoDeleteInDays != nil {
		checks = append(checks, struct {
			field, rng string
			v          int64
		}{"auto_delete_in_days", "days", *u.AutoDeleteInDays})
	}
	if p := u.NextPlan; p != nil {
		checks = append(checks, struct {
			field, rng string
			v          int64
		}{"next_plan.data_limit", "bytes", p.DataLimit}, struct {
			field, rng string
			v          int64
		}{"next_plan.expire", "duration", p.Expire})
	}
	for _, c := range checks {
		if err := CheckInt(c.field, c.rng, c.v); err != nil {
			return err
		}
	}
	return nil
}
