package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
)

// Account security at the console (issue 13): turning off an admin's
// second factor (any admin, sudo ones included, as admin update may) and
// minting API keys for scripts.

func init() {
	register(command{
		path: "admin reset-2fa", args: "<username>", summary: "turn off an admin's two-factor sign-in (lost authenticator and recovery codes)", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one username")
				}
				a, err := e.st.ResetTOTP(ctx, nil, pos[0])
				if err != nil {
					return describe(err, "admin "+pos[0])
				}
				fmt.Fprintf(e.io.Stdout, "two-factor sign-in of %s is off\n", a.Username)
				return nil
			}
		},
	})

	register(command{
		path: "apikey create", args: "<admin>", summary: "create an API key for an admin; prints the key once", needsStore: true,
		flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var name, scopes string
			var expiresIn time.Duration
			fs.StringVar(&name, "name", "", "the key's name (required)")
			fs.StringVar(&scopes, "scopes", model.ScopeRead, "comma-separated: "+strings.Join(model.Scopes, ", "))
			fs.DurationVar(&expiresIn, "expires-in", 0, "lifetime, e.g. 720h (0: never expires)")
			return func(ctx context.Context, e *env, pos []string) error {
				if len(pos) != 1 {
					return usagef("expected one admin username")
				}
				if name == "" || len(name) > model.MaxAPIKeyName {
					return usagef("--name: 1 to %d characters", model.MaxAPIKeyName)
				}
				if expiresIn < 0 {
					return usagef("--expires-in: must not be negative")
				}
				owner, err := e.st.AdminByUsername(ctx, pos[0])
				if err != nil {
					return describe(err, "admin "+pos[0])
				}
				sc, err := model.CheckScopes(strings.Split(scopes, ","), owner.IsSudo)
				if err != nil {
					return describe(err, "api key")
				}
				key, prefix, hash, err := auth.NewAPIKey()
				if err != nil {
					return err
				}
				now := e.st.Now().UTC().Truncate(time.Second)
				k := model.APIKey{AdminID: owner.ID, Name: name, Prefix: prefix, KeyHash: hash, Scopes: sc, CreatedAt: now}
				if expiresIn > 0 {
					exp := now.Add(expiresIn)
					k.ExpiresAt = &exp
				}
				if err := e.st.CreateAPIKey(ctx, &k); err != nil {
					return describe(err, "api key")
				}
				if e.json {
					return e.printJSON(struct {
						model.APIKey
						Key string `json:"key"`
					}{k, key})
				}
				fmt.Fprintln(e.io.Stdout, key)
				return nil
			}
		},
	})
}
