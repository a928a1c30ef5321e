package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A panel serving HTTPS with a self-signed certificate: GET
// /api/node/settings publishes the certificate and the pin, a node started
// with that pin connects and serves, and nodes with another pin or none are
// kept out (the certificate is what they trust, not the network).
func TestPanelOverTLSWithPinnedNodes(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, pin := selfSignedCert(t, "panel.test")
	certFile, keyFile := filepath.Join(dir, "panel.crt"), filepath.Join(dir, "panel.key")
	if err := os.WriteFile(certFile, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	// The tests' own client pins the certificate as the nodes do.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no certificate")
			}
			if sum := sha256.Sum256(raw[0]); hex.EncodeToString(sum[:]) != pin {
				return errors.New("not the panel's certificate")
			}
			return nil
		},
	}}}
	p := startPanelWith(t, filepath.Join(dir, "panel"), "", client, "--tls-cert", certFile, "--tls-key", keyFile)

	var settings struct {
		Certificate       string `json:"certificate"`
		CertificateSHA256 string `json:"certificate_sha256"`
		PubliclyTrusted   bool   `json:"certificate_publicly_trusted"`
	}
	p.mustCall(t, "GET", "/api/node/settings", nil, &settings)
	if settings.CertificateSHA256 != pin || settings.PubliclyTrusted {
		t.Fatalf("settings: sha256 %q publicly trusted %v; want %q, false", settings.CertificateSHA256, settings.PubliclyTrusted, pin)
	}
	if block, _ := pem.Decode([]byte(settings.Certificate)); block == nil || hex.EncodeToString(sha256Of(block.Bytes)) != pin {
		t.Fatalf("settings certificate is not the panel's: %q", settings.Certificate)
	}
	// Plain HTTP on the same port is not served.
	if resp, err := http.Get("http://" + p.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the HTTPS panel answered plain HTTP")
		}
	}

	_, _, otherPin := selfSignedCert(t, "other.test")
	good := p.createNode(t, "pinned")
	wrong := p.createNode(t, "wrong-pin")
	unpinned := p.createNode(t, "unpinned")
	startNode(t, p.url(), wrong.Token, filepath.Join(dir, "wrong"), "--panel-cert-sha256", otherPin)
	startNode(t, p.url(), unpinned.Token, filepath.Join(dir, "unpinned"))
	startNode(t, p.url(), good.Token, filepath.Join(dir, "good"), "--panel-cert-sha256", settings.CertificateSHA256)
	waitFor(t, 30*time.Second, "the pinned node to connect over TLS", func() bool {
		n := p.node(t, good.ID)
		return n.Status == "connected" && n.AppliedRevision > 0
	})
	// The other two started first and retry at most a second apart: give
	// them a few more tries, then check that none got in.
	time.Sleep(3 * time.Second)
	for _, n := range []apiNode{wrong, unpinned} {
		if got := p.node(t, n.ID); got.Status == "connected" || got.AppliedRevision != 0 {
			t.Fatalf("node %s got in: status %s revision %d", n.Name, got.Status, got.AppliedRevision)
		}
	}
}

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}
