package backup

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// The file's envelope. Every backup starts with magic and a mode byte:
//
//	"OUTPOST-BACKUP/1" 'z'  then a gzip stream (plain)
//	"OUTPOST-BACKUP/1" 'e'  logN(1) salt(16) mac(32)  then chunks (encrypted)
//
// An encrypted file is the gzip stream sealed the way age seals a file: a
// key is derived from the passphrase with scrypt (N = 2^logN, r = 8,
// p = 1) over a random salt; the header is authenticated with HMAC-SHA256
// under a second derived key, which is how a wrong passphrase is told from
// a damaged file; the payload is cut into 64 KiB chunks, each sealed with
// ChaCha20-Poly1305 under a nonce of an 11-byte chunk counter and a byte
// that is 1 for the last chunk only, so a reordered, cut or extended file
// fails to open.

const (
	magic        = "OUTPOST-BACKUP/1"
	modePlain    = 'z'
	modeSealed   = 'e'
	saltLen      = 16
	macLen       = 32
	chunkSize    = 64 << 10
	sealedHeader = len(magic) + 1 + 1 + saltLen + macLen
	// DefaultLogN is scrypt's work factor: 2^16 costs 64 MiB and about a
	// tenth of a second, once per backup or restore.
	DefaultLogN = 16
	maxLogN     = 22 // a header asking for more is refused, not obeyed
)

var (
	// ErrWrongPassphrase is a passphrase that does not open the file.
	ErrWrongPassphrase = errors.New("wrong passphrase: it does not open this backup (or the file's header is damaged)")
	// ErrNeedPassphrase is an encrypted backup opened without one.
	ErrNeedPassphrase = errors.New("the backup is encrypted: give its passphrase (--passphrase, --passphrase-file or PANEL_BACKUP_PASSPHRASE)")
	// ErrNotBackup is a file that is not an Outpost backup.
	ErrNotBackup = errors.New("not an Outpost backup file")
	// ErrCorrupt is a damaged or cut backup.
	ErrCorrupt = errors.New("the backup file is damaged or truncated")
)

func deriveKeys(passphrase string, salt []byte, logN int) (enc, mac []byte, err error) {
	k, err := scrypt.Key([]byte(passphrase), salt, 1<<logN, 8, 1, 64)
	if err != nil {
		return nil, nil, err
	}
	return k[:32], k[32:], nil
}

// opener holds a passphrase and the keys last derived from it: a restore
// reads the file three times and scrypt is slow on purpose.
type opener struct {
	passphrase string
	salt       []byte
	logN       int
	enc, mac   []byte
}

func (o *opener) keys(salt []byte, logN int) (enc, mac []byte, err error) {
	if o.enc != nil && o.logN == logN && hmac.Equal(o.salt, salt) {
		return o.enc, o.mac, nil
	}
	enc, mac, err = deriveKeys(o.passphrase, salt, logN)
	if err != nil {
		return nil, nil, err
	}
	o.salt, o.logN, o.enc, o.mac = append([]byte(nil), salt...), logN, enc, mac
	return enc, mac, nil
}

// sealWriter encrypts what is written to it in chunks.
type sealWriter struct {
	w    io.Writer
	aead interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
	}
	buf     []byte
	out     []byte
	counter uint64
	closed  bool
}

// newSealWriter writes the sealed header to w and returns the writer of
// the payload; Close seals the last chunk (it does not close w).
func newSealWriter(w io.Writer, passphrase string, logN int) (*sealWriter, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	enc, macKey, err := deriveKeys(passphrase, salt, logN)
	if err != nil {
		return nil, err
	}
	hdr := append([]byte(magic), modeSealed, byte(logN))
	hdr = append(hdr, salt...)
	m := hmac.New(sha256.New, macKey)
	m.Write(hdr)
	hdr = m.Sum(hdr)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(enc)
	if err != nil {
		return nil, err
	}
	return &sealWriter{w: w, aead: aead, buf: make([]byte, 0, chunkSize)}, nil
}

func nonce(counter uint64, last bool) []byte {
	n := make([]byte, chacha20poly1305.NonceSize)
	binary.BigEndian.PutUint64(n[3:11], counter)
	if last {
		n[11] = 1
	}
	return n
}

func (s *sealWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("write after close")
	}
	total := len(p)
	for len(p) > 0 {
		// A full buffer is sealed only once more data comes: the last
		// chunk must be sealed as the last.
		if len(s.buf) == chunkSize {
			if err := s.flush(false); err != nil {
				return total - len(p), err
			}
		}
		n := copy(s.buf[len(s.buf):chunkSize], p)
		s.buf = s.buf[:len(s.buf)+n]
		p = p[n:]
	}
	return total, nil
}

func (s *sealWriter) flush(last bool) error {
	s.out = s.aead.Seal(s.out[:0], nonce(s.counter, last), s.buf, nil)
	s.counter++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

func (s *sealWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.flush(true)
}

// openReader reads an encrypted payload chunk by chunk.
type openReader struct {
	r    *bufio.Reader
	aead interface {
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
	}
	in      []byte
	plain   []byte
	pos     int
	counter uint64
	done    bool
}

func (o *openReader) Read(p []byte) (int, error) {
	for o.pos == len(o.plain) {
		if o.done {
			return 0, io.EOF
		}
		if err := o.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, o.plain[o.pos:])
	o.pos += n
	return n, nil
}

func (o *openReader) next() error {
	n, err := io.ReadFull(o.r, o.in[:chunkSize+chacha20poly1305.Overhead])
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	case err != nil:
		return err
	}
	if n < chacha20poly1305.Overhead {
		return fmt.Errorf("%w: it ends before its last chunk", ErrCorrupt)
	}
	last := n < chunkSize+chacha20poly1305.Overhead
	if !last {
		if _, perr := o.r.Peek(1); errors.Is(perr, io.EOF) {
			last = true
		}
	}
	o.plain, err = o.aead.Open(o.plain[:0], nonce(o.counter, last), o.in[:n], nil)
	if err != nil {
		if last {
			return fmt.Errorf("%w: chunk %d does not authenticate (cut short, or changed)", ErrCorrupt, o.counter)
		}
		return fmt.Errorf("%w: chunk %d does not authenticate", ErrCorrupt, o.counter)
	}
	o.counter++
	o.pos = 0
	o.done = last
	return nil
}

// openEnvelope reads the envelope from r and returns the gzip stream
// inside, and whether it was encrypted.
func openEnvelope(r io.Reader, op *opener) (io.Reader, bool, error) {
	br := bufio.NewReaderSize(r, chunkSize+chacha20poly1305.Overhead+64)
	head := make([]byte, len(magic)+1)
	if _, err := io.ReadFull(br, head); err != nil || string(head[:len(magic)]) != magic {
		return nil, false, ErrNotBackup
	}
	switch head[len(magic)] {
	case modePlain:
		return br, false, nil
	case modeSealed:
	default:
		return nil, false, fmt.Errorf("%w (unknown mode %q)", ErrNotBackup, head[len(magic)])
	}
	rest := make([]byte, sealedHeader-len(head))
	if _, err := io.ReadFull(br, rest); err != nil {
		return nil, true, fmt.Errorf("%w: the header is cut short", ErrCorrupt)
	}
	if op.passphrase == "" {
		return nil, true, ErrNeedPassphrase
	}
	logN := int(rest[0])
	if logN < 10 || logN > maxLogN {
		return nil, true, fmt.Errorf("%w: unreasonable scrypt work factor 2^%d", ErrCorrupt, logN)
	}
	salt := rest[1 : 1+saltLen]
	enc, macKey, err := op.keys(salt, logN)
	if err != nil {
		return nil, true, err
	}
	m := hmac.New(sha256.New, macKey)
	m.Write(head)
	m.Write(rest[:1+saltLen])
	if !hmac.Equal(m.Sum(nil), rest[1+saltLen:]) {
		return nil, true, ErrWrongPassphrase
	}
	aead, err := chacha20poly1305.New(enc)
	if err != nil {
		return nil, true, err
	}
	return &openReader{r: br, aead: aead, in: make([]byte, chunkSize+chacha20poly1305.Overhead)}, true, nil
}
