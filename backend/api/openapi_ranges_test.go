package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/model"
)

// Every range of the one table the request decoders check numbers against
// (model.Ranges, model.FloatRanges) is in /openapi.json as minimum and
// maximum, and every limit-tagged request field's property carries its
// own range.
func TestOpenAPIShowsRanges(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/openapi.json", "", nil)
	e.expect(r, 200, "openapi.json")
	var doc any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	type pair struct{ min, max float64 }
	found := map[pair]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			lo, okLo := t["minimum"].(float64)
			hi, okHi := t["maximum"].(float64)
			if okLo && okHi {
				found[pair{lo, hi}] = true
			}
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	walk(doc)
	for name, rg := range model.Ranges {
		if !found[pair{float64(rg.Min), float64(rg.Max)}] {
			t.Errorf("range %q (%d to %d) appears nowhere in /openapi.json", name, rg.Min, rg.Max)
		}
	}
	for name, rg := range model.FloatRanges {
		if !found[pair{rg.Min, rg.Max}] {
			t.Errorf("range %q (%v to %v) appears nowhere in /openapi.json", name, rg.Min, rg.Max)
		}
	}

	schemas := doc.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	fields := api.BodyRangeFields()
	if len(fields) < 10 {
		t.Fatalf("only %d limit-tagged fields found: the walk is broken", len(fields))
	}
	for _, f := range fields {
		r := []rune(f.Type)
		r[0] = unicode.ToUpper(r[0])
		comp := string(r)
		matched := 0
		for name, s := range schemas {
			if name != comp && !strings.HasSuffix(name, comp) {
				continue
			}
			props, _ := s.(map[string]any)["properties"].(map[string]any)
			p, ok := props[f.Field].(map[string]any)
			if !ok {
				continue
			}
			matched++
			if p["minimum"] != f.Min || p["maximum"] != f.Max {
				t.Errorf("%s.%s: minimum %v, maximum %v; want %v, %v", name, f.Field, p["minimum"], p["maximum"], f.Min, f.Max)
			}
		}
		if matched == 0 {
			t.Errorf("%s.%s: no component property found", f.Type, f.Field)
		}
	}
}
