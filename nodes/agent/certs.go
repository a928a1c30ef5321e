package agent

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// certWatch reports the expiry of the certificate files the node's
// inbounds read (tlsSettings.certificates[].certificateFile): files on
// the node's disk, which the panel cannot see. A file is read again only
// when its size or modification time changed, so a status every 30 s
// costs a stat per file.
type certWatch struct {
	// mu is a leaf: held only around the cache, never while taking
	// Agent.mu or doing file I/O.
	mu    sync.Mutex
	cache map[string]certRead
}

type certRead struct {
	size     int64
	mod      time.Time
	notAfter int64
	err      string
}

// certFile is one certificate file an inbound names.
type certFile struct{ inbound, file string }

// certFiles lists the certificate files config's inbounds name, in config
// order, at most protocol.MaxStatusCerts. A config that does not parse
// names none (Validate refused it before it got here).
func certFiles(config []byte) []certFile {
	var c struct {
		Inbounds []struct {
			Tag            string `json:"tag"`
			StreamSettings *struct {
				TLSSettings *struct {
					Certificates []struct {
						CertificateFile string `json:"certificateFile"`
					} `json:"certificates"`
				} `json:"tlsSettings"`
			} `json:"streamSettings"`
		} `json:"inbounds"`
	}
	if len(config) == 0 || json.Unmarshal(config, &c) != nil {
		return nil
	}
	var out []certFile
	for _, in := range c.Inbounds {
		if in.StreamSettings == nil || in.StreamSettings.TLSSettings == nil {
			continue
		}
		for _, cert := range in.StreamSettings.TLSSettings.Certificates {
			if cert.CertificateFile == "" || len(out) >= protocol.MaxStatusCerts {
				continue
			}
			if len(in.Tag) > protocol.MaxCertNameBytes || len(cert.CertificateFile) > protocol.MaxCertNameBytes {
				continue
			}
			out = append(out, certFile{in.Tag, cert.CertificateFile})
		}
	}
	return out
}

// expiries reads (or remembers) the expiry of each file.
func (w *certWatch) expiries(files []certFile) []protocol.CertExpiry {
	if len(files) == 0 {
		return nil
	}
	out := make([]protocol.CertExpiry, 0, len(files))
	live := make(map[string]bool, len(files))
	for _, f := range files {
		live[f.file] = true
		r := w.read(f.file)
		out = append(out, protocol.CertExpiry{Inbound: f.inbound, File: f.file, NotAfter: r.notAfter, Error: r.err})
	}
	w.mu.Lock()
	for path := range w.cache {
		if !live[path] {
			delete(w.cache, path)
		}
	}
	w.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Inbound < out[j].Inbound })
	return out
}

func (w *certWatch) read(path string) certRead {
	fi, err := os.Stat(path)
	if err != nil {
		return certRead{err: statError(err)}
	}
	w.mu.Lock()
	r, ok := w.cache[path]
	w.mu.Unlock()
	if ok && r.size == fi.Size() && r.mod.Equal(fi.ModTime()) {
		return r
	}
	r = certRead{size: fi.Size(), mod: fi.ModTime()}
	if na, err := leafNotAfter(path); err != nil {
		r.err = err.Error()
	} else {
		r.notAfter = na.Unix()
	}
	w.mu.Lock()
	if w.cache == nil {
		w.cache = map[string]certRead{}
	}
	w.cache[path] = r
	w.mu.Unlock()
	return r
}

func statError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return "cannot read the file"
}

// maxCertFileBytes bounds what is read of one certificate file (a chain
// of a few certificates is a few KB).
const maxCertFileBytes = 1 << 20

// leafNotAfter is the expiry of the first certificate in a PEM file (the
// leaf, as Xray and every TLS server read a chain).
func leafNotAfter(path string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, errors.New(statError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertFileBytes))
	if err != nil {
		return time.Time{}, errors.New("cannot read the file")
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return time.Time{}, errors.New("no PEM certificate in the file")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return time.Time{}, fmt.Errorf("the first certificate does not parse: %v", err)
		}
		return c.NotAfter.UTC(), nil
	}
}
