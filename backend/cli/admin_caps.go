package cli

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// An admin's sign-in sessions and reseller caps at the console (issue 13):
// what a sudo admin does in the dashboard's admin drawer, for the operator
// who has only a shell (a locked-out panel, a script).

func init() {
	register(command{
		path: "admin sessions", args: "<username>", summary: "list an admin's sign-in sessions (browser sign-ins; API keys are listed by apikey commands)", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				a, err := adminNamed(ctx, e, pos[0])
				if err != nil {
					return err
				}
				list, err := e.st.Sessions(ctx, a)
				if err != nil {
					return err
				}
				if e.json {
					if list == nil {
						list = []model.AdminSession{}
					}
					return e.printJSON(list)
				}
				if len(list) == 0 {
					fmt.Fprintf(e.io.Stdout, "%s has no live sessions\n", a.Username)
					return nil
				}
				tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSIGNED IN\tEXPIRES\tADDRESS\tUSER AGENT")
				for _, s := range list {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.ID, s.CreatedAt.UTC().Format(time.DateTime), s.ExpiresAt.UTC().Format(time.DateTime),
						s.Address, truncateText(s.UserAgent, 60))
				}
				return tw.Flush()
			}
		},
	})

	register(command{
		path: "admin end-sessions", args: "<username>", summary: "sign an admin out everywhere: end every sign-in session (its API keys stay; see apikey)", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				a, err := adminNamed(ctx, e, pos[0])
				if err != nil {
					return err
				}
				ended, err := e.st.EndAllSessions(ctx, a)
				if err != nil {
					return err
				}
				if e.json {
					if ended == nil {
						ended = []int64{}
					}
					return e.printJSON(map[string]any{"username": a.Username, "ended": ended})
				}
				fmt.Fprintf(e.io.Stdout, "ended %d sessions of %s\n", len(ended), a.Username)
				return nil
			}
		},
	})

	register(command{
		path: "admin caps", args: "<username>", needsStore: true,
		summary: "set a reseller's caps: --max-users, --max-data-limit, --max-traffic (\"none\" clears one), --allow-unlimited; with no flag, print them",
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var users, dataLimit, traffic capFlag
			var unlimited bool
			users.count = true
			fs.Var(&users, "max-users", "most users it may own (none: no cap)")
			fs.Var(&dataLimit, "max-data-limit", "most sum of its users' data limits: bytes or 500GB, 1.5TiB (none: no cap)")
			fs.Var(&traffic, "max-traffic", "most traffic of its users since its last usage reset: bytes or 500GB, 1.5TiB (none: no cap)")
			fs.BoolVar(&unlimited, "allow-unlimited", true, "whether its users may be unlimited (no data limit, or no expiry)")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				var ch state.AdminChanges
				for _, f := range []struct {
					flag *capFlag
					set  *bool
					dst  **int64
				}{{&users, &ch.SetCaps.MaxUsers, &ch.Caps.MaxUsers}, {&dataLimit, &ch.SetCaps.MaxDataLimit, &ch.Caps.MaxDataLimit},
					{&traffic, &ch.SetCaps.MaxUsedTraffic, &ch.Caps.MaxUsedTraffic}} {
					if f.flag.set {
						*f.set, *f.dst = true, f.flag.v
					}
				}
				fs.Visit(func(f *flag.Flag) {
					if f.Name == "allow-unlimited" {
						ch.SetCaps.AllowUnlimited, ch.Caps.AllowUnlimited = true, &unlimited
					}
				})
				a, err := adminNamed(ctx, e, pos[0])
				if err != nil {
					return err
				}
				if ch.SetCaps != (state.CapFields{}) {
					// No actor: the operator at the console may edit any admin.
					if a, err = e.st.ModifyAdmin(ctx, nil, pos[0], ch); err != nil {
						return describe(err, "admin "+strconv.Quote(pos[0]))
					}
				}
				w, err := e.st.AdminWithCaps(ctx, a)
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(w)
				}
				verb := "caps of"
				if ch.SetCaps != (state.CapFields{}) {
					verb = "set the caps of"
				}
				fmt.Fprintf(e.io.Stdout, "%s %s", verb, a.Username)
				if a.IsSudo {
					fmt.Fprint(e.io.Stdout, " (a sudo admin: caps do not apply while it is sudo)")
				}
				fmt.Fprintln(e.io.Stdout)
				tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CAP\tLIMIT\tIN USE")
				capLine := func(name string, v *int64, use int64, format func(int64) string) {
					limit := "none"
					if v != nil {
						limit = format(*v)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", name, limit, format(use))
				}
				count := func(n int64) string { return strconv.FormatInt(n, 10) }
				capLine("max users", w.MaxUsers, w.CapsUse.Users, count)
				capLine("max data limit", w.MaxDataLimit, w.CapsUse.DataLimit, formatBytes)
				capLine("max traffic", w.MaxUsedTraffic, w.CapsUse.UsedTraffic, formatBytes)
				allowed := w.AllowUnlimited == nil || *w.AllowUnlimited
				fmt.Fprintf(tw, "allow unlimited\t%s\t%d unlimited users\n", yesNo(allowed), w.CapsUse.UnlimitedUsers)
				return tw.Flush()
			}
		},
	})
}

// capFlag is a cap's flag: a number (of users, or of bytes with an
// optional unit) or "none", which clears the cap.
type capFlag struct {
	v     *int64
	set   bool
	count bool // a number of users: no units
}

func (c *capFlag) String() string {
	if c == nil || c.v == nil {
		return ""
	}
	return strconv.FormatInt(*c.v, 10)
}

func (c *capFlag) Set(s string) error {
	c.set = true
	if strings.EqualFold(s, "none") {
		c.v = nil
		return nil
	}
	var n int64
	var err error
	if c.count {
		if n, err = strconv.ParseInt(s, 10, 64); err != nil || n < 0 {
			return fmt.Errorf("not a number of users: %q (or none)", s)
		}
	} else if n, err = parseBytes(s); err != nil {
		return err
	}
	c.v = &n
	return nil
}

// byteUnits are the units parseBytes knows: decimal (GB) and binary (GiB).
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40}, {"pib", 1 << 50},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"pb", 1e15}, {"b", 1},
}

// parseBytes reads "1073741824", "500GB", "1.5 TiB". The result is range
// checked where caps are set (model's cap_bytes); here only what no int64
// holds is refused.
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && mult == 1 {
		if n < 0 {
			return 0, fmt.Errorf("not a number of bytes: %q", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number of bytes: %q (e.g. 1073741824, 500GB, 1.5TiB, or none)", s)
	}
	v := f * mult
	if v >= float64(model.MaxBytes) {
		return 0, fmt.Errorf("%q is more than 2^62 bytes", s)
	}
	return int64(math.Round(v)), nil
}

func truncateText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// adminNamed loads the admin a command names, its error fit to print.
func adminNamed(ctx context.Context, e *env, name string) (*model.Admin, error) {
	a, err := e.st.AdminByUsername(ctx, name)
	if err != nil {
		return nil, describe(err, "admin "+strconv.Quote(name))
	}
	return a, nil
}
