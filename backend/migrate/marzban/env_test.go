package marzban

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Marzban's .env as its template writes it: commented-out defaults,
// spaces around "=", quotes, inline comments, export; every switch the
// file does not set is false, as Marzban reads it.
func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "env")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := ReadEnvFile(write(`UVICORN_PORT = 8000
# USE_CUSTOM_JSON_DEFAULT = True
USE_CUSTOM_JSON_FOR_V2RAYN = True
USE_CUSTOM_JSON_FOR_V2RAYNG="1"   
export USE_CUSTOM_JSON_FOR_HAPP=yes # Happ imports JSON
USE_CUSTOM_JSON_FOR_STREISAND = 'off'
SUDO_PASSWORD = "not read"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"USE_CUSTOM_JSON_DEFAULT": false, "USE_CUSTOM_JSON_FOR_V2RAYN": true, "USE_CUSTOM_JSON_FOR_V2RAYNG": true,
		"USE_CUSTOM_JSON_FOR_STREISAND": false, "USE_CUSTOM_JSON_FOR_HAPP": true}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// The last assignment wins; an empty value is unset.
	got, err = ReadEnvFile(write("USE_CUSTOM_JSON_DEFAULT=false\nUSE_CUSTOM_JSON_DEFAULT=ON\nUSE_CUSTOM_JSON_FOR_HAPP=\n"))
	if err != nil || !got["USE_CUSTOM_JSON_DEFAULT"] || got["USE_CUSTOM_JSON_FOR_HAPP"] {
		t.Fatalf("%v %v", got, err)
	}
	// A value Marzban refuses is an error naming the line.
	_, err = ReadEnvFile(write("\n\nUSE_CUSTOM_JSON_FOR_HAPP = sometimes\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "USE_CUSTOM_JSON_FOR_HAPP") {
		t.Fatalf("bad value: %v", err)
	}
	if _, err := ReadEnvFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}
