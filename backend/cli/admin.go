package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// adminView is an admin as the CLI prints it (the API's fields).
type adminView struct {
	Username       string  `json:"username"`
	IsSudo         bool    `json:"is_sudo"`
	TelegramID     *int64  `json:"telegram_id"`
	DiscordWebhook *string `json:"discord_webhook"`
	UsersUsage     int64   `json:"users_usage"`
}

func viewAdmin(a *model.Admin) adminView {
	return adminView{Username: a.Username, IsSudo: a.IsSudo, TelegramID: a.TelegramID, DiscordWebhook: a.DiscordWebhook, UsersUsage: a.UsersUsage}
}

func (e *env) printAdmins(admins []model.Admin) error {
	if e.json {
		out := make([]adminView, len(admins))
		for i := range admins {
			out[i] = viewAdmin(&admins[i])
		}
		return e.printJSON(out)
	}
	tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSUDO\tUSERS USAGE\tTELEGRAM ID\tDISCORD WEBHOOK")
	for _, a := range admins {
		tg, dw := "-", "-"
		if a.TelegramID != nil {
			tg = strconv.FormatInt(*a.TelegramID, 10)
		}
		if a.DiscordWebhook != nil {
			dw = *a.DiscordWebhook
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Username, yesNo(a.IsSudo), formatBytes(a.UsersUsage), tg, dw)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// optionalInt64 is an int64 flag that knows whether it was given.
type optionalInt64 struct {
	v   int64
	set bool
}

func (o *optionalInt64) String() string {
	if !o.set {
		return ""
	}
	return strconv.FormatInt(o.v, 10)
}

func (o *optionalInt64) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	o.v, o.set = n, true
	return nil
}

// optionalString is a string flag that knows whether it was given.
type optionalString struct {
	v   string
	set bool
}

func (o *optionalString) String() string { return o.v }
func (o *optionalString) Set(s string) error {
	o.v, o.set = s, true
	return nil
}

// passwordFlags are the ways to hand over a password without it showing on
// screen: a flag (visible in the process list; for scripts in a trusted
// place), the environment, or stdin (prompted without echo on a terminal).
type passwordFlags struct {
	flag  optionalString
	stdin bool
}

func (p *passwordFlags) register(fs *flag.FlagSet) {
	fs.Var(&p.flag, "password", "the password (else $"+PasswordEnv+", else read from stdin)")
	fs.BoolVar(&p.stdin, "password-stdin", false, "read the password from stdin even when $"+PasswordEnv+" is set")
}

func (p *passwordFlags) read(e *env, prompt string) (string, error) {
	if p.flag.set {
		return p.flag.v, nil
	}
	if v := e.io.Getenv(PasswordEnv); v != "" && !p.stdin {
		return v, nil
	}
	return readPassword(e.io.Stdin, e.io.Stderr, prompt)
}

func init() {
	register(command{
		path: "admin create", args: "<username>", summary: "create an admin", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var (
				pw      passwordFlags
				sudo    bool
				tg      optionalInt64
				webhook optionalString
			)
			pw.register(fs)
			fs.BoolVar(&sudo, "sudo", false, "make the admin sudo")
			fs.Var(&tg, "telegram-id", "Telegram id for notifications")
			fs.Var(&webhook, "discord-webhook", "Discord webhook URL for notifications")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				password, err := pw.read(e, "Password for "+pos[0]+": ")
				if err != nil {
					return err
				}
				in := state.AdminInput{Username: pos[0], Password: password, IsSudo: sudo}
				if tg.set {
					in.TelegramID = &tg.v
				}
				if webhook.set {
					in.DiscordWebhook = &webhook.v
				}
				a, err := e.st.CreateAdmin(ctx, in)
				if err != nil {
					return describe(err, "admin "+strconv.Quote(pos[0]))
				}
				if e.json {
					return e.printJSON(viewAdmin(a))
				}
				kind := "admin"
				if a.IsSudo {
					kind = "sudo admin"
				}
				fmt.Fprintf(e.io.Stdout, "created %s %s\n", kind, a.Username)
				return nil
			}
		},
	})

	register(command{
		path: "admin list", summary: "list admins", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var offset, limit int
			var username string
			fs.IntVar(&offset, "offset", 0, "admins to skip")
			fs.IntVar(&limit, "limit", 0, "at most this many (0: all)")
			fs.StringVar(&username, "username", "", "only admins whose name contains this")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 0 {
					return usagef("unexpected arguments %q", pos)
				}
				admins, err := e.st.ListAdmins(ctx, offset, limit, username)
				if err != nil {
					return describe(err, "admin list")
				}
				return e.printAdmins(admins)
			}
		},
	})

	register(command{
		path: "admin update", args: "<username>", summary: "change an admin's password, sudo flag or contacts (any admin, sudo ones included)", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var (
				pw      passwordFlags
				reset   bool
				sudo    bool
				tg      optionalInt64
				webhook optionalString
			)
			pw.register(fs)
			fs.BoolVar(&reset, "reset-password", false, "set a new password (from --password, $"+PasswordEnv+" or stdin); ends the admin's sessions")
			fs.BoolVar(&sudo, "sudo", false, "make the admin sudo (--sudo=false: regular)")
			fs.Var(&tg, "telegram-id", "Telegram id (0 clears it)")
			fs.Var(&webhook, "discord-webhook", "Discord webhook URL (empty clears it)")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				var ch state.AdminChanges
				fs.Visit(func(f *flag.Flag) {
					if f.Name == "sudo" {
						ch.IsSudo = &sudo
					}
				})
				if reset || pw.flag.set || pw.stdin {
					password, err := pw.read(e, "New password for "+pos[0]+": ")
					if err != nil {
						return err
					}
					ch.Password = &password
				}
				if tg.set {
					ch.TelegramID = &tg.v
				}
				if webhook.set {
					ch.DiscordWebhook = &webhook.v
				}
				if ch == (state.AdminChanges{}) {
					return usagef("nothing to change: give --reset-password, --password, --sudo, --telegram-id or --discord-webhook")
				}
				// No actor: the operator at the console may edit any admin.
				a, err := e.st.ModifyAdmin(ctx, nil, pos[0], ch)
				if err != nil {
					return describe(err, "admin "+strconv.Quote(pos[0]))
				}
				if e.json {
					return e.printJSON(viewAdmin(a))
				}
				fmt.Fprintf(e.io.Stdout, "updated admin %s\n", a.Username)
				return nil
			}
		},
	})

	register(command{
		path: "admin delete", args: "<username>", summary: "delete an admin (its users remain, owned by nobody)", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				if err := e.st.DeleteAdmin(ctx, nil, pos[0]); err != nil {
					return describe(err, "admin "+strconv.Quote(pos[0]))
				}
				if e.json {
					return e.printJSON(map[string]string{"deleted": pos[0]})
				}
				fmt.Fprintf(e.io.Stdout, "deleted admin %s\n", pos[0])
				return nil
			}
		},
	})
}
