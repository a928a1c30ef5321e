package api

// The one seam between the subscription routes and backend/sub/render.
// While render was being written this file held a stand-in; now every name
// here is render's.

import (
	"github.com/outpost-panel/outpost/backend/sub/render"
)

type (
	subFormat    = render.Format
	subRule      = render.Rule
	subSelector  = *render.Selector
	subInput     = render.Input
	subTemplates = render.Templates
)

const subDefaultFormat = render.V2Ray

// subFormatNames lists every format, for the API document's enum (the
// dashboard's rule editor offers exactly these).
func subFormatNames() []string {
	out := make([]string, len(render.Formats))
	for i, f := range render.Formats {
		out[i] = string(f)
	}
	return out
}

func parseSubFormat(s string) (subFormat, bool) { return render.ParseFormat(s) }

func defaultSubRules() []subRule { return render.DefaultRules() }

func validateSubRules(rules []subRule) error { return render.ValidateRules(rules) }

func newSubSelector(rules []subRule) (subSelector, error) { return render.NewSelector(rules) }

func renderSub(f subFormat, in subInput) ([]byte, string, error) { return render.Render(f, in) }

func loadSubTemplates(dir string) (*subTemplates, error) { return render.LoadTemplates(dir) }
