package app

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"

	"github.com/outpost-panel/outpost/backend/config"
)

// tlsListener wraps ln with the configured certificate. The certificate was
// loaded once at start: a broken pair fails the start, not the first client.
func tlsListener(ln net.Listener, cfg config.Config) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// certPin is the SHA-256 of the panel's leaf certificate, so the built-in
// node trusts exactly this panel even with a self-signed certificate.
func certPin(cfg config.Config) string {
	if cfg.TLSCert == "" {
		return ""
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil || len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return hex.EncodeToString(sum[:])
}
