// Command panel runs the Outpost control plane: REST API, dashboard,
// subscription server and node hub in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/outpost-panel/outpost/backend/app"
	"github.com/outpost-panel/outpost/backend/config"
)

func main() {
	cfg, err := config.Parse(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "panel: configuration:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if os.Getenv("PANEL_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log, os.Stdout); err != nil {
		log.Error("panel stopped", "err", err)
		os.Exit(1)
	}
}
