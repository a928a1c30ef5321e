package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/migrate/marzban"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

func init() {
	register(command{
		path: "import marzban", summary: "bring a Marzban panel's admins, users, templates, hosts, nodes, usage history and subscription links over",
		needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var from, xrayConfig, envFile string
			var dryRun bool
			fs.StringVar(&from, "from", "", "Marzban's database: its SQLite file (default install: /var/lib/marzban/db.sqlite3) or mysql://user:password@host:port/database")
			fs.StringVar(&xrayConfig, "xray-config", "", "Marzban's Xray config (e.g. /var/lib/marzban/xray_config.json) to use as the core config; default: keep this panel's")
			fs.StringVar(&envFile, "env", "", "Marzban's .env (default install: /opt/marzban/.env): its USE_CUSTOM_JSON_* switches become the subscription settings' (a switch it does not set is off, as in Marzban)")
			fs.BoolVar(&dryRun, "dry-run", false, "check everything and print what would be imported; write nothing")
			historyDays := fs.Int("history-days", 90, "import the hourly usage history of this many days before now; 0: all of it (held in memory until written)")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 0 {
					return usagef("unexpected arguments %q", pos)
				}
				if from == "" {
					return usagef("--from is required")
				}
				if *historyDays < 0 {
					return usagef("--history-days must not be negative")
				}
				var since time.Time
				if *historyDays > 0 {
					since = time.Now().UTC().AddDate(0, 0, -*historyDays).Truncate(time.Hour)
				}
				m, err := marzban.Read(ctx, from, since)
				if err != nil {
					return err
				}
				if xrayConfig != "" {
					raw, err := os.ReadFile(xrayConfig)
					if err != nil {
						return fmt.Errorf("reading --xray-config: %w", err)
					}
					// Marzban's default config blocks geoip:private, which
					// needs a geoip.dat that nodes do not carry.
					var n int
					if m.CoreConfig, n, err = xrayconf.ExpandPrivateGeoIP(raw); err != nil {
						return fmt.Errorf("nothing imported: --xray-config: %w", err)
					}
					if n > 0 {
						m.Notes = append(m.Notes, fmt.Sprintf("core config: geoip:private in %d routing rules written out as the private address ranges (nodes carry no geoip.dat)", n))
					}
				}
				if envFile != "" {
					if m.CustomJSON, err = marzban.ReadEnvFile(envFile); err != nil {
						return fmt.Errorf("nothing imported: --env: %w", err)
					}
				}
				fmt.Fprintf(e.io.Stderr, "read %s: %s\n", from, marzban.Summary(m))
				rep, err := e.st.Migrate(ctx, m, dryRun)
				switch {
				case errors.Is(err, model.ErrNotFound):
					return errNotStarted
				case errors.Is(err, model.ErrInvalid):
					return fmt.Errorf("nothing imported: %w", describe(err, "import"))
				case errors.Is(err, model.ErrConflict):
					return fmt.Errorf("nothing imported: %w", err)
				case err != nil:
					return err
				}
				if e.json {
					return e.printJSON(rep)
				}
				verb := "imported"
				if dryRun {
					verb = "would import (dry run, nothing written)"
				}
				fmt.Fprintf(e.io.Stdout, "%s: %d admins, %d users, %d templates, %d hosts, %d nodes, %d hours of usage history",
					verb, rep.Admins, rep.Users, rep.Templates, rep.Hosts, rep.Nodes, rep.UsageHours)
				if rep.CoreConfig {
					fmt.Fprint(e.io.Stdout, ", the core config")
				}
				if rep.Secret {
					fmt.Fprint(e.io.Stdout, ", the subscription secret")
				}
				if len(rep.CustomJSON) > 0 {
					fmt.Fprintf(e.io.Stdout, ", subscription switches %s", strings.Join(rep.CustomJSON, " "))
				}
				fmt.Fprintln(e.io.Stdout)
				if len(rep.AdminsExisting) > 0 {
					fmt.Fprintf(e.io.Stdout, "admins already here, kept as they are (their Marzban users are theirs now): %s\n", strings.Join(rep.AdminsExisting, ", "))
				}
				for _, s := range rep.Skipped {
					fmt.Fprintf(e.io.Stdout, "skipped: %s\n", s)
				}
				if rep.Nodes > 0 {
					fmt.Fprintln(e.io.Stdout, "nodes come without a token: issue one for each (dashboard: New token) and start bin/node with it on that server")
				}
				if !dryRun && rep.Secret {
					fmt.Fprintln(e.io.Stdout, "restart the panel if it is running: it signs and checks subscription links with the secret it read at start")
				}
				return nil
			}
		},
	})
}
