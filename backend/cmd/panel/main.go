// Command panel runs the Outpost control plane: REST API, dashboard,
// subscription server and node hub in one process. Given a command first
// (panel admin create ..., panel config check, ...) it runs that command
// against the same configuration and database instead, and exits.
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
	"time"

	"github.com/outpost-panel/outpost/backend/app"
	"github.com/outpost-panel/outpost/backend/cli"
	"github.com/outpost-panel/outpost/backend/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && cli.IsCommand(os.Args[1]) {
		code := cli.Run(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
		stop()
		os.Exit(code)
	}
	cfg, err := config.Parse(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "\nRun 'panel help' for the commands (admin, user, subscription, config, backup, restore).")
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
	go func() {
		// SIGTERM drains (app.Run); a second signal, or the hard cap,
		// ends the process whatever is left.
		<-ctx.Done()
		stop()
		time.Sleep(app.ShutdownCap)
		log.Error("shutdown took longer than the hard cap; exiting", "cap", app.ShutdownCap)
		os.Exit(1)
	}()
	if err := app.Run(ctx, cfg, log, os.Stdout); err != nil {
		log.Error("panel stopped", "err", err)
		os.Exit(1)
	}
}
