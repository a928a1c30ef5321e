package xraycore

import (
	"fmt"
	"sync/atomic"

	applog "github.com/xtls/xray-core/app/log"
	commonlog "github.com/xtls/xray-core/common/log"
)

// Xray's log app writes its error and access logs through handlers made by
// creators registered per log type (console, file, none). The creators
// below wrap Xray's own console and file handlers so that every line Xray
// logs, at the level the core config asks for, also reaches the tap, when
// one is set. The panel streams these lines to admins (Marzban's
// /api/core/logs); the tap must return at once, since Xray calls it on its
// logging path.

var logTap atomic.Pointer[func(line fmt.Stringer)]

// SetLogTap makes tap receive every line Xray logs from now on, in the
// process (there is one log app per process); nil stops it. tap must not
// block, and should render the line (String) only if it keeps it.
func SetLogTap(tap func(line fmt.Stringer)) {
	if tap == nil {
		logTap.Store(nil)
		return
	}
	logTap.Store(&tap)
}

type teeHandler struct{ next commonlog.Handler }

func (h teeHandler) Handle(msg commonlog.Message) {
	if h.next != nil {
		h.next.Handle(msg)
	}
	if tap := logTap.Load(); tap != nil {
		(*tap)(msg)
	}
}

func init() {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(applog.RegisterHandlerCreator(applog.LogType_Console, func(applog.LogType, applog.HandlerCreatorOptions) (commonlog.Handler, error) {
		return teeHandler{next: commonlog.NewLogger(commonlog.CreateStdoutLogWriter())}, nil
	}))
	must(applog.RegisterHandlerCreator(applog.LogType_File, func(_ applog.LogType, o applog.HandlerCreatorOptions) (commonlog.Handler, error) {
		w, err := commonlog.CreateFileLogWriter(o.Path)
		if err != nil {
			return nil, err
		}
		return teeHandler{next: commonlog.NewLogger(w)}, nil
	}))
}
