package xraycore

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	applog "github.com/xtls/xray-core/app/log"
	"github.com/xtls/xray-core/core"
	"google.golang.org/protobuf/proto"
)

// globalsMu serializes the creation of core instances in this process and
// guards liveInstance. core.New points Xray's process-wide state (the system
// dialer's DNS and outbounds) at the instance it creates; whoever creates
// one that does not become the live core puts that state back to
// liveInstance before letting go. Engine.restart takes it while holding
// Engine.mu (order: Engine.mu, then globalsMu); Check takes only globalsMu.
var (
	globalsMu    sync.Mutex
	liveInstance *core.Instance // the core most recently started by an Engine
)

// Check is for a process that runs no core of its own, the panel: it
// refuses everything a node's engine would refuse before serving a config.
// Beyond Validate (Xray's loader and builder, unique inbound tags), it
// creates the core instance exactly as the engine does (core.New: every app
// and every outbound handler, so a duplicate outbound tag is refused) and
// throws it away without starting it: no port is bound. The one part that
// core.New does by opening files, Xray's log app, is checked without
// opening anything: a log file's directory must exist. Inbounds are not
// created: on a node, an inbound that cannot start is reported and does not
// stop the others. The error wraps ErrInvalidConfig.
func Check(configJSON []byte) error {
	cfg, err := prepare(configJSON)
	if err != nil {
		return err
	}
	base := proto.Clone(cfg.base).(*core.Config)
	apps := base.App[:0:0]
	for _, app := range base.App {
		settings, err := app.GetInstance()
		if err != nil {
			return invalid("%v", err)
		}
		if lc, ok := settings.(*applog.Config); ok {
			if err := checkLogFile("log.access", lc.AccessLogType, lc.AccessLogPath); err != nil {
				return err
			}
			if err := checkLogFile("log.error", lc.ErrorLogType, lc.ErrorLogPath); err != nil {
				return err
			}
			continue // the log app opens its files in core.New
		}
		apps = append(apps, app)
	}
	base.App = apps
	return createAndDiscard(base)
}

// checkLogFile is what Xray's file logger needs to open path for
// appending: a directory to create it in.
func checkLogFile(field string, kind applog.LogType, path string) error {
	if kind != applog.LogType_File {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return invalid("%s %q: directory %s: %v", field, path, dir, err)
	}
	if !fi.IsDir() {
		return invalid("%s %q: %s is not a directory", field, path, dir)
	}
	return nil
}

func createAndDiscard(base *core.Config) error {
	globalsMu.Lock()
	defer globalsMu.Unlock()
	inst, err := core.New(base)
	defer restoreGlobalsTo(liveInstance)
	if err != nil {
		return invalid("%v", err)
	}
	if err := inst.Close(); err != nil {
		return fmt.Errorf("closing a checked xray core: %w", err)
	}
	return nil
}
