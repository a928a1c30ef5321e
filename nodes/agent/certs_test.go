package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeCert(t *testing.T, path string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node.example"},
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter, DNSNames: []string{"node.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	data := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}) // a key before the leaf is skipped
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCertExpiries(t *testing.T) {
	dir := t.TempDir()
	good, bad, missing := filepath.Join(dir, "good.pem"), filepath.Join(dir, "bad.pem"), filepath.Join(dir, "missing.pem")
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	writeCert(t, good, expiry)
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := []byte(`{"inbounds":[
		{"tag":"vless-tls","streamSettings":{"security":"tls","tlsSettings":{"certificates":[{"certificateFile":"` + good + `","keyFile":"k"},{"certificate":["inline, not a file"]}]}}},
		{"tag":"plain","streamSettings":{"network":"tcp"}},
		{"tag":"trojan-tls","streamSettings":{"tlsSettings":{"certificates":[{"certificateFile":"` + bad + `"},{"certificateFile":"` + missing + `"}]}}}]}`)
	files := certFiles(config)
	if len(files) != 3 {
		t.Fatalf("files: %+v", files)
	}
	var w certWatch
	got := w.expiries(files)
	if len(got) != 3 {
		t.Fatalf("expiries: %+v", got)
	}
	byFile := map[string]int{}
	for i, c := range got {
		byFile[c.File] = i
	}
	if c := got[byFile[good]]; c.Inbound != "vless-tls" || c.NotAfter != expiry.Unix() || c.Error != "" {
		t.Fatalf("good: %+v", c)
	}
	if c := got[byFile[bad]]; c.Inbound != "trojan-tls" || c.NotAfter != 0 || c.Error != "no PEM certificate in the file" {
		t.Fatalf("bad: %+v", c)
	}
	if c := got[byFile[missing]]; c.NotAfter != 0 || c.Error != "no such file" {
		t.Fatalf("missing: %+v", c)
	}

	// A renewed file (new size or time) is read again; an unchanged one
	// comes from the cache.
	renewed := expiry.AddDate(0, 3, 0)
	writeCert(t, good, renewed)
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(good, later, later); err != nil {
		t.Fatal(err)
	}
	got = w.expiries(files)
	if c := got[byFile[good]]; c.NotAfter != renewed.Unix() {
		t.Fatalf("renewed certificate not read again: %+v", c)
	}
	// Files no inbound names any more leave the cache.
	w.expiries(files[:1])
	if len(w.cache) != 1 {
		t.Fatalf("cache keeps %d files", len(w.cache))
	}
	if certFiles([]byte("{not json")) != nil || certFiles(nil) != nil {
		t.Fatal("a config that does not parse names files")
	}
}
