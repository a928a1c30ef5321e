// Package arch holds tests of the backend's shape: which package may
// import which.
package arch

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/outpost-panel/outpost"

// storeImporters are the packages allowed to import backend/store: state,
// the one door to the database. The composition root (backend/app) and the
// CLI open the database through state.Open, so they need no exception;
// tests may import the store to build fixtures.
var storeImporters = []string{
	module + "/backend/state",
}

// TestOnlyStateImportsStore lists every package of the module with the
// packages its non-test files import, and fails naming each one outside
// storeImporters that imports backend/store (or a package under it).
func TestOnlyStateImportsStore(t *testing.T) {
	imports := moduleImports(t)
	store := module + "/backend/store"
	var bad []string
	for pkg, deps := range imports {
		if pkg == store || strings.HasPrefix(pkg, store+"/") || slices.Contains(storeImporters, pkg) {
			continue
		}
		for _, d := range deps {
			if d == store || strings.HasPrefix(d, store+"/") {
				bad = append(bad, pkg)
				break
			}
		}
	}
	slices.Sort(bad)
	for _, pkg := range bad {
		t.Errorf("%s imports backend/store: only backend/state may; add a named state method instead", pkg)
	}
	if _, ok := imports[store]; !ok {
		t.Fatalf("go list did not list %s: the test is not looking at this module", store)
	}
}

// moduleImports maps each package of the module to the packages its
// non-test Go files import.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	imports := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		imports[fields[0]] = fields[1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return imports
}
