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
