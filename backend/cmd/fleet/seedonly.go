package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/fleet"
	"github.com/outpost-panel/outpost/backend/state"
)

// seedSummary is what --seed-only prints on stdout, one JSON object.
type seedSummary struct {
	DataDir  string   `json:"data_dir"`
	Users    int      `json:"users"`
	Disabled int      `json:"disabled"`
	Tokens   []string `json:"tokens"`
	Revision int64    `json:"revision"`
	Seconds  float64  `json:"seconds"`
}

// seedOnly seeds a SQLite data dir for another harness to start a panel
// on (web/bench/dashboard.mjs): the same bulk import as the fleet
// benchmark, and with --mix the dashboard's mix of users (fleet.Mix).
func seedOnly(o options) error {
	if o.workDir == "" {
		return errors.New("--seed-only needs --work-dir")
	}
	ctx := context.Background()
	dataDir := filepath.Join(o.workDir, "data")
	if err := os.MkdirAll(o.workDir, 0o700); err != nil {
		return err
	}
	t0 := time.Now()
	var vary []func(int, *state.UserInput)
	if o.mix {
		vary = append(vary, fleet.Mix(t0))
	}
	seeded, err := fleet.Seed(ctx, "", dataDir, sudoUser, o.users, o.nodes, slog.New(slog.DiscardHandler), vary...)
	if err != nil {
		return err
	}
	out := seedSummary{DataDir: dataDir, Users: o.users, Tokens: seeded.Tokens, Revision: seeded.Revision}
	if o.mix {
		if out.Disabled, err = fleet.DisableEvery(ctx, "", dataDir, sudoUser, o.users, fleet.MixDisabledEvery); err != nil {
			return err
		}
	}
	out.Seconds = time.Since(t0).Seconds()
	return json.NewEncoder(os.Stdout).Encode(out)
}
