package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestParseReportsEveryProblem: every bad value, in a flag or in its
// variable, is reported at once, and none is replaced by the default.
func TestParseReportsEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string // each must appear; nil: no error
	}{
		{"good", []string{"--panel", "http://p", "--token", "t", "--usage-interval", "2s"},
			map[string]string{"NODE_MAX_BACKOFF": "1m"}, nil},
		{"bad durations in the environment", nil,
			map[string]string{"NODE_PANEL_URL": "http://p", "NODE_TOKEN": "t", "NODE_USAGE_INTERVAL": "soon", "NODE_MAX_BACKOFF": "-5s"},
			[]string{`NODE_USAGE_INTERVAL="soon"`, `NODE_MAX_BACKOFF="-5s"`}},
		{"bad flags and missing values together", []string{"--usage-interval", "often", "--max-backoff", "0"},
			nil, []string{`--usage-interval="often"`, `--max-backoff="0"`, "--panel / NODE_PANEL_URL is required", "--token / NODE_TOKEN is required"}},
		{"a flag wins over its bad variable", []string{"--panel", "http://p", "--token", "t", "--usage-interval", "3s"},
			map[string]string{"NODE_USAGE_INTERVAL": "soon"}, nil},
		{"stray arguments", []string{"--panel", "http://p", "--token", "t", "extra"}, nil, []string{"unexpected arguments: extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.args, envOf(tc.env), io.Discard)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	c, err := parse([]string{"--panel", "http://p", "--token", "t", "--usage-interval", "3s"}, envOf(map[string]string{"NODE_MAX_BACKOFF": "1m"}), io.Discard)
	if err != nil || c.UsageInterval != 3*time.Second || c.MaxBackoff != time.Minute {
		t.Fatalf("parsed %v / %v, err %v; want 3s and 1m", c.UsageInterval, c.MaxBackoff, err)
	}
}

// TestBadConfigurationExitsTwo runs the node binary with a bad variable
// and a missing token: it exits 2 naming both, before it opens anything.
func TestBadConfigurationExitsTwo(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--panel", "http://127.0.0.1:1", "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "OUTPOST_TEST_RUN_NODE=1", "NODE_TOKEN=", "NODE_USAGE_INTERVAL=1 second")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v; want status 2\n%s", err, out)
	}
	for _, w := range []string{"node: configuration:", `NODE_USAGE_INTERVAL="1 second"`, "NODE_TOKEN is required"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output does not mention %q:\n%s", w, out)
		}
	}
}

// TestPanelAddresses: --panel repeated or comma separated, or
// NODE_PANEL_URL comma separated, gives the addresses in order; a flag
// replaces the variable; a bad address is refused by name.
func TestPanelAddresses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want []string
	}{
		{"one flag", []string{"--panel", "http://a"}, "", []string{"http://a"}},
		{"repeated", []string{"--panel", "http://a", "--panel", "https://b:8443"}, "", []string{"http://a", "https://b:8443"}},
		{"comma separated", []string{"--panel", "http://a, http://b,,http://c"}, "", []string{"http://a", "http://b", "http://c"}},
		{"both", []string{"--panel", "http://a,http://b", "--panel", "http://c"}, "", []string{"http://a", "http://b", "http://c"}},
		{"variable", nil, "http://a,https://b", []string{"http://a", "https://b"}},
		{"a flag replaces the variable", []string{"--panel", "http://c"}, "http://a,http://b", []string{"http://c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(append(tc.args, "--token", "t"), envOf(map[string]string{"NODE_PANEL_URL": tc.env}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.PanelURLs, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("panels %q; want %q", c.PanelURLs, tc.want)
			}
		})
	}
	_, err := parse([]string{"--panel", "http://a,ftp://b", "--token", "t"}, envOf(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `--panel "ftp://b"`) {
		t.Fatalf("a bad second address: %v; want it refused by name", err)
	}
}
