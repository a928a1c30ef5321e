package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/state"
)

// Scheduled backups: a job on the replica that holds the backup lease
// (backend/jobs) looks at the backup directory every few minutes and takes
// a backup when the newest one there is older than the interval, so a
// restart neither skips a backup nor takes an extra one. The newest Keep
// files stay; older ones are deleted. A failure is logged, sent to the
// sudo admins' Telegram chats when a bot is configured, and retried at the
// next look; it never stops the panel.

// Lease is the jobs lease that elects the replica taking backups.
const Lease = "backup"

// fileRe names scheduled backups; nothing else in the directory is touched.
var fileRe = regexp.MustCompile(`^outpost-(\d{8}T\d{6}Z)\.backup$`)

const fileTime = "20060102T150405Z"

// telegramMaxFile is the Bot API's upload limit for sendDocument.
const telegramMaxFile = 50 << 20

// ScheduleOptions configure scheduled backups.
type ScheduleOptions struct {
	Dir        string
	Every      time.Duration
	Keep       int
	Passphrase string
	DataDir    string // templates to carry
	// TelegramToken and TelegramAPI are the notification bot's; with a
	// token, failures go to the chats below and, with SendFile, the
	// backups too.
	TelegramToken string
	TelegramAPI   string
	SendFile      bool
	// TelegramChats are fixed chats (TELEGRAM_ADMIN_ID); the sudo admins'
	// own telegram_id are added at each run.
	TelegramChats []int64
	Client        *http.Client
	Now           func() time.Time
	Log           *slog.Logger
}

// Scheduler takes scheduled backups.
type Scheduler struct {
	st   *state.State
	opts ScheduleOptions

	// running serialises the scheduled job and RunNow on this replica, so
	// two backups never race each other over the directory here.
	running sync.Mutex

	// mu guards the status fields below; never held while running is
	// taken or a backup is written.
	mu        sync.Mutex
	lastCheck time.Time // the job last looked at the directory (it holds the lease)
	lastRun   time.Time // a backup was last attempted
	lastFile  string
	lastErr   string
	lastErrAt time.Time
}

// NewScheduler builds the scheduled backups of st.
func NewScheduler(st *state.State, opts ScheduleOptions) *Scheduler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Minute}
	}
	if opts.TelegramAPI == "" {
		opts.TelegramAPI = "https://api.telegram.org"
	}
	if opts.Keep < 1 {
		opts.Keep = 1
	}
	return &Scheduler{st: st, opts: opts}
}

// Job is the scheduler's job: it looks every CheckEvery.
func (s *Scheduler) Job() jobs.Job {
	return jobs.Job{Name: "backup", Every: s.CheckEvery(), Run: s.Run}
}

// CheckEvery is how often the directory is looked at.
func (s *Scheduler) CheckEvery() time.Duration { return min(s.opts.Every, 5*time.Minute) }

// Run takes a backup if one is due. Failures are logged and notified here;
// the error is also returned for the scheduler's log.
func (s *Scheduler) Run(ctx context.Context) error {
	s.running.Lock()
	defer s.running.Unlock()
	s.mu.Lock()
	s.lastCheck = s.opts.Now()
	s.mu.Unlock()
	_, sendErr, err := s.run(ctx, false)
	return errors.Join(err, sendErr)
}

// RunNow takes a backup at once, due or not, on this replica (whether or
// not it holds the backup lease: one request makes one file, so there is
// nothing for the lease to deduplicate), prunes past Keep and sends it to
// Telegram when configured, exactly as a scheduled one. It waits for a
// backup in progress here to finish first. A failed Telegram upload is
// returned as sendErr beside the file, which exists.
func (s *Scheduler) RunNow(ctx context.Context) (f ScheduledFile, sendErr error, err error) {
	s.running.Lock()
	defer s.running.Unlock()
	path, sendErr, err := s.run(ctx, true)
	if err != nil {
		return ScheduledFile{}, nil, err
	}
	f, err = s.stat(filepath.Base(path))
	return f, sendErr, err
}

// run takes a backup (when due, or at once with force) and sends it;
// every outcome is recorded for Status.
func (s *Scheduler) run(ctx context.Context, force bool) (path string, sendErr, err error) {
	path, err = s.runOnce(ctx, force)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrTooSoon) {
			s.record("", err)
			what := "scheduled backup"
			if force {
				what = "backup taken on request"
			}
			s.opts.Log.Error(what+" failed", "err", err)
			s.notify(ctx, "⚠️ Outpost: the "+what+" failed: "+err.Error())
		}
		return "", nil, err
	}
	if path == "" {
		return "", nil, nil
	}
	s.record(path, nil)
	if s.opts.SendFile && s.opts.TelegramToken != "" {
		if err := s.sendFile(ctx, path); err != nil && ctx.Err() == nil {
			s.record(path, fmt.Errorf("sending %s to Telegram: %w", filepath.Base(path), err))
			s.opts.Log.Error("sending the backup to Telegram", "err", err)
			s.notify(ctx, "⚠️ Outpost: the backup "+filepath.Base(path)+" was taken but could not be sent here: "+err.Error())
			return path, err, nil
		}
	}
	return path, nil, nil
}

// record notes a run's outcome: the file taken, and the error (nil clears
// the last one: the newest outcome is what Status shows).
func (s *Scheduler) record(path string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if path != "" {
		s.lastFile = filepath.Base(path)
	}
	if err != nil {
		s.lastErr, s.lastErrAt = err.Error(), s.opts.Now().UTC()
	} else {
		s.lastErr, s.lastErrAt = "", time.Time{}
	}
}

// runOnce takes a backup when due and prunes old ones; it returns the new
// file's path, or "" when none was due.
func (s *Scheduler) runOnce(ctx context.Context, force bool) (string, error) {
	if err := os.MkdirAll(s.opts.Dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the backup dir: %w", err)
	}
	existing, err := s.list()
	if err != nil {
		return "", err
	}
	now := s.opts.Now().UTC()
	if !force && len(existing) > 0 && now.Sub(existing[len(existing)-1].at) < s.opts.Every {
		return "", nil
	}
	if force && len(existing) > 0 && !existing[len(existing)-1].at.Before(now.Truncate(time.Second)) {
		// Names have a resolution of a second: a second backup within the
		// same second would replace the first. Refuse rather than wait.
		return "", ErrTooSoon
	}
	s.mu.Lock()
	s.lastRun = now
	s.mu.Unlock()
	path := filepath.Join(s.opts.Dir, "outpost-"+now.Format(fileTime)+".backup")
	began := time.Now()
	m, err := WriteFile(ctx, s.st, path, Options{Passphrase: s.opts.Passphrase, DataDir: s.opts.DataDir, Now: s.opts.Now})
	if err != nil {
		return "", err
	}
	s.opts.Log.Info("took a scheduled backup", "file", path, "users", m.Rows("users"), "encrypted", m.Encrypted,
		"took", time.Since(began).Round(time.Millisecond))
	existing, err = s.list()
	if err != nil {
		return path, err
	}
	for len(existing) > s.opts.Keep {
		old := existing[0]
		existing = existing[1:]
		if err := os.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return path, fmt.Errorf("deleting an old backup: %w", err)
		}
		s.opts.Log.Info("deleted an old backup", "file", old.path)
	}
	return path, nil
}

type scheduled struct {
	path string
	at   time.Time
}

// list returns the scheduled backups in the directory, oldest first.
func (s *Scheduler) list() ([]scheduled, error) {
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading the backup dir: %w", err)
	}
	var out []scheduled
	for _, e := range entries {
		m := fileRe.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		at, err := time.Parse(fileTime, m[1])
		if err != nil {
			continue
		}
		out = append(out, scheduled{path: filepath.Join(s.opts.Dir, e.Name()), at: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out, nil
}

// chats are TELEGRAM_ADMIN_ID and every sudo admin's telegram_id.
func (s *Scheduler) chats(ctx context.Context) []int64 {
	seen := map[int64]bool{}
	var out []int64
	add := func(id int64) {
		if id != 0 && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range s.opts.TelegramChats {
		add(id)
	}
	// Admins are few; a panel with more than this many is a reseller
	// business whose sudo admins come first in no particular order, so
	// read them all in pages.
	for offset := 0; ; offset += 500 {
		admins, err := s.st.ListAdmins(ctx, offset, 500, "")
		if err != nil {
			s.opts.Log.Warn("listing admins for backup notices", "err", err)
			break
		}
		for _, a := range admins {
			if a.IsSudo && a.TelegramID != nil {
				add(*a.TelegramID)
			}
		}
		if len(admins) < 500 {
			break
		}
	}
	return out
}

func (s *Scheduler) notify(ctx context.Context, text string) {
	if s.opts.TelegramToken == "" {
		return
	}
	for _, chat := range s.chats(ctx) {
		body, _ := json.Marshal(map[string]any{"chat_id": chat, "text": truncate(text, 4000), "disable_web_page_preview": true})
		if err := s.post(ctx, "sendMessage", "application/json", bytes.NewReader(body)); err != nil {
			s.opts.Log.Warn("sending a backup notice to Telegram", "chat", chat, "err", err)
		}
	}
}

func (s *Scheduler) sendFile(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() > telegramMaxFile {
		return fmt.Errorf("%d MiB is over Telegram's %d MiB upload limit; it stays in %s", fi.Size()>>20, telegramMaxFile>>20, s.opts.Dir)
	}
	chats := s.chats(ctx)
	if len(chats) == 0 {
		return errors.New("no chat to send it to: set TELEGRAM_ADMIN_ID or a sudo admin's telegram_id")
	}
	var errs []error
	for _, chat := range chats {
		if err := s.sendDocument(ctx, chat, path); err != nil {
			errs = append(errs, fmt.Errorf("chat %d: %w", chat, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) sendDocument(ctx context.Context, chat int64, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			if err := mw.WriteField("chat_id", strconv.FormatInt(chat, 10)); err != nil {
				return err
			}
			if err := mw.WriteField("caption", "Outpost backup "+filepath.Base(path)); err != nil {
				return err
			}
			part, err := mw.CreateFormFile("document", filepath.Base(path))
			if err != nil {
				return err
			}
			if _, err := io.Copy(part, f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	err = s.post(ctx, "sendDocument", mw.FormDataContentType(), pr)
	pr.CloseWithError(errors.New("request finished"))
	return err
}

// post calls a Bot API method. Errors never quote the URL: it carries
// the bot token.
func (s *Scheduler) post(ctx context.Context, method, contentType string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.TelegramAPI+"/bot"+s.opts.TelegramToken+"/"+method, body)
	if err != nil {
		return errors.New("telegram: bad API address")
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("telegram: %s", strings.ReplaceAll(err.Error(), s.opts.TelegramToken, "…"))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		var why struct {
			Description string `json:"description"`
		}
		_ = json.Unmarshal(raw, &why)
		if why.Description != "" {
			return fmt.Errorf("telegram answered %s: %s", resp.Status, truncate(why.Description, 200))
		}
		return fmt.Errorf("telegram answered %s", resp.Status)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
