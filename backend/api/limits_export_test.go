package api

import (
	"reflect"
	"sort"
	"strings"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// requestBodies are the types decodeJSON fills, by route.
var requestBodies = map[string]any{
	"user":                  userBody{},
	"user template":         templateBody{},
	"node":                  nodeBody{},
	"admin create":          adminCreateBody{},
	"admin modify":          adminModifyBody{},
	"hosts":                 map[string][]state.Host{},
	"hosts preview":         hostsPreviewBody{},
	"subscription settings": state.SubscriptionSettings{},
}

// UncheckedBodyNumbers lists the numeric fields of request bodies without
// a limit tag naming a known range.
func UncheckedBodyNumbers() []string {
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array:
			walk(t.Elem(), path+"[]")
		case reflect.Struct:
			if t == reflect.TypeFor[wireTime]() || seen[t] {
				return
			}
			seen[t] = true
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if !f.IsExported() || name == "-" {
					continue
				}
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Float64 {
					rng := f.Tag.Get("limit")
					_, isInt := model.Ranges[rng]
					_, isFloat := model.FloatRanges[rng]
					if !(isInt && ft.Kind() < reflect.Float32) && !(isFloat && ft.Kind() >= reflect.Float32) {
						out = append(out, path+"."+name)
					}
					continue
				}
				walk(f.Type, path+"."+name)
			}
		}
	}
	for route, body := range requestBodies {
		walk(reflect.TypeOf(body), route)
	}
	sort.Strings(out)
	return out
}

// RangeField is a numeric request field with a limit tag: the Go type
// whose component shows it, its JSON name and its range.
type RangeField struct {
	Type, Field string
	Min, Max    float64
}

// BodyRangeFields lists every numeric field of a documented request body
// carrying a limit tag, by the named struct type whose /openapi.json component holds it
// (embedded structs count as their outer type's, as the schema flattens
// them).
func BodyRangeFields() []RangeField {
	var out []RangeField
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, owner string)
	walk = func(t reflect.Type, owner string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array:
			walk(t.Elem(), "")
		case reflect.Struct:
			if t == reflect.TypeFor[wireTime]() || seen[t] && owner == "" {
				return
			}
			seen[t] = true
			if owner == "" {
				owner = t.Name()
			}
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if f.Anonymous && name == "" {
					walk(f.Type, owner)
					continue
				}
				if !f.IsExported() || name == "-" {
					continue
				}
				if rng := f.Tag.Get("limit"); rng != "" && owner != "" {
					rf := RangeField{Type: owner, Field: name}
					if r, ok := model.Ranges[rng]; ok {
						rf.Min, rf.Max = float64(r.Min), float64(r.Max)
					} else if r, ok := model.FloatRanges[rng]; ok {
						rf.Min, rf.Max = r.Min, r.Max
					}
					out = append(out, rf)
					continue
				}
				walk(f.Type, "")
			}
		}
	}
	// The bodies as documented (a route may document the type it answers
	// with and decode another: the documented one must show the ranges).
	for _, r := range documented(tableServer.routes()) {
		if r.Doc.Body != nil {
			walk(r.Doc.Body, "")
		}
	}
	return out
}
