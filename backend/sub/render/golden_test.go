package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// goldenDir is shared with the validators' module, which runs sing-box's and
// mihomo's own parsers over the same files.
const goldenDir = "../testdata/formats"

func formatExt(f Format) string {
	switch f {
	case V2Ray:
		return ".txt"
	case Clash, ClashMeta:
		return ".yaml"
	}
	return ".json"
}

func goldenPath(f Format, name string) string {
	return filepath.Join(goldenDir, string(f), name+formatExt(f))
}

// renderCase renders one case; ok is false when the format has nothing to
// say for it (outline without a Shadowsocks entry).
func renderCase(t *testing.T, f Format, gc goldenCase) ([]byte, bool) {
	t.Helper()
	body, _, err := Render(f, gc.input(t))
	if f == Outline && err != nil {
		return nil, false
	}
	if err != nil {
		t.Fatalf("%s %s: %v", f, gc.name, err)
	}
	return body, true
}

// TestGoldenFormats compares every format x case with its golden file;
// UPDATE_GOLDEN=1 rewrites them (and removes the stale ones).
func TestGoldenFormats(t *testing.T) {
	update := os.Getenv("UPDATE_GOLDEN") != ""
	for _, f := range Formats {
		if update {
			if err := os.RemoveAll(filepath.Join(goldenDir, string(f))); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(goldenDir, string(f)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, gc := range goldenCases() {
			t.Run(string(f)+"/"+gc.name, func(t *testing.T) {
				got, ok := renderCase(t, f, gc)
				path := goldenPath(f, gc.name)
				if update {
					if ok {
						if err := os.WriteFile(path, got, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					return
				}
				want, err := os.ReadFile(path)
				if !ok {
					if err == nil {
						t.Fatalf("%s exists but the format renders nothing for this case", path)
					}
					return
				}
				if err != nil {
					t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
				}
				if string(got) != string(want) {
					t.Fatalf("%s differs from the output (UPDATE_GOLDEN=1 to accept):\n%s", path, firstDiff(string(got), string(want)))
				}
			})
		}
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

func itoa(n int) string { return string(appendInt(nil, n)) }
