// Package backup writes and restores the panel's backups: the whole
// database (with the JWT and subscription secrets and node token hashes it
// holds) and the operator's subscription templates in the data dir, in
// one file that either engine can restore: a backup of SQLite restores
// into PostgreSQL and the other way round.
//
// The file is an envelope (crypt.go: plain, or sealed with a passphrase)
// around a gzip stream of JSON lines:
//
//	{"format":"outpost-backup","version":1,"engine":...,"schema_version":...,"created_at":...}
//	{"table":"admins","columns":[{"name":"id","kind":"int"},...],"sequence":12}
//	[1,"root","$2a$...",true,...]          one line per row
//	{"end":"admins","rows":3,"sha256":"..."}  hash of the row lines
//	... every table, a referenced table before those referencing it
//	{"file":"templates/clash/default.yml","mode":384,"data":"<base64>"}
//	{"manifest":{...},"sha256":"..."}      hash of every line before it
//
// A restore reads the file twice: once to check every hash and count
// (nothing is touched if one fails), then to load it in one transaction.
package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/state"
)

const (
	formatName    = "outpost-backup"
	formatVersion = 1
	// filesRoot is the data dir's subdirectory a backup carries: the
	// operator's subscription templates, which shape what /sub serves.
	filesRoot = "templates"
	// maxFileSize bounds one carried file (templates are a few KiB).
	maxFileSize = 8 << 20
	// maxLine bounds one line of the stream (a core config, a big row).
	maxLine = 256 << 20
)

// PassphraseEnv is the environment variable backups and restores read a
// passphrase from (the server's --backup-passphrase).
const PassphraseEnv = "PANEL_BACKUP_PASSPHRASE"

// header is the stream's first line.
type header struct {
	Format        string    `json:"format"`
	Version       int       `json:"version"`
	Engine        string    `json:"engine"`
	SchemaVersion int       `json:"schema_version"`
	CreatedAt     time.Time `json:"created_at"`
}

type tableStart struct {
	Table    string             `json:"table"`
	Columns  []state.DumpColumn `json:"columns"`
	Sequence int64              `json:"sequence,omitempty"`
}

type tableEnd struct {
	End    string `json:"end"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

type fileEntry struct {
	File string `json:"file"`
	Mode uint32 `json:"mode"`
	Data []byte `json:"data"`
}

// Manifest summarises a backup; it is the stream's last line.
type Manifest struct {
	Engine        string          `json:"engine"`
	SchemaVersion int             `json:"schema_version"`
	CreatedAt     time.Time       `json:"created_at"`
	Tables        []ManifestTable `json:"tables"`
	Files         []ManifestFile  `json:"files"`
	// Encrypted is whether the file was sealed (not stored in it).
	Encrypted bool `json:"-"`
}

// ManifestTable is one table's count and hash.
type ManifestTable struct {
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	Sequence int64  `json:"sequence,omitempty"`
	SHA256   string `json:"sha256"`
}

// ManifestFile is one carried data-dir file.
type ManifestFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type manifestLine struct {
	Manifest *Manifest `json:"manifest"`
	SHA256   string    `json:"sha256"`
}

// Rows is the row count of the named table (0 if absent).
func (m Manifest) Rows(table string) int64 {
	for _, t := range m.Tables {
		if t.Name == table {
			return t.Rows
		}
	}
	return 0
}

// Options configure a backup.
type Options struct {
	// Passphrase seals the file; empty writes it plain.
	Passphrase string
	// DataDir is where the templates directory is read from; empty
	// carries no files.
	DataDir string
	// LogN is scrypt's work factor (DefaultLogN when 0).
	LogN int
	Now  func() time.Time
}

// Write writes a backup of st's database (read in one consistent snapshot
// while the panel keeps serving) and the data dir's templates to w.
func Write(ctx context.Context, st *state.State, w io.Writer, opts Options) (Manifest, error) {
	return write(ctx, w, opts, func(d state.Dumper) error { return st.Dump(ctx, d) })
}

// WriteFile writes a backup to path: to a temporary file beside it, synced
// and then renamed, so path is either the old file or a complete backup.
// The file is private (0600): it holds every secret of the panel.
func WriteFile(ctx context.Context, st *state.State, path string, opts Options) (Manifest, error) {
	return writeFile(path, func(w io.Writer) (Manifest, error) { return Write(ctx, st, w, opts) })
}

func writeFile(path string, fn func(w io.Writer) (Manifest, error)) (Manifest, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return Manifest{}, fmt.Errorf("creating the backup file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return Manifest{}, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	m, err := fn(bw)
	if err != nil {
		return Manifest{}, err
	}
	if err := bw.Flush(); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup file: %w", err)
	}
	if err := f.Close(); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup file: %w", err)
	}
	ok = true
	return m, nil
}

func write(ctx context.Context, w io.Writer, opts Options, dump func(state.Dumper) error) (Manifest, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LogN == 0 {
		opts.LogN = DefaultLogN
	}
	var payload io.Writer
	var seal *sealWriter
	if opts.Passphrase != "" {
		var err error
		if seal, err = newSealWriter(w, opts.Passphrase, opts.LogN); err != nil {
			return Manifest{}, fmt.Errorf("sealing the backup: %w", err)
		}
		payload = seal
	} else {
		if _, err := io.WriteString(w, magic+string(rune(modePlain))); err != nil {
			return Manifest{}, err
		}
		payload = w
	}
	gz, _ := gzip.NewWriterLevel(payload, gzip.BestSpeed)
	sw := &streamWriter{total: sha256.New(), m: Manifest{CreatedAt: opts.Now().UTC().Truncate(time.Second)}}
	sw.out = io.MultiWriter(gz, sw.total)
	if err := dump(sw); err != nil {
		return Manifest{}, err
	}
	if err := sw.finish(); err != nil {
		return Manifest{}, err
	}
	if opts.DataDir != "" {
		if err := sw.files(opts.DataDir); err != nil {
			return Manifest{}, err
		}
	}
	line, err := json.Marshal(manifestLine{Manifest: &sw.m, SHA256: hex.EncodeToString(sw.total.Sum(nil))})
	if err != nil {
		return Manifest{}, err
	}
	if _, err := gz.Write(append(line, '\n')); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup: %w", err)
	}
	if seal != nil {
		if err := seal.Close(); err != nil {
			return Manifest{}, fmt.Errorf("writing the backup: %w", err)
		}
	}
	sw.m.Encrypted = seal != nil
	return sw.m, nil
}

// streamWriter is the Dumper that writes the JSON lines.
type streamWriter struct {
	out   io.Writer
	total hash.Hash
	m     Manifest
	info  state.DumpInfo
	cur   int // index of the open table, -1 none
	rows  int64
	th    hash.Hash
	enc   []any
}

func (s *streamWriter) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.out.Write(append(b, '\n'))
	return err
}

func (s *streamWriter) Begin(info state.DumpInfo) error {
	s.info = info
	s.cur = -1
	s.m.Engine, s.m.SchemaVersion = info.Engine, info.SchemaVersion
	return s.writeJSON(header{Format: formatName, Version: formatVersion, Engine: info.Engine,
		SchemaVersion: info.SchemaVersion, CreatedAt: s.m.CreatedAt})
}

// advance closes the open table and opens the following ones up to i.
func (s *streamWriter) advance(i int) error {
	for s.cur < i {
		if s.cur >= 0 {
			t := s.info.Tables[s.cur]
			sum := hex.EncodeToString(s.th.Sum(nil))
			if err := s.writeJSON(tableEnd{End: t.Name, Rows: s.rows, SHA256: sum}); err != nil {
				return err
			}
			s.m.Tables = append(s.m.Tables, ManifestTable{Name: t.Name, Rows: s.rows, Sequence: t.Sequence, SHA256: sum})
		}
		s.cur++
		if s.cur >= len(s.info.Tables) {
			return nil
		}
		t := s.info.Tables[s.cur]
		if err := s.writeJSON(tableStart{Table: t.Name, Columns: t.Columns, Sequence: t.Sequence}); err != nil {
			return err
		}
		s.rows = 0
		s.th = sha256.New()
	}
	return nil
}

func (s *streamWriter) Row(i int, values []any) error {
	if i != s.cur {
		if err := s.advance(i); err != nil {
			return err
		}
	}
	s.enc = s.enc[:0]
	for _, v := range values {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return fmt.Errorf("table %s: a value JSON cannot carry (%v)", s.info.Tables[i].Name, f)
		}
		s.enc = append(s.enc, v) // []byte marshals as base64, the blob kind's form
	}
	b, err := json.Marshal(s.enc)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	s.th.Write(b)
	s.rows++
	_, err = s.out.Write(b)
	return err
}

func (s *streamWriter) finish() error { return s.advance(len(s.info.Tables)) }

// files adds the data dir's templates.
func (s *streamWriter) files(dataDir string) error {
	root := filepath.Join(dataDir, filesRoot)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dataDir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxFileSize {
			return fmt.Errorf("%s is larger than %d bytes: not a template", p, maxFileSize)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel = filepath.ToSlash(rel)
		s.m.Files = append(s.m.Files, ManifestFile{Path: rel, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		return s.writeJSON(fileEntry{File: rel, Mode: uint32(info.Mode().Perm()), Data: data})
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", root, err)
	}
	return nil
}

// reader walks a backup's JSON lines, checking every hash as it goes.
type reader struct {
	br    *bufio.Reader
	total hash.Hash
	hdr   header
	// manifest is set once the last line was read and checked.
	manifest *Manifest
	sealed   bool
}

func openStream(r io.Reader, op *opener) (*reader, error) {
	payload, sealed, err := openEnvelope(r, op)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(payload)
	if err != nil {
		return nil, corrupt(err)
	}
	rd := &reader{br: bufio.NewReaderSize(gz, 1<<20), total: sha256.New(), sealed: sealed}
	line, err := rd.line()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(line, &rd.hdr); err != nil || rd.hdr.Format != formatName {
		return nil, fmt.Errorf("%w: no backup header", ErrCorrupt)
	}
	if rd.hdr.Version != formatVersion {
		return nil, fmt.Errorf("backup format version %d: this binary reads version %d", rd.hdr.Version, formatVersion)
	}
	return rd, nil
}

func corrupt(err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrWrongPassphrase) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// line reads one line (without its newline) and adds it to the running
// hash; the manifest line is not hashed (it carries the hash).
func (r *reader) line() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > maxLine {
				return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrCorrupt, maxLine)
			}
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(buf) == 0 {
				return nil, fmt.Errorf("%w: it ends before its manifest", ErrCorrupt)
			}
			return nil, fmt.Errorf("%w: it ends in the middle of a line", ErrCorrupt)
		}
		return nil, corrupt(err)
	}
	if !bytes.HasPrefix(buf, []byte(`{"manifest":`)) {
		r.total.Write(buf)
	}
	return buf[:len(buf)-1], nil
}

// visitor receives what a walk of the stream finds.
type visitor struct {
	table func(t tableStart) error
	row   func(values []any) error
	end   func(t tableStart, rows int64) error
	file  func(f fileEntry) error
}

// walk reads the whole stream, checking each table's rows and hash and the
// final manifest, and calls v along the way (nil functions skip).
func (r *reader) walk(v visitor) (Manifest, error) {
	var cur *tableStart
	var th hash.Hash
	var rows int64
	var tables []ManifestTable
	var files []ManifestFile
	var vals []any
	for {
		line, err := r.line()
		if err != nil {
			return Manifest{}, err
		}
		if len(line) > 0 && line[0] == '[' {
			if cur == nil {
				return Manifest{}, fmt.Errorf("%w: a row outside a table", ErrCorrupt)
			}
			th.Write(line)
			th.Write([]byte{'\n'})
			rows++
			if v.row != nil {
				if vals, err = decodeRow(line, cur.Columns, vals); err != nil {
					return Manifest{}, fmt.Errorf("%w: table %s row %d: %v", ErrCorrupt, cur.Table, rows, err)
				}
				if err := v.row(vals); err != nil {
					return Manifest{}, err
				}
			}
			continue
		}
		var probe struct {
			Table    *string         `json:"table"`
			End      *string         `json:"end"`
			File     *string         `json:"file"`
			Manifest json.RawMessage `json:"manifest"`
		}
		if err := json.Unmarshal(line, &probe); err != nil {
			return Manifest{}, fmt.Errorf("%w: unreadable line: %v", ErrCorrupt, err)
		}
		switch {
		case probe.Table != nil:
			if cur != nil {
				return Manifest{}, fmt.Errorf("%w: table %s has no end", ErrCorrupt, cur.Table)
			}
			var t tableStart
			if err := json.Unmarshal(line, &t); err != nil {
				return Manifest{}, fmt.Errorf("%w: table header: %v", ErrCorrupt, err)
			}
			cur, th, rows = &t, sha256.New(), 0
			if v.table != nil {
				if err := v.table(t); err != nil {
					return Manifest{}, err
				}
			}
		case probe.End != nil:
			var e tableEnd
			if err := json.Unmarshal(line, &e); err != nil || cur == nil || e.End != cur.Table {
				return Manifest{}, fmt.Errorf("%w: a table end out of place", ErrCorrupt)
			}
			sum := hex.EncodeToString(th.Sum(nil))
			if e.Rows != rows || e.SHA256 != sum {
				return Manifest{}, fmt.Errorf("%w: table %s: %d rows with hash %s, its end says %d rows with %s", ErrCorrupt, cur.Table, rows, sum[:12], e.Rows, short(e.SHA256))
			}
			tables = append(tables, ManifestTable{Name: cur.Table, Rows: rows, Sequence: cur.Sequence, SHA256: sum})
			if v.end != nil {
				if err := v.end(*cur, rows); err != nil {
					return Manifest{}, err
				}
			}
			cur = nil
		case probe.File != nil:
			var f fileEntry
			if err := json.Unmarshal(line, &f); err != nil {
				return Manifest{}, fmt.Errorf("%w: file entry: %v", ErrCorrupt, err)
			}
			if !validFilePath(f.File) {
				return Manifest{}, fmt.Errorf("%w: file path %q is outside %s/", ErrCorrupt, f.File, filesRoot)
			}
			sum := sha256.Sum256(f.Data)
			files = append(files, ManifestFile{Path: f.File, Size: int64(len(f.Data)), SHA256: hex.EncodeToString(sum[:])})
			if v.file != nil {
				if err := v.file(f); err != nil {
					return Manifest{}, err
				}
			}
		case probe.Manifest != nil:
			var ml manifestLine
			if err := json.Unmarshal(line, &ml); err != nil || ml.Manifest == nil {
				return Manifest{}, fmt.Errorf("%w: unreadable manifest", ErrCorrupt)
			}
			if cur != nil {
				return Manifest{}, fmt.Errorf("%w: table %s has no end", ErrCorrupt, cur.Table)
			}
			if sum := hex.EncodeToString(r.total.Sum(nil)); ml.SHA256 != sum {
				return Manifest{}, fmt.Errorf("%w: the content's hash %s is not the manifest's %s", ErrCorrupt, sum[:12], short(ml.SHA256))
			}
			m := *ml.Manifest
			if err := m.matches(r.hdr, tables, files); err != nil {
				return Manifest{}, err
			}
			// Nothing may follow the manifest.
			if _, err := r.br.ReadByte(); !errors.Is(err, io.EOF) {
				if err == nil {
					return Manifest{}, fmt.Errorf("%w: data after the manifest", ErrCorrupt)
				}
				return Manifest{}, corrupt(err)
			}
			m.Encrypted = r.sealed
			r.manifest = &m
			return m, nil
		default:
			return Manifest{}, fmt.Errorf("%w: an unknown line", ErrCorrupt)
		}
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func (m Manifest) matches(h header, tables []ManifestTable, files []ManifestFile) error {
	if m.Engine != h.Engine || m.SchemaVersion != h.SchemaVersion || !m.CreatedAt.Equal(h.CreatedAt) {
		return fmt.Errorf("%w: the manifest does not match the header", ErrCorrupt)
	}
	if len(m.Tables) != len(tables) || len(m.Files) != len(files) {
		return fmt.Errorf("%w: the manifest lists %d tables and %d files, the file holds %d and %d", ErrCorrupt, len(m.Tables), len(m.Files), len(tables), len(files))
	}
	for i := range tables {
		if m.Tables[i] != tables[i] {
			return fmt.Errorf("%w: table %s differs from the manifest", ErrCorrupt, tables[i].Name)
		}
	}
	for i := range files {
		if m.Files[i] != files[i] {
			return fmt.Errorf("%w: file %s differs from the manifest", ErrCorrupt, files[i].Path)
		}
	}
	return nil
}

func validFilePath(p string) bool {
	return strings.HasPrefix(p, filesRoot+"/") && path.Clean(p) == p && !strings.Contains(p, "..") && !strings.ContainsRune(p, '\\')
}

// decodeRow decodes one row line into the Go values of the columns' kinds.
func decodeRow(line []byte, cols []state.DumpColumn, out []any) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var raw []any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	if len(raw) != len(cols) {
		return nil, fmt.Errorf("%d values for %d columns", len(raw), len(cols))
	}
	out = out[:0]
	for i, v := range raw {
		c := cols[i]
		var val any
		switch x := v.(type) {
		case nil:
		case bool:
			val = x
		case json.Number:
			switch c.Kind {
			case state.KindReal:
				f, err := strconv.ParseFloat(string(x), 64)
				if err != nil {
					return nil, fmt.Errorf("column %s: %v", c.Name, err)
				}
				val = f
			default:
				n, err := strconv.ParseInt(string(x), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("column %s: %v", c.Name, err)
				}
				val = n
			}
		case string:
			if c.Kind == state.KindBlob {
				b, err := base64.StdEncoding.DecodeString(x)
				if err != nil {
					return nil, fmt.Errorf("column %s: %v", c.Name, err)
				}
				val = b
			} else {
				val = x
			}
		default:
			return nil, fmt.Errorf("column %s: unexpected %T", c.Name, v)
		}
		conv, err := state.ConvertValue(val, c.Kind)
		if err != nil {
			return nil, fmt.Errorf("column %s: %v", c.Name, err)
		}
		out = append(out, conv)
	}
	return out, nil
}

// Verify reads the whole backup at path and checks every hash and count.
func Verify(path, passphrase string) (Manifest, error) {
	return verify(path, &opener{passphrase: passphrase})
}

func verify(path string, op *opener) (Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	rd, err := openStream(bufio.NewReaderSize(f, 1<<20), op)
	if err != nil {
		return Manifest{}, err
	}
	return rd.walk(visitor{})
}

// RestoreOptions say where a backup goes.
type RestoreOptions struct {
	// DatabaseURL is the target PostgreSQL database, empty for SQLite in
	// DataDir.
	DatabaseURL string
	DataDir     string
	Passphrase  string
	// Force replaces a database that already holds a panel (and
	// templates that differ). SQLite's old file is kept beside the new
	// one as outpost.db.pre-restore-<time>.
	Force bool
	Log   *slog.Logger
}

// ErrNotEmpty is a restore target that holds a panel, without Force.
var ErrNotEmpty = errors.New("the target database is not empty")

// Restore checks the backup at path and restores it: the database (SQLite
// in opts.DataDir or the PostgreSQL opts.DatabaseURL), migrated forward
// when the backup's schema is older than this binary's, and the templates
// into the data dir. The target must be empty unless opts.Force; no panel
// may be running on it. On any error the target is left as it was.
func Restore(ctx context.Context, path string, opts RestoreOptions) (Manifest, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	op := &opener{passphrase: opts.Passphrase}
	began := time.Now()
	m, err := verify(path, op)
	if err != nil {
		return Manifest{}, err
	}
	opts.Log.Info("checked the backup", "took", time.Since(began).Round(time.Millisecond))
	latest := state.LatestSchemaVersion()
	if m.SchemaVersion > latest {
		return m, fmt.Errorf("the backup's schema version %d is newer than this binary's %d: restore it with a newer outpost", m.SchemaVersion, latest)
	}
	if m.SchemaVersion < 1 {
		return m, fmt.Errorf("%w: schema version %d", ErrCorrupt, m.SchemaVersion)
	}
	held, version, err := state.DatabasePopulated(ctx, opts.DatabaseURL, opts.DataDir)
	if err != nil {
		return m, err
	}
	if len(held) > 0 && !opts.Force {
		return m, fmt.Errorf("%w (it holds %s): restore into an empty data dir or database, or pass --force to replace everything in it", ErrNotEmpty, describeHeld(held))
	}
	if version > latest {
		return m, fmt.Errorf("the target database's schema version %d is newer than this binary's %d", version, latest)
	}
	if err := checkFiles(m, opts); err != nil {
		return m, err
	}
	// load streams the backup into a Loader at the backup's own schema
	// version.
	load := func(l *state.Loader) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rd, err := openStream(bufio.NewReaderSize(f, 1<<20), op)
		if err != nil {
			return err
		}
		_, err = rd.walk(visitor{
			table: func(t tableStart) error {
				names := make([]string, len(t.Columns))
				for i, c := range t.Columns {
					names[i] = c.Name
				}
				return l.Begin(t.Table, names)
			},
			row: l.Row,
			end: func(t tableStart, _ int64) error { return l.End(t.Sequence) },
		})
		return err
	}
	if m.SchemaVersion < latest {
		// Older schema: load it into a scratch SQLite database at its own
		// version, migrate that forward, and load the result.
		scratch, err := os.MkdirTemp("", "outpost-restore-")
		if err != nil {
			return m, err
		}
		defer os.RemoveAll(scratch)
		if err := state.LoadDatabase(ctx, "", scratch, m.SchemaVersion, opts.Log, load); err != nil {
			return m, fmt.Errorf("loading the backup (schema version %d): %w", m.SchemaVersion, err)
		}
		load = func(l *state.Loader) error {
			p := &pipe{l: l}
			if err := state.DumpDatabase(ctx, "", scratch, opts.Log, p); err != nil {
				return err
			}
			return p.advance(len(p.info.Tables))
		}
		opts.Log.Info("migrated the backup forward", "from", m.SchemaVersion, "to", latest)
	}
	if opts.DatabaseURL != "" {
		if err := state.LoadDatabase(ctx, opts.DatabaseURL, "", latest, opts.Log, load); err != nil {
			return m, fmt.Errorf("restoring into PostgreSQL: %w", err)
		}
	} else if err := restoreSQLite(ctx, opts, latest, load); err != nil {
		return m, err
	}
	opts.Log.Info("restored the database", "took", time.Since(began).Round(time.Millisecond))
	if err := writeFiles(path, op, opts); err != nil {
		return m, fmt.Errorf("the database is restored, but the templates are not: %w", err)
	}
	return m, nil
}

func describeHeld(held map[string]int64) string {
	var parts []string
	for _, t := range []string{"admins", "users", "nodes", "settings", "core_config"} {
		if n := held[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d rows", t, n))
		}
	}
	return strings.Join(parts, ", ")
}

// restoreSQLite builds the new database in a directory of its own inside
// the data dir and moves it into place when it is complete, so a failure
// leaves the data dir as it was.
func restoreSQLite(ctx context.Context, opts RestoreOptions, version int, load func(*state.Loader) error) error {
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data dir: %w", err)
	}
	work, err := os.MkdirTemp(opts.DataDir, ".restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := state.LoadDatabase(ctx, "", work, version, opts.Log, load); err != nil {
		return fmt.Errorf("restoring into SQLite: %w", err)
	}
	target := filepath.Join(opts.DataDir, "outpost.db")
	if _, err := os.Stat(target); err == nil {
		aside := target + ".pre-restore-" + time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(target+suffix, aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("moving the old database aside: %w", err)
			}
		}
		opts.Log.Info("moved the old database aside", "path", aside)
	}
	for _, suffix := range []string{"-wal", "-shm", ""} {
		if err := os.Rename(filepath.Join(work, "outpost.db"+suffix), target+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("moving the restored database into place: %w", err)
		}
	}
	return nil
}

// checkFiles refuses, before anything is written, templates that would
// overwrite different ones without Force.
func checkFiles(m Manifest, opts RestoreOptions) error {
	if opts.Force {
		return nil
	}
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(opts.DataDir, filepath.FromSlash(f.Path)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			return fmt.Errorf("%s in the data dir differs from the backup's: pass --force to replace it", f.Path)
		}
	}
	return nil
}

func writeFiles(path string, op *opener, opts RestoreOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := openStream(bufio.NewReaderSize(f, 1<<20), op)
	if err != nil {
		return err
	}
	_, err = rd.walk(visitor{file: func(fe fileEntry) error {
		dst := filepath.Join(opts.DataDir, filepath.FromSlash(fe.File))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, fe.Data, fs.FileMode(fe.Mode&0o666)|0o600)
	}})
	return err
}

// pipe is a Dumper feeding a Loader: a database copied into another.
type pipe struct {
	l    *state.Loader
	info state.DumpInfo
	cur  int
}

func (p *pipe) Begin(info state.DumpInfo) error {
	p.info, p.cur = info, -1
	return nil
}

func (p *pipe) advance(i int) error {
	for p.cur < i {
		if p.cur >= 0 {
			if err := p.l.End(p.info.Tables[p.cur].Sequence); err != nil {
				return err
			}
		}
		p.cur++
		if p.cur >= len(p.info.Tables) {
			return nil
		}
		t := p.info.Tables[p.cur]
		names := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			names[i] = c.Name
		}
		if err := p.l.Begin(t.Name, names); err != nil {
			return err
		}
	}
	return nil
}

func (p *pipe) Row(i int, values []any) error {
	if err := p.advance(i); err != nil {
		return err
	}
	return p.l.Row(values)
}
