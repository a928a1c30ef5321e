package api

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// The API contract is data: each route's Doc (routes.go) gives its
// summary, parameters and Go request/response types, and the OpenAPI
// document is generated from the server's route table by reflection over
// those types. Routes without a Doc (the dashboard) are left out.

// openAPIPath turns ":name" segments into "{name}" and "*" into "{path}".
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + strings.TrimSuffix(s[1:], "?") + "}"
		case s == "*":
			segs[i] = "{path}"
		}
	}
	return strings.Join(segs, "/")
}

var pathParamRe = regexp.MustCompile(`\{([a-z_]+)\}`)

var statusText = map[int]string{
	400: "The value was refused",
	401: "Not authenticated",
	403: "Not allowed",
	404: "Not found",
	409: "Already exists",
	413: "Request body too large",
	422: "Malformed request (bad JSON, wrong type, unknown field)",
	429: "Too many attempts",
}

// enumValues are the closed sets of named string types.
var enumValues = map[reflect.Type][]string{
	reflect.TypeFor[model.Status]():        {"active", "disabled", "limited", "expired", "on_hold"},
	reflect.TypeFor[model.ResetStrategy](): {"no_reset", "day", "week", "month", "year"},
	reflect.TypeFor[model.NodeStatus]():    {"connected", "connecting", "error", "disabled"},
	reflect.TypeFor[state.BulkAction]():    bulkActionNames(),
	reflect.TypeFor[subFormat]():           subFormatNames(),
	reflect.TypeFor[state.IPLimitAction](): {string(state.IPLimitNotify), string(state.IPLimitDisable)},
}

// schemaGen reflects Go types into JSON Schema (the 2020-12 dialect that
// OpenAPI 3.1 uses); named structs become components.
type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
	taken map[string]reflect.Type
	// request holds the struct types reachable from a request body. Their
	// fields are required only when tagged required:"true"; in types only
	// ever answered with, every field without omitempty is always present
	// (null when empty), so it is required.
	request map[reflect.Type]bool
}

func newSchemaGen(requests ...reflect.Type) *schemaGen {
	g := &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}, request: map[reflect.Type]bool{}}
	for _, t := range requests {
		g.markRequest(t)
	}
	return g
}

func (g *schemaGen) markRequest(t reflect.Type) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		g.markRequest(t.Elem())
	case reflect.Struct:
		if g.request[t] {
			return
		}
		g.request[t] = true
		for i := 0; i < t.NumField(); i++ {
			g.markRequest(t.Field(i).Type)
		}
	}
}

// componentName is the exported form of the Go type name, prefixed with the
// package when two packages use the same name.
func (g *schemaGen) componentName(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	r := []rune(t.Name())
	r[0] = unicode.ToUpper(r[0])
	name := string(r)
	if other, ok := g.taken[name]; ok && other != t {
		pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
		name = strings.ToUpper(pkg[:1]) + pkg[1:] + name
	}
	g.names[t] = name
	g.taken[name] = t
	return name
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	wireTimeType = reflect.TypeFor[wireTime]()
	rawType      = reflect.TypeFor[json.RawMessage]()
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case timeType, wireTimeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{}
	}
	if vals, ok := enumValues[t]; ok {
		return map[string]any{"type": "string", "enum": vals}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.schema(t.Elem()))
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint, reflect.Uint32, reflect.Uint16, reflect.Uint8:
		return map[string]any{"type": "integer"}
	case reflect.Int64, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		name := g.componentName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder: recursive types stop here
			g.defs[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// nullable lets s also be null: a type list for plain types, anyOf for refs.
func nullable(s map[string]any) map[string]any {
	if typ, ok := s["type"].(string); ok {
		out := make(map[string]any, len(s))
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []string{typ, "null"}
		if e, ok := s["enum"].([]string); ok {
			vals := make([]any, 0, len(e)+1)
			for _, v := range e {
				vals = append(vals, v)
			}
			out["enum"] = append(vals, nil)
		}
		return out
	}
	if len(s) == 0 {
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || f.Tag.Get("openapi") == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if rng := f.Tag.Get("limit"); rng != "" {
			withRange(props[name].(map[string]any), rng)
		}
		omitempty := strings.Contains(","+opts+",", ",omitempty,")
		if f.Tag.Get("required") == "true" || (!g.request[t] && !omitempty) {
			*required = append(*required, name)
		}
	}
}

// example builds a JSON value of type t for the reference page.
func example(t reflect.Type, depth int) any {
	switch t {
	case timeType, wireTimeType:
		return "2026-11-26T01:02:03"
	case rawType:
		return nil
	}
	if vals, ok := enumValues[t]; ok {
		return vals[0]
	}
	if depth > 6 {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return example(t.Elem(), depth+1)
	case reflect.Bool:
		return false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return 0
	case reflect.Float32, reflect.Float64:
		return 1.0
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64"
		}
		return []any{example(t.Elem(), depth+1)}
	case reflect.Map:
		return map[string]any{"key": example(t.Elem(), depth+1)}
	case reflect.Struct:
		obj := map[string]any{}
		exampleFields(t, obj, depth)
		return obj
	}
	return map[string]any{}
}

func exampleFields(t reflect.Type, obj map[string]any, depth int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || f.Tag.Get("openapi") == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			exampleFields(f.Type, obj, depth)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		obj[name] = example(f.Type, depth+1)
	}
}

// documented is the part of routes in the API contract.
func documented(routes []route) []route {
	var out []route
	for _, r := range routes {
		if r.Doc != nil {
			out = append(out, r)
		}
	}
	return out
}

// openAPIDocument builds the whole document from the documented routes.
func openAPIDocument(routes []route, version string) map[string]any {
	routes = documented(routes)
	var bodies []reflect.Type
	for _, r := range routes {
		if r.Doc.Body != nil {
			bodies = append(bodies, r.Doc.Body)
		}
	}
	g := newSchemaGen(bodies...)
	errorRef := g.schema(reflect.TypeFor[errorBody]())
	paths := map[string]any{}
	for _, r := range routes {
		p := openAPIPath(r.Path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		item[strings.ToLower(r.Method)] = operation(g, r, p, errorRef)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Outpost API",
			"version":     version,
			"description": "Marzban-compatible REST API of the Outpost panel. Errors are {\"detail\": \"...\"}. Authenticate with POST /api/admin/token and send Authorization: Bearer <token>.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"nodeToken": map[string]any{
					"type": "apiKey", "in": "header", "name": "Authorization",
					"description": "A node's own token, issued when the node is created.",
				},
			},
		},
	}
}

func operation(g *schemaGen, rt route, path string, errorRef map[string]any) map[string]any {
	r := rt.Doc
	op := map[string]any{
		"summary":     r.Summary,
		"operationId": operationID(rt),
		"x-auth":      string(rt.Auth),
	}
	if rt.Scope != "" {
		// What an API key needs to call it (README: API keys).
		op["x-scope"] = rt.Scope
	}
	if r.Tag != "" {
		op["tags"] = []string{r.Tag}
	}
	switch rt.Auth {
	case authAdmin, authSudo:
		op["security"] = []any{map[string]any{"bearer": []string{}}}
	case authNode:
		op["security"] = []any{map[string]any{"nodeToken": []string{}}}
	default:
		op["security"] = []any{}
	}
	var params []any
	for _, m := range pathParamRe.FindAllStringSubmatch(path, -1) {
		typ := "string"
		if m[1] == "id" {
			typ = "integer"
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": typ}})
	}
	for _, q := range r.Query {
		s := map[string]any{"type": q.Type}
		if q.Limit != "" {
			withRange(s, q.Limit)
		}
		if q.Multi {
			s = map[string]any{"type": "array", "items": s}
		}
		p := map[string]any{"name": q.Name, "in": "query", "required": false, "schema": s}
		if q.Multi {
			p["style"], p["explode"] = "form", true
		}
		if q.Description != "" {
			p["description"] = q.Description
		}
		params = append(params, p)
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	switch {
	case r.BodyKind == kindForm:
		props := map[string]any{}
		for _, f := range r.FormFields {
			props[f] = map[string]any{"type": "string"}
		}
		for _, f := range r.OptionalFormFields {
			props[f] = map[string]any{"type": "string"}
		}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/x-www-form-urlencoded": map[string]any{"schema": map[string]any{
				"type": "object", "properties": props, "required": r.FormFields,
			}},
		}}
	case r.Body != nil:
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": g.schema(r.Body)},
		}}
	}
	responses := map[string]any{}
	ok := map[string]any{"description": "OK"}
	switch r.ResponseKind {
	case kindText:
		ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
	case kindHTML:
		ok["content"] = map[string]any{"text/html": map[string]any{"schema": map[string]any{"type": "string"}}}
	case kindAny:
		ok["content"] = map[string]any{"*/*": map[string]any{"schema": map[string]any{}}}
	case kindBinary:
		ok["content"] = map[string]any{"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
	case kindWebSocket:
		responses["101"] = map[string]any{"description": "Switching to the node WebSocket protocol"}
		ok = nil
	case kindRedirect:
		responses["302"] = map[string]any{"description": "Redirect"}
		ok = nil
	default:
		if r.Response != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(r.Response)}}
		}
	}
	if ok != nil {
		responses["200"] = ok
	}
	for _, code := range errorCodes(rt) {
		responses[strconv.Itoa(code)] = map[string]any{
			"description": statusText[code],
			"content":     map[string]any{"application/json": map[string]any{"schema": errorRef}},
		}
	}
	op["responses"] = responses
	return op
}

// errorCodes are the route's error statuses: those its auth implies, 422
// for any route with a body or query, and the listed ones.
func errorCodes(rt route) []int {
	r := rt.Doc
	set := map[int]bool{}
	switch rt.Auth {
	case authAdmin:
		// 403: an API key whose scopes do not cover the route.
		set[401], set[403] = true, true
	case authSudo:
		set[401], set[403] = true, true
	}
	if r.Body != nil || r.BodyKind == kindForm {
		set[422], set[413] = true, true
	}
	for _, c := range r.Errors {
		set[c] = true
	}
	out := make([]int, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}

// operationID is a stable camelCase name: method plus the fixed segments.
func operationID(r route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Method))
	for _, seg := range strings.Split(r.Path, "/") {
		if seg == "" || seg == "api" || seg == "*" {
			continue
		}
		by := strings.HasPrefix(seg, ":")
		seg = strings.TrimPrefix(seg, ":")
		if by {
			b.WriteString("By")
		}
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
			rs := []rune(part)
			rs[0] = unicode.ToUpper(rs[0])
			b.WriteString(string(rs))
		}
	}
	return b.String()
}

// apiDocs is the document and the reference page of one server, each
// built once on first request: the route table and the types are fixed for
// the life of the server.
type apiDocs struct {
	routes []route

	jsonOnce sync.Once
	json     []byte
	jsonErr  error

	pageOnce sync.Once
	page     []byte
	pageErr  error
}

func (d *apiDocs) openAPIJSON() ([]byte, error) {
	d.jsonOnce.Do(func() {
		d.json, d.jsonErr = json.MarshalIndent(openAPIDocument(d.routes, apiDocVersion), "", "  ")
	})
	return d.json, d.jsonErr
}

// apiDocVersion is the version of the contract in info.version: Marzban's
// API level it follows, with Outpost's own revision of it.
const apiDocVersion = "0.8.4-outpost.1"

// withRange adds the named range (model.Ranges or model.FloatRanges, the
// one table the request decoders check numbers against) to a number's
// schema as minimum and maximum.
func withRange(s map[string]any, name string) {
	if r, ok := model.Ranges[name]; ok {
		s["minimum"], s["maximum"] = r.Min, r.Max
		return
	}
	if r, ok := model.FloatRanges[name]; ok {
		s["minimum"], s["maximum"] = r.Min, r.Max
		return
	}
	panic("api: unknown range " + name) // a typo in a limit tag: caught by every test
}
