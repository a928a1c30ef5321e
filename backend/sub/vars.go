package sub

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

const infinity = "∞"

// vars expands the host variables Marzban documents. The user-dependent
// values are computed once per rendering, and only if a template uses one.
type vars struct {
	u        *model.User
	now      time.Time
	serverIP string

	ready                                                  bool
	usage, limit, left, daysLeft, expire, jalali, timeLeft string
}

func (v *vars) expand(s, protocol, transport string) string {
	if strings.IndexByte(s, '{') < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		if val, ok := v.value(s[i+1:i+j], protocol, transport); ok {
			b.WriteString(val)
		} else {
			b.WriteString(s[i : i+j+1]) // unknown names stay as written
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

func (v *vars) value(name, protocol, transport string) (string, bool) {
	switch name {
	case "USERNAME":
		return v.u.Username, true
	case "PROTOCOL":
		return protocol, true
	case "TRANSPORT":
		return transport, true
	case "SERVER_IP":
		return v.serverIP, true
	case "STATUS_EMOJI":
		return statusEmoji[v.u.Status], true
	case "STATUS_TEXT":
		return statusText[v.u.Status], true
	}
	v.compute()
	switch name {
	case "DATA_USAGE":
		return v.usage, true
	case "DATA_LIMIT":
		return v.limit, true
	case "DATA_LEFT":
		return v.left, true
	case "DAYS_LEFT":
		return v.daysLeft, true
	case "EXPIRE_DATE":
		return v.expire, true
	case "JALALI_EXPIRE_DATE":
		return v.jalali, true
	case "TIME_LEFT":
		return v.timeLeft, true
	}
	return "", false
}

var statusEmoji = map[model.Status]string{
	model.StatusActive:   "✅",
	model.StatusExpired:  "⌛️",
	model.StatusLimited:  "🪫",
	model.StatusDisabled: "❌",
	model.StatusOnHold:   "🔌",
}

var statusText = map[model.Status]string{
	model.StatusActive:   "Active",
	model.StatusExpired:  "Expired",
	model.StatusLimited:  "Limited",
	model.StatusDisabled: "Disabled",
	model.StatusOnHold:   "On Hold",
}

func (v *vars) compute() {
	if v.ready {
		return
	}
	v.ready = true
	u := v.u
	v.usage = readableSize(u.UsedTraffic)
	v.limit, v.left = infinity, infinity
	if u.DataLimit > 0 {
		v.limit = readableSize(u.DataLimit)
		v.left = readableSize(max(u.DataLimit-u.UsedTraffic, 0))
	}
	v.daysLeft, v.expire, v.jalali, v.timeLeft = infinity, infinity, infinity, infinity
	var secondsLeft int64
	switch {
	case u.Status == model.StatusOnHold && u.OnHoldExpireDuration > 0:
		// The clock has not started: what is left is the whole duration.
		secondsLeft = u.OnHoldExpireDuration
	case u.Expire > 0:
		at := time.Unix(u.Expire, 0).UTC()
		v.expire = at.Format(time.DateOnly)
		v.jalali = jalaliDate(at)
		secondsLeft = max(u.Expire-v.now.Unix(), 0)
	default:
		return
	}
	v.daysLeft = strconv.FormatInt(secondsLeft/86400, 10)
	v.timeLeft = timeLeft(secondsLeft)
}

// readableSize formats bytes in binary units with up to two decimals:
// "0 B", "512 B", "1.5 GB".
func readableSize(n int64) string {
	if n <= 0 {
		return "0 B"
	}
	units := [...]string{"B", "KB", "MB", "GB", "TB", "PB", "EB"}
	i := 0
	f := float64(n)
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	f = math.Round(f*100) / 100
	return strconv.FormatFloat(f, 'f', -1, 64) + " " + units[i]
}

// timeLeft is a short human duration with its two largest units: "2m 3d"
// (months of 30 days), "5d 4h", "3h 20min", "45s"; "0s" when nothing is left.
func timeLeft(sec int64) string {
	if sec <= 0 {
		return "0s"
	}
	const day = 86400
	months, sec := sec/(30*day), sec%(30*day)
	days, sec := sec/day, sec%day
	hours, sec := sec/3600, sec%3600
	minutes, sec := sec/60, sec%60
	var parts []string
	add := func(n int64, unit string) {
		if n > 0 {
			parts = append(parts, strconv.FormatInt(n, 10)+unit)
		}
	}
	switch {
	case months > 0:
		add(months, "m")
		add(days, "d")
	case days > 0:
		add(days, "d")
		add(hours, "h")
	case hours > 0:
		add(hours, "h")
		add(minutes, "min")
	default:
		add(minutes, "min")
		add(sec, "s")
	}
	return strings.Join(parts, " ")
}
