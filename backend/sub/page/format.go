package page

import (
	"strconv"
	"time"

	"github.com/outpost-panel/outpost/backend/sub"
)

// formatBytes renders n with binary prefixes (as Marzban and the clients
// do) and up to two decimals, using the language's units and separator.
func formatBytes(n int64, m *messages) string {
	if n < 0 {
		n = 0
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " " + m.UnitB
	}
	units := [...]string{m.UnitKB, m.UnitMB, m.UnitGB, m.UnitTB}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	b := strconv.AppendFloat(make([]byte, 0, 24), v, 'f', 2, 64)
	// Trim "12.50" to "12.5" and "12.00" to "12".
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	for j, c := range b {
		if c == '.' {
			b[j] = m.Decimal
		}
	}
	return string(b) + " " + units[i]
}

// formatDate renders t's calendar date for the language.
func formatDate(t time.Time, m *messages) string {
	if m.Jalali {
		y, mo, d, ok := sub.Jalali(t)
		if !ok {
			return t.Format("2006-01-02")
		}
		b := make([]byte, 0, 10)
		b = strconv.AppendInt(b, int64(y), 10)
		b = append(b, '/')
		b = appendTwo(b, mo)
		b = append(b, '/')
		b = appendTwo(b, d)
		return string(b)
	}
	return t.Format(m.DateLayout)
}

func appendTwo(b []byte, v int) []byte {
	if v < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// daysLeft counts started days until expire, so a subscription ending in
// three hours still shows "1".
func daysLeft(expire, now time.Time) int64 {
	d := expire.Sub(now)
	if d <= 0 {
		return 0
	}
	return int64((d + 24*time.Hour - 1) / (24 * time.Hour))
}
