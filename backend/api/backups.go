package api

// Backups from the API (sudo only): a fresh backup streamed as a download,
// and the scheduled backups of --backup-dir listed, downloaded and taken on
// demand. A backup holds every secret of the panel (the JWT and
// subscription secrets, password and node token hashes), so the routes
// that hand one out need an API key with the "all" scope. Restoring stays
// on the console (panel restore --from): it needs an empty data dir or
// database and a stopped panel.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/model"
)

// backupStallTimeout is how long a backup download may make no progress
// before the connection is dropped. It replaces the server's 30-second
// write timeout, which bounds a whole response, for these routes only: a
// 100,000-user backup is about 23 MB, minutes on a slow link.
const backupStallTimeout = 60 * time.Second

// backupMaxDuration bounds one streamed backup however it progresses.
const backupMaxDuration = 2 * time.Hour

// Bounds of a passphrase given in a request.
const (
	minBackupPassphrase = 8
	maxBackupPassphrase = 1024
)

func (s *server) backupRoutes() []route {
	return []route{
		{Method: "POST", Path: "/api/system/backup", Auth: authSudo, Scope: model.ScopeAll, Handler: s.streamBackup, Doc: &routeDoc{
			Tag: "system", Body: typeOf[backupBody](), ResponseKind: kindBinary, Errors: []int{422},
			Summary: "A fresh, consistent backup of the database, its secrets and the data dir's templates, streamed as a download (outpost-<time>.backup). " +
				"Encrypted with the passphrase in the body, else with the configured --backup-passphrase, else plain. " +
				"Restore it on the console: panel restore --from FILE into an empty data dir or database. An API key needs the \"all\" scope"}},
		{Method: "GET", Path: "/api/system/backups", Auth: authSudo, Handler: s.listBackups, Doc: &routeDoc{
			Tag: "system", Response: typeOf[backupListJSON](),
			Summary: "The scheduled backups in --backup-dir, newest first, and the schedule's status as this replica sees it (enabled false when no --backup-dir is set)"}},
		{Method: "POST", Path: "/api/system/backups/run", Auth: authSudo, Scope: model.ScopeAll, Handler: s.runBackup, Doc: &routeDoc{
			Tag: "system", Response: typeOf[backupRunJSON](), Errors: []int{409},
			Summary: "Take a scheduled backup now, on the replica that serves the request (whether or not it holds the backup lease), into its --backup-dir; old ones past --backup-keep are deleted and the file goes to Telegram when --backup-telegram is set. 409 when no --backup-dir is set"}},
		{Method: "GET", Path: "/api/system/backups/:name", Auth: authSudo, Scope: model.ScopeAll, Handler: s.downloadBackup, Doc: &routeDoc{
			Tag: "system", ResponseKind: kindBinary, Errors: []int{400, 404},
			Summary: "Download one scheduled backup by its name (outpost-YYYYMMDDTHHMMSSZ.backup; any other name is a 400). An API key needs the \"all\" scope"}},
	}
}

// backupBody is the optional request of POST /api/system/backup.
type backupBody struct {
	// Passphrase encrypts this download (8 to 1024 characters); absent or
	// empty uses the configured --backup-passphrase, if any.
	Passphrase string `json:"passphrase"`
}

// backupListJSON is GET /api/system/backups.
type backupListJSON struct {
	// Enabled: scheduled backups are configured (--backup-dir).
	Enabled bool                   `json:"enabled"`
	Backups []backup.ScheduledFile `json:"backups"`
	Status  *backup.ScheduleStatus `json:"status"` // null when not enabled
	Restore backupRestoreJS        `json:"restore"`
}

// backupRestoreJS says how a backup is restored, for the dashboard to show.
type backupRestoreJS struct {
	// Command restores a downloaded file into the panel's data dir or
	// database (which must be empty; the panel stopped).
	Command string `json:"command"`
	// Engine is the database the panel runs on: sqlite or postgres.
	Engine string `json:"engine"`
}

// backupRunJSON is POST /api/system/backups/run.
type backupRunJSON struct {
	Backup backup.ScheduledFile `json:"backup"`
	// TelegramError: the file was taken but could not be sent to Telegram.
	TelegramError string `json:"telegram_error"`
}

var errBackupsOff = &publicError{err: model.ErrConflict, detail: "Scheduled backups are off: start the panel with --backup-dir (PANEL_BACKUP_DIR)"}

func (s *server) listBackups(c *fiber.Ctx) error {
	out := backupListJSON{Backups: []backup.ScheduledFile{}, Restore: s.restoreHint()}
	sch := s.opts.Backups
	if sch == nil {
		return c.JSON(out)
	}
	files, err := sch.List()
	if err != nil {
		return err
	}
	st, err := sch.Status()
	if err != nil {
		return err
	}
	out.Enabled, out.Backups, out.Status = true, files, &st
	return c.JSON(out)
}

func (s *server) restoreHint() backupRestoreJS {
	if s.st.Engine() == "postgres" {
		return backupRestoreJS{Engine: "postgres",
			Command: "DATABASE_URL=postgres://… panel restore --from FILE  # into an empty database, the panel stopped"}
	}
	dir := s.opts.DataDir
	if dir == "" {
		dir = "DATA_DIR"
	}
	return backupRestoreJS{Engine: "sqlite",
		Command: "panel restore --from FILE --data-dir " + shellQuote(dir) + "  # into an empty data dir, the panel stopped"}
}

func (s *server) runBackup(c *fiber.Ctx) error {
	sch := s.opts.Backups
	if sch == nil {
		return errBackupsOff
	}
	// The backup outlives nothing: the request waits for it (a 100,000-user
	// panel takes seconds), so the request's context is the right one.
	f, sendErr, err := sch.RunNow(c.UserContext())
	if errors.Is(err, backup.ErrTooSoon) {
		return &publicError{err: model.ErrConflict, detail: err.Error()}
	}
	if err != nil {
		return err
	}
	out := backupRunJSON{Backup: f}
	if sendErr != nil {
		out.TelegramError = sendErr.Error()
	}
	s.log.Info("backup taken on request", "file", f.Name, "by", adminOf(c).Username)
	return c.JSON(out)
}

func (s *server) downloadBackup(c *fiber.Ctx) error {
	sch := s.opts.Backups
	if sch == nil {
		return &publicError{err: model.ErrNotFound, detail: "Scheduled backups are off: no backup directory"}
	}
	name := c.Params("name")
	f, size, err := sch.Open(name)
	switch {
	case errors.Is(err, backup.ErrBadName):
		return &publicError{err: model.ErrInvalid, detail: err.Error()}
	case errors.Is(err, backup.ErrNoSuchBackup):
		return &publicError{err: model.ErrNotFound, detail: "No backup named " + name}
	case err != nil:
		return err
	}
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	s.log.Info("backup downloaded", "file", name, "by", adminOf(c).Username)
	// fasthttp reads the file as it sends it and closes it at the end.
	c.Context().SetBodyStream(&stallReader{r: f, c: f, conn: c.Context().Conn()}, int(size))
	return nil
}

func (s *server) streamBackup(c *fiber.Ctx) error {
	var body backupBody
	if len(c.Body()) > 0 {
		if err := decodeJSON(c.Body(), &body); err != nil {
			return err
		}
	}
	passphrase := s.opts.BackupPassphrase
	if body.Passphrase != "" {
		if n := len([]rune(body.Passphrase)); n < minBackupPassphrase || n > maxBackupPassphrase {
			return schemaErrorf("passphrase: 8 to 1024 characters")
		}
		passphrase = body.Passphrase
	}
	name := "outpost-" + s.now().UTC().Format("20060102T150405Z") + ".backup"
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	st, dataDir, log, conn := s.st, s.opts.DataDir, s.log, c.Context().Conn()
	by := adminOf(c).Username
	// The body is written as the database is read: nothing holds the whole
	// backup. The stream outlives the handler, so it has a context of its
	// own; a client that goes away fails the next write, which ends the
	// dump and its read transaction.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), backupMaxDuration)
		defer cancel()
		began := time.Now()
		out := &stallWriter{w: w, conn: conn}
		m, err := backup.Write(ctx, st, out, backup.Options{Passphrase: passphrase, DataDir: dataDir})
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			// The status is sent: the download ends short, and a restore
			// refuses the cut file (its manifest is missing).
			log.Warn("streaming a backup", "by", by, "err", err)
			return
		}
		log.Info("backup downloaded", "by", by, "users", m.Rows("users"), "encrypted", m.Encrypted,
			"took", time.Since(began).Round(time.Millisecond))
	})
	return nil
}

// stallWriter pushes the connection's write deadline forward as the
// backup is written, so a download fails only when it stalls for
// backupStallTimeout, not when it takes longer than the server's write
// timeout. It flushes every MiB so the client sees progress.
type stallWriter struct {
	w       *bufio.Writer
	conn    net.Conn
	pending int
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if s.conn != nil {
		_ = s.conn.SetWriteDeadline(time.Now().Add(backupStallTimeout))
	}
	n, err := s.w.Write(p)
	if s.pending += n; err == nil && s.pending >= 1<<20 {
		s.pending, err = 0, s.w.Flush()
	}
	return n, err
}

// stallReader is stallWriter's twin for a file fasthttp copies out.
type stallReader struct {
	r    io.Reader
	c    io.Closer
	conn net.Conn
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.conn != nil {
		_ = s.conn.SetWriteDeadline(time.Now().Add(backupStallTimeout))
	}
	return s.r.Read(p)
}

func (s *stallReader) Close() error { return s.c.Close() }

// shellQuote quotes a path for a POSIX shell when it needs it.
func shellQuote(p string) string {
	for _, r := range p {
		if !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return p
}
