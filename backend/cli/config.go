package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/outpost-panel/outpost/backend/state"
)

func init() {
	register(command{
		path: "config check", summary: "validate the flags and environment, and with --file an Xray config",
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var file string
			fs.StringVar(&file, "file", "", "an Xray config (JSON) to validate as PUT /api/core/config would")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 0 {
					return usagef("unexpected arguments %q", pos)
				}
				// The configuration was parsed and validated before we got
				// here; a problem there is a usage error with every message.
				result := map[string]any{"config": "ok"}
				if file != "" {
					raw, err := os.ReadFile(file)
					if err != nil {
						return fmt.Errorf("reading %s: %w", file, err)
					}
					if _, err := state.ValidateCoreConfig(raw); err != nil {
						return fmt.Errorf("xray config %s: %w", file, err)
					}
					result["xray_config"] = "ok"
				}
				if e.json {
					return e.printJSON(result)
				}
				fmt.Fprintln(e.io.Stdout, "configuration OK")
				if file != "" {
					fmt.Fprintf(e.io.Stdout, "xray config %s OK\n", file)
				}
				return nil
			}
		},
	})
}
