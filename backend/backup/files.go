package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// What the API shows of scheduled backups: the files in the directory,
// the schedule's state on this replica, and one file to download.

var (
	// ErrBadName is a name that is not a scheduled backup's
	// (outpost-YYYYMMDDTHHMMSSZ.backup): nothing else in the directory,
	// and nothing outside it, is ever opened.
	ErrBadName = errors.New("not a backup name: expected outpost-YYYYMMDDTHHMMSSZ.backup")
	// ErrNoSuchBackup is a well-formed name with no file behind it.
	ErrNoSuchBackup = errors.New("no such backup in the backup directory")
	// ErrTooSoon is a manual backup in the same second as the newest one
	// (names have a resolution of one second).
	ErrTooSoon = errors.New("a backup was taken this very second: try again in a second")
)

// ScheduledFile is one scheduled backup in the directory.
type ScheduledFile struct {
	Name      string    `json:"name"`
	Size      int64     `json:"size"`       // bytes
	CreatedAt time.Time `json:"created_at"` // from the name, UTC
	// Encrypted is read from the file's envelope (its first bytes).
	Encrypted bool `json:"encrypted"`
}

// ScheduleStatus is the schedule as this replica sees it.
type ScheduleStatus struct {
	Dir       string `json:"dir"`
	EveryS    int64  `json:"every_seconds"`
	Keep      int    `json:"keep"`
	Encrypted bool   `json:"encrypted"` // a passphrase is configured
	Telegram  bool   `json:"telegram"`  // each backup is sent to Telegram
	// Leader: this replica holds the backup lease and takes the scheduled
	// backups (it looked at the directory within the last two checks).
	Leader bool `json:"leader"`
	// NextRun is when the next scheduled backup is due: the first check
	// after the newest file is Every old (now, with no file yet).
	NextRun     time.Time  `json:"next_run"`
	LastCheck   *time.Time `json:"last_check"` // this replica's job last looked
	LastRun     *time.Time `json:"last_run"`   // a backup was last attempted here
	LastFile    string     `json:"last_file"`  // the last one taken here
	LastError   string     `json:"last_error"` // of the newest attempt here; "" when it went well
	LastErrorAt *time.Time `json:"last_error_at"`
}

// ValidName reports whether name is a scheduled backup's file name.
func ValidName(name string) bool {
	return len(name) <= 64 && fileRe.MatchString(name)
}

// List returns the scheduled backups in the directory, newest first. A
// directory that does not exist yet holds none.
func (s *Scheduler) List() ([]ScheduledFile, error) {
	existing, err := s.list()
	if errors.Is(err, fs.ErrNotExist) {
		return []ScheduledFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]ScheduledFile, 0, len(existing))
	for i := len(existing) - 1; i >= 0; i-- {
		f, err := s.stat(filepath.Base(existing[i].path))
		if errors.Is(err, ErrNoSuchBackup) {
			continue // pruned meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// stat describes the named backup.
func (s *Scheduler) stat(name string) (ScheduledFile, error) {
	f, size, err := s.Open(name)
	if err != nil {
		return ScheduledFile{}, err
	}
	defer f.Close()
	at, _ := time.Parse(fileTime, fileRe.FindStringSubmatch(name)[1])
	return ScheduledFile{Name: name, Size: size, CreatedAt: at, Encrypted: sealedFile(f)}, nil
}

// sealedFile reads the envelope's mode byte.
func sealedFile(r io.Reader) bool {
	head := make([]byte, len(magic)+1)
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(magic)]) != magic {
		return false
	}
	return head[len(magic)] == modeSealed
}

// Open opens the named backup for reading, with its size. The name must
// pass ValidName (ErrBadName), so the path never leaves the directory.
func (s *Scheduler) Open(name string) (*os.File, int64, error) {
	if !ValidName(name) {
		return nil, 0, ErrBadName
	}
	f, err := os.Open(filepath.Join(s.opts.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNoSuchBackup
	}
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = ErrNoSuchBackup
		}
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// Status is the schedule's configuration and this replica's view of it.
func (s *Scheduler) Status() (ScheduleStatus, error) {
	now := s.opts.Now().UTC()
	st := ScheduleStatus{
		Dir: s.opts.Dir, EveryS: int64(s.opts.Every / time.Second), Keep: s.opts.Keep,
		Encrypted: s.opts.Passphrase != "", Telegram: s.opts.SendFile && s.opts.TelegramToken != "",
	}
	s.mu.Lock()
	lastCheck, lastRun, lastErrAt := s.lastCheck, s.lastRun, s.lastErrAt
	st.LastFile, st.LastError = s.lastFile, s.lastErr
	s.mu.Unlock()
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	st.LastCheck, st.LastRun, st.LastErrorAt = opt(lastCheck), opt(lastRun), opt(lastErrAt)
	check := s.CheckEvery()
	st.Leader = !lastCheck.IsZero() && now.Sub(lastCheck) < 2*check
	existing, err := s.list()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	due := now
	if len(existing) > 0 {
		due = existing[len(existing)-1].at.Add(s.opts.Every)
	}
	if st.Leader {
		// The job looks every check: the backup is taken at the first
		// look at or after due.
		next := lastCheck.Add(check)
		if due.After(next) {
			next = next.Add((due.Sub(next) + check - 1) / check * check)
		}
		due = next
	}
	st.NextRun = due.UTC().Truncate(time.Second)
	return st, nil
}
