package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// writeCertFiles writes a self-signed certificate for name expiring at
// notAfter and its key, as an operator's ACME client leaves them on a node.
func writeCertFiles(t *testing.T, dir, name string, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, DNSNames: []string{name}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestNodeCertificateFileAlert: a real node whose inbound reads its TLS
// certificate from the node's own disk (certificateFile) reports the
// file's expiry in its status; the panel shows it on the node and the
// certificate alert fires for it, naming the node, inbound and file.
func TestNodeCertificateFileAlert(t *testing.T) {
	p := startPanelWith(t, t.TempDir(), "", nil, "--alert-interval", "500ms")
	ports := testPorts(t)
	var cfg map[string]any
	if err := json.Unmarshal(xraytest.ServerConfig(ports), &cfg); err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(5 * 24 * time.Hour).Truncate(time.Second)
	certFile, keyFile := writeCertFiles(t, t.TempDir(), "edge.example", notAfter)
	cfg["inbounds"] = append(cfg["inbounds"].([]any), map[string]any{
		"tag": "trojan-tls", "listen": "127.0.0.1", "port": lowPort(t), "protocol": "trojan",
		"settings": map[string]any{"clients": []any{}},
		"streamSettings": map[string]any{"network": "raw", "security": "tls", "tlsSettings": map[string]any{
			"certificates": []any{map[string]any{"certificateFile": certFile, "keyFile": keyFile}}}},
	})
	p.mustCall(t, "PUT", "/api/core/config", cfg, nil)

	n := p.createNode(t, "edge-tls")
	nd := startNode(t, p.url(), n.Token, t.TempDir())
	defer nd.stop()

	type nodeCerts struct {
		Health *struct {
			Certs []struct {
				Inbound, File, Error string
				NotAfter             *string `json:"not_after"`
			} `json:"certs"`
		} `json:"health"`
	}
	var got nodeCerts
	waitFor(t, 60*time.Second, "the node to report its certificate file", func() bool {
		got = nodeCerts{}
		p.mustCall(t, "GET", "/api/node/"+jsonNumber(n.ID), nil, &got)
		return got.Health != nil && len(got.Health.Certs) == 1
	})
	c := got.Health.Certs[0]
	if c.Inbound != "trojan-tls" || c.File != certFile || c.Error != "" || c.NotAfter == nil || *c.NotAfter != notAfter.UTC().Format("2006-01-02T15:04:05") {
		t.Fatalf("the node's certificate as the panel shows it: %+v (want expiry %s)", c, notAfter)
	}

	subject := "node:" + jsonNumber(n.ID) + ":cert:trojan-tls:" + certFile
	var list struct {
		Alerts []struct {
			Rule, Subject, Target, Message string
			Value                          float64
		} `json:"alerts"`
	}
	waitFor(t, 30*time.Second, "the certificate alert for the node's file", func() bool {
		list.Alerts = nil
		p.mustCall(t, "GET", "/api/alerts", nil, &list)
		for _, a := range list.Alerts {
			if a.Rule == "cert_expiry" && a.Subject == subject {
				return true
			}
		}
		return false
	})
	for _, a := range list.Alerts {
		if a.Subject == subject && (a.Value != 4 && a.Value != 5 || a.Target != "node edge-tls, inbound trojan-tls ("+certFile+")") {
			t.Fatalf("alert %+v: want 4 or 5 days left, the node, inbound and file named", a)
		}
	}
}
