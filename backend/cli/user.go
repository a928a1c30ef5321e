package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
)

// userView is a user as `user list` prints it: the fields an operator scans
// for, not the credentials.
type userView struct {
	Username    string       `json:"username"`
	Status      model.Status `json:"status"`
	UsedTraffic int64        `json:"used_traffic"`
	DataLimit   int64        `json:"data_limit"`
	Expire      int64        `json:"expire"`
	Admin       string       `json:"admin"`
	Note        string       `json:"note"`
}

// maxListPage bounds one listing; --offset pages through more.
const maxListPage = 10000

func init() {
	register(command{
		path: "user list", summary: "list users", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var (
				f      model.UserFilter
				status string
				admin  string
			)
			fs.IntVar(&f.Offset, "offset", 0, "users to skip")
			fs.IntVar(&f.Limit, "limit", 100, fmt.Sprintf("at most this many (at most %d)", maxListPage))
			fs.StringVar(&f.Search, "search", "", "substring of username or note")
			fs.StringVar(&status, "status", "", "active, disabled, limited, expired or on_hold")
			fs.StringVar(&admin, "admin", "", "only users of this admin")
			fs.StringVar(&f.Sort, "sort", "", "username, used_traffic, data_limit, expire or created_at; prefix - for descending")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 0 {
					return usagef("unexpected arguments %q", pos)
				}
				if f.Offset < 0 || f.Limit <= 0 || f.Limit > maxListPage {
					return usagef("--offset must not be negative and --limit must be 1 to %d", maxListPage)
				}
				if status != "" {
					f.Status = model.Status(status)
					if !f.Status.Valid() {
						return usagef("--status %q: want active, disabled, limited, expired or on_hold", status)
					}
				}
				if s := strings.TrimPrefix(f.Sort, "-"); f.Sort != "" && s != "username" && s != "used_traffic" && s != "data_limit" && s != "expire" && s != "created_at" {
					return usagef("--sort %q: want username, used_traffic, data_limit, expire or created_at, optionally with a - prefix", f.Sort)
				}
				if admin != "" {
					a, err := e.st.AdminByUsername(ctx, admin)
					if err != nil {
						return describe(err, "admin "+strconv.Quote(admin))
					}
					f.AdminIDs = []int64{a.ID}
				}
				users, total, err := e.st.ListUsers(ctx, nil, f)
				if errors.Is(err, model.ErrNotFound) {
					return errNotStarted
				}
				if err != nil {
					return err
				}
				views := make([]userView, len(users))
				for i, u := range users {
					views[i] = userView{Username: u.Username, Status: u.Status, UsedTraffic: u.UsedTraffic,
						DataLimit: u.DataLimit, Expire: u.Expire, Admin: u.AdminUsername, Note: u.Note}
				}
				if e.json {
					return e.printJSON(struct {
						Users []userView `json:"users"`
						Total int        `json:"total"`
					}{views, total})
				}
				tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USERNAME\tSTATUS\tUSED\tLIMIT\tEXPIRE\tADMIN")
				for _, v := range views {
					limit, expire, owner := "unlimited", "never", v.Admin
					if v.DataLimit > 0 {
						limit = formatBytes(v.DataLimit)
					}
					if v.Expire > 0 {
						expire = time.Unix(v.Expire, 0).UTC().Format("2006-01-02 15:04")
					}
					if owner == "" {
						owner = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Username, v.Status, formatBytes(v.UsedTraffic), limit, expire, owner)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(e.io.Stdout, "%d of %d users\n", len(views), total)
				return nil
			}
		},
	})

	register(command{
		path: "subscription get-link", args: "<username>", summary: "print a user's subscription URL", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				name := strings.ToLower(pos[0])
				u, err := e.st.User(ctx, nil, name)
				if err != nil {
					return describe(err, "user "+strconv.Quote(name))
				}
				secrets, err := e.st.LoadSecrets(ctx)
				if errors.Is(err, model.ErrNotFound) {
					return errNotStarted
				}
				if err != nil {
					return err
				}
				path := "/sub/" + sub.MakeUserToken(u.Username, u.ID, sub.IssueTime(e.st.Now(), u.SubRevokedAt), secrets.Subscription)
				link := path
				if e.cfg.PublicURL != "" {
					link = strings.TrimRight(e.cfg.PublicURL, "/") + path
				} else {
					fmt.Fprintln(e.io.Stderr, "note: no --public-url (PANEL_PUBLIC_URL) is set; prefix the path with the panel's address")
				}
				if e.json {
					return e.printJSON(map[string]string{"username": u.Username, "subscription_url": link})
				}
				fmt.Fprintln(e.io.Stdout, link)
				return nil
			}
		},
	})
}

// formatBytes prints a byte count with a binary unit.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
