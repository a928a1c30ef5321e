package sub

import (
	"fmt"
	"time"
)

// jalaliAnchor is 1 Farvardin 1403 of the Solar Hijri calendar.
var jalaliAnchor = time.Date(2024, time.March, 20, 0, 0, 0, 0, time.UTC)

// jalaliLeap is the 33-year arithmetic rule, which agrees with the
// astronomical calendar for centuries around today.
func jalaliLeap(y int) bool { return (25*y+11)%33 < 8 }

func jalaliYearLen(y int) int {
	if jalaliLeap(y) {
		return 366
	}
	return 365
}

// Jalali converts the calendar date of t, in t's own location, to the Solar
// Hijri calendar by walking whole years from a known Nowruz. ok is false
// outside the years the arithmetic rule is trusted for.
func Jalali(t time.Time) (year, month, day int, ok bool) {
	if t.Year() < 1900 || t.Year() > 3000 {
		return 0, 0, 0, false
	}
	date := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	days := int((date.Unix() - jalaliAnchor.Unix()) / 86400) // exact: both are UTC midnights
	y := 1403
	for days < 0 {
		y--
		days += jalaliYearLen(y)
	}
	for days >= jalaliYearLen(y) {
		days -= jalaliYearLen(y)
		y++
	}
	// Six months of 31 days, five of 30, and Esfand with 29 or 30.
	if days < 186 {
		return y, days/31 + 1, days%31 + 1, true
	}
	days -= 186
	return y, days/30 + 7, days%30 + 1, true
}

// jalaliDate formats t's UTC date in the Solar Hijri calendar as YYYY-MM-DD.
func jalaliDate(t time.Time) string {
	y, m, d, ok := Jalali(t.UTC())
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
}
