package singbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	box "github.com/sagernet/sing-box"
	"github.com/sagernet/sing-box/experimental/deprecated"
	"github.com/sagernet/sing-box/include"
	"github.com/sagernet/sing-box/option"
	"github.com/sagernet/sing/common/json"
	"github.com/sagernet/sing/service"
)

// goldenGlob is where backend/sub writes its sing-box golden files.
const goldenGlob = "../../testdata/formats/sing-box/*.json"

// deprecations collects what sing-box reports as deprecated: output that
// works today but breaks on the next sing-box release counts as a failure.
type deprecations struct {
	mu    sync.Mutex
	notes []string
}

func (d *deprecations) ReportDeprecated(n deprecated.Note) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.notes = append(d.notes, n.Name+": "+n.Description)
}

// check parses content exactly as `sing-box check` does (options with the
// protocol registries in the context, then box.New without Start) and
// returns the first error.
func check(t *testing.T, content []byte) error {
	t.Helper()
	dep := &deprecations{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = service.ContextWith[deprecated.Manager](ctx, dep)
	ctx = include.Context(ctx)
	opts, err := json.UnmarshalExtendedContext[option.Options](ctx, content)
	if err != nil {
		return err
	}
	if err := checkGroups(opts.Outbounds); err != nil {
		return err
	}
	instance, err := box.New(box.Options{Context: ctx, Options: opts})
	if err != nil {
		return err
	}
	if err := instance.Close(); err != nil {
		return err
	}
	if len(dep.notes) > 0 {
		return &deprecatedError{notes: dep.notes}
	}
	return nil
}

// checkGroups does what sing-box only does at Start (which needs the
// network): every selector/urltest is non-empty and names outbounds that
// exist.
func checkGroups(outbounds []option.Outbound) error {
	tags := make(map[string]bool, len(outbounds))
	for _, o := range outbounds {
		tags[o.Tag] = true
	}
	for _, o := range outbounds {
		var members []string
		switch g := o.Options.(type) {
		case *option.SelectorOutboundOptions:
			members = g.Outbounds
		case *option.URLTestOutboundOptions:
			members = g.Outbounds
		default:
			continue
		}
		if len(members) == 0 {
			return fmt.Errorf("%s group %q is empty", o.Type, o.Tag)
		}
		for _, m := range members {
			if !tags[m] {
				return fmt.Errorf("%s group %q names unknown outbound %q", o.Type, o.Tag, m)
			}
		}
	}
	return nil
}

type deprecatedError struct{ notes []string }

func (e *deprecatedError) Error() string {
	return "uses deprecated sing-box features: " + strings.Join(e.notes, "; ")
}

func TestGoldenFilesAccepted(t *testing.T) {
	files, err := filepath.Glob(goldenGlob)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no sing-box golden files match %s: nothing would be checked", goldenGlob)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			content, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := check(t, content); err != nil {
				t.Errorf("sing-box rejects %s: %v", file, err)
			}
		})
	}
}

// TestCheckerCanFail proves check is not vacuous: hand-written good-*.json
// samples pass and each bad-*.json one (wrong in one way a client refuses)
// fails.
func TestCheckerCanFail(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var good, bad int
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			content, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			err = check(t, content)
			switch {
			case strings.HasPrefix(name, "bad-"):
				bad++
				if err == nil {
					t.Errorf("%s accepted; it is invalid on purpose", file)
				} else {
					t.Logf("rejected as expected: %v", err)
				}
			default:
				good++
				if err != nil {
					t.Errorf("%s rejected: %v", file, err)
				}
			}
		})
	}
	if good == 0 || bad == 0 {
		t.Fatalf("need good and bad samples in testdata, have %d good and %d bad", good, bad)
	}
}
