package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/outpost-panel/outpost/backend/config"
)

// loadTLS reads the configured certificate pair once at start, so a broken
// pair fails the start rather than the first client; nil without TLS.
func loadTLS(cfg config.Config) (*tls.Certificate, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("loading TLS certificate: %s holds no certificate", cfg.TLSCert)
	}
	return &cert, nil
}

// tlsListener wraps ln with the panel's certificate.
func tlsListener(ln net.Listener, cert *tls.Certificate) net.Listener {
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
}

// leafOf parses the leaf of the panel's certificate (nil without TLS or
// when it does not parse, which loadTLS already refused).
func leafOf(cert *tls.Certificate) *x509.Certificate {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}
