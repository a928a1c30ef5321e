// Package cli is the panel binary's command line for operators at the
// console: admin accounts, a user listing, subscription links and a config
// check. It reads the same flags and environment as the server
// (backend/config), opens the database directly and goes through
// backend/state like every other caller, so the server need not be running.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/config"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed
	ExitUsage = 2 // bad command line or configuration
)

// PasswordEnv is read for a password when no --password flag is given.
const PasswordEnv = "PANEL_ADMIN_PASSWORD"

// IO is what a command talks to; tests pass buffers.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// command is one leaf command, e.g. "admin create".
type command struct {
	path    string // "admin create"
	args    string // positional arguments, for the usage line
	summary string
	// flags declares the command's own flags; the config flags are added by
	// Run. run gets the parsed positional arguments.
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *env, pos []string) error
	// needsStore opens the database before run.
	needsStore bool
}

var commands []command

func register(c command) { commands = append(commands, c) }

// IsCommand reports whether name starts a CLI command; main runs the server
// for anything else.
func IsCommand(name string) bool {
	for _, c := range commands {
		if first, _, _ := strings.Cut(c.path, " "); first == name {
			return true
		}
	}
	return name == "help"
}

// env is a running command's context.
type env struct {
	io   IO
	cfg  config.Config
	json bool
	st   *state.State
	log  *slog.Logger
}

// usageError is a bad command line: exit code 2 and the usage text.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// Run executes the command in args (without the program name) and returns
// the process exit code.
func Run(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(io.Stdout)
		return ExitOK
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		fmt.Fprintf(io.Stderr, "panel: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		printUsage(io.Stderr)
		return ExitUsage
	}
	err := runCommand(ctx, cmd, rest, io)
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(io.Stderr, "panel %s: %v\nusage: panel %s %s [flags]\n", cmd.path, err, cmd.path, cmd.args)
		return ExitUsage
	default:
		fmt.Fprintf(io.Stderr, "panel %s: %v\n", cmd.path, err)
		return ExitError
	}
}

func lookup(args []string) (command, []string, bool) {
	for _, c := range commands {
		words := strings.Fields(c.path)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.path {
			return c, args[len(words):], true
		}
	}
	return command{}, nil, false
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: panel [server flags]            run the panel")
	fmt.Fprintln(w, "       panel <command> [flags]          run one command and exit")
	fmt.Fprintln(w, "\ncommands:")
	sorted := append([]command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].path < sorted[j].path })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-40s %s\n", c.path+" "+c.args, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes the server's flags and environment (--data-dir, DATABASE_URL, ...)")
	fmt.Fprintln(w, "and --json for machine-readable output. Run 'panel <command> -h' for its flags.")
}

func runCommand(ctx context.Context, cmd command, args []string, io IO) error {
	fs := flag.NewFlagSet("panel "+cmd.path, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	e := &env{io: io}
	fs.BoolVar(&e.json, "json", false, "print JSON instead of a table")
	run := cmd.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(io.Stderr, "usage: panel %s %s [flags]\n\n%s\n\nflags:\n", cmd.path, cmd.args, cmd.summary)
		fs.PrintDefaults()
		fmt.Fprintln(io.Stderr, "\nand the server's flags and environment (see panel -h)")
	}

	own, cfgArgs, pos, err := splitArgs(args, fs, io.Getenv)
	if err != nil {
		return usagef("%v", err)
	}
	if err := fs.Parse(own); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	cfg, err := config.Parse(cfgArgs, io.Getenv, io.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("configuration: %v", err)
	}
	e.cfg = cfg
	e.log = slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cmd.needsStore {
		// Nothing the CLI does needs the feed at once: a change it commits
		// sits in the outbox, and the server's pump publishes it.
		fd := feed.NewMemory(16)
		defer fd.Close()
		st, err := state.Open(ctx, cfg.DatabaseURL, cfg.DataDir, fd, e.log, nil)
		if err != nil {
			return fmt.Errorf("opening database: %w", err)
		}
		defer st.Close()
		e.st = st
		// What the command changes is logged as the CLI's (after Open:
		// the migrations are not a change to log).
		ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.KindCLI, Name: "cli"})
		ctx = audit.WithOperation(ctx, &audit.Operation{Action: "cli " + cmd.path, Target: strings.Join(pos, " ")})
	}
	return run(ctx, e, pos)
}

// splitArgs sorts the command line into the command's own flags, the
// server's config flags and positional arguments, so that both may be
// given in any order around the positionals. Whether a config flag takes
// a value is asked of config.Parse itself, so this never drifts from it.
func splitArgs(args []string, own *flag.FlagSet, getenv func(string) string) (ownArgs, cfgArgs, pos []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			ownArgs = append(ownArgs, a)
			continue
		}
		if f := own.Lookup(name); f != nil {
			ownArgs = append(ownArgs, a)
			if !hasValue && !isBoolFlag(f) && i+1 < len(args) {
				ownArgs = append(ownArgs, args[i+1])
				i++
			}
			continue
		}
		takes, known := configFlagTakesValue(name, getenv)
		if !known {
			return nil, nil, nil, fmt.Errorf("unknown flag %s", a)
		}
		cfgArgs = append(cfgArgs, a)
		if !hasValue && takes && i+1 < len(args) {
			cfgArgs = append(cfgArgs, args[i+1])
			i++
		}
	}
	return ownArgs, cfgArgs, pos, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// configFlagTakesValue asks config.Parse about one flag given bare: a flag
// that needs a value says so, an unknown one says that.
func configFlagTakesValue(name string, getenv func(string) string) (takes, known bool) {
	_, err := config.Parse([]string{"-" + name}, getenv, io.Discard)
	if err == nil {
		return false, true
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "flag needs an argument"):
		return true, true
	case strings.Contains(msg, "flag provided but not defined"):
		return false, false
	}
	// Parsed, then failed validation (or a bool flag's own complaint): it
	// exists and takes no separate value.
	return false, true
}

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.io.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// describe turns model sentinels into what an operator needs to read; the
// wrapped chain is for logs, not for a console.
func describe(err error, what string) error {
	switch {
	case errors.Is(err, model.ErrNotFound):
		return fmt.Errorf("%s not found", what)
	case errors.Is(err, model.ErrConflict):
		return fmt.Errorf("%s already exists", what)
	case errors.Is(err, model.ErrForbidden):
		return fmt.Errorf("%s: not allowed", what)
	case errors.Is(err, model.ErrInvalid):
		msg := err.Error()
		if i := strings.Index(msg, model.ErrInvalid.Error()+": "); i >= 0 {
			msg = msg[i+len(model.ErrInvalid.Error())+2:]
		}
		return errors.New(msg)
	}
	return err
}

// errNotStarted explains a database the server never bootstrapped.
var errNotStarted = errors.New("the panel has not been started on this database yet (no core config); start it once first")
