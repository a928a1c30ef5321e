package api_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/api"
)

// TestOpenAPIRoutesMatchFiber keeps the router, the route table and the
// contract in step. Fiber serves exactly the table's routes, in the
// table's order (nothing is registered around the table), and
// /openapi.json lists exactly the table's documented routes; only pages
// outside /api and /sub (the dashboard) may go undocumented.
func TestOpenAPIRoutesMatchFiber(t *testing.T) {
	e := newEnv(t) // with a hub, so the node and log sockets are mounted
	var served, heads []string
	for _, r := range e.app.GetRoutes(true) {
		switch r.Method {
		case "USE":
		case "HEAD":
			heads = append(heads, "GET "+r.Path)
		default:
			served = append(served, r.Method+" "+r.Path)
		}
	}
	table := api.TableRoutes()
	seen := map[string]bool{}
	for _, k := range table {
		if seen[k] {
			t.Errorf("the route table lists %s twice", k)
		}
		seen[k] = true
	}
	// Fiber keeps one stack per method, in registration order.
	var tableByMethod []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"} {
		for _, k := range table {
			if strings.HasPrefix(k, m+" ") {
				tableByMethod = append(tableByMethod, k)
			}
		}
	}
	if !slices.Equal(served, tableByMethod) {
		t.Errorf("Fiber serves routes the table does not list, or in another order:\n%s", lineDiff(tableByMethod, served))
	}
	var gets []string
	for _, k := range table {
		if strings.HasPrefix(k, "GET ") {
			gets = append(gets, k)
		}
	}
	if !slices.Equal(heads, gets) {
		t.Errorf("HEAD routes differ from the GET routes:\n%s", lineDiff(gets, heads))
	}

	documented := api.DocumentedRoutes()
	for _, k := range table {
		_, path, _ := strings.Cut(k, " ")
		if (path == "/api" || strings.HasPrefix(path, "/api/") || path == "/sub" || strings.HasPrefix(path, "/sub/")) && !slices.Contains(documented, k) {
			t.Errorf("route %s has no Doc: every /api and /sub route is part of the contract", k)
		}
	}
	var inDocument []string
	for path, item := range fetchOpenAPI(t, e)["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			inDocument = append(inDocument, strings.ToUpper(method)+" "+path)
		}
	}
	var want []string
	for _, k := range documented {
		method, path, _ := strings.Cut(k, " ")
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		want = append(want, method+" "+strings.Join(segs, "/"))
	}
	sort.Strings(inDocument)
	sort.Strings(want)
	if !slices.Equal(inDocument, want) {
		t.Errorf("/openapi.json differs from the documented routes:\n%s", lineDiff(want, inDocument))
	}
}

// TestRoutesNotShadowed: Fiber takes the first route whose pattern
// matches, so a fixed path listed after a parameter path of the same
// method that matches it (GET /api/node/settings after GET /api/node/:id)
// would never be reached.
func TestRoutesNotShadowed(t *testing.T) {
	table := api.TableRoutes()
	for j, later := range table {
		method, path, _ := strings.Cut(later, " ")
		for _, earlier := range table[:j] {
			m, pattern, _ := strings.Cut(earlier, " ")
			if m == method && pattern != path && patternTakes(pattern, path) {
				t.Errorf("%s is listed before %s and takes its requests", earlier, later)
			}
		}
	}
}

// patternTakes reports whether a Fiber pattern matches every request the
// path would: a parameter takes any one segment, "*" the rest, and a
// parameter of path stands for any value, so only a parameter or "*" of
// pattern matches it.
func patternTakes(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, p := range ps {
		if p == "*" {
			return true
		}
		if i >= len(qs) {
			return false
		}
		q := qs[i]
		switch {
		case strings.HasPrefix(p, ":"):
		case strings.HasPrefix(q, ":") || q == "*":
			return false
		case p != q:
			return false
		}
	}
	return len(ps) == len(qs)
}

// lineDiff shows what one list has that the other lacks, or both in full
// when they hold the same lines in another order.
func lineDiff(want, got []string) string {
	var b strings.Builder
	for _, k := range got {
		if !slices.Contains(want, k) {
			b.WriteString("  extra " + k + "\n")
		}
	}
	for _, k := range want {
		if !slices.Contains(got, k) {
			b.WriteString("  missing " + k + "\n")
		}
	}
	if b.Len() == 0 {
		b.WriteString("  want order: " + strings.Join(want, ", ") + "\n  got order:  " + strings.Join(got, ", ") + "\n")
	}
	return b.String()
}

func fetchOpenAPI(t *testing.T, e *env) map[string]any {
	t.Helper()
	r := e.do("GET", "/openapi.json", "", nil)
	e.expect(r, 200, "GET /openapi.json")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	var doc map[string]any
	r.decode(t, &doc)
	return doc
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	doc := fetchOpenAPI(t, e)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc["openapi"])
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	paths := doc["paths"].(map[string]any)
	if len(paths) < len(api.DocumentedRoutes())/2 {
		t.Fatalf("only %d paths", len(paths))
	}

	// Every $ref resolves, every operation has an id (unique) and a 2xx/1xx/3xx answer.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				if _, ok := schemas[name]; !ok || name == ref {
					t.Errorf("dangling $ref %q", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	ids := map[string]bool{}
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			o := op.(map[string]any)
			id, _ := o["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s %s: operationId %q missing or repeated", method, path, id)
			}
			ids[id] = true
			resp := o["responses"].(map[string]any)
			if resp["200"] == nil && resp["101"] == nil && resp["302"] == nil {
				t.Errorf("%s %s: no success response", method, path)
			}
			switch o["x-auth"] {
			case "sudo":
				if resp["401"] == nil || resp["403"] == nil {
					t.Errorf("%s %s: sudo route without 401 and 403", method, path)
				}
			case "admin":
				if resp["401"] == nil {
					t.Errorf("%s %s: admin route without 401", method, path)
				}
			case "public", "node":
			default:
				t.Errorf("%s %s: x-auth %v", method, path, o["x-auth"])
			}
		}
	}

	// The admin create body is described from its Go type.
	create := paths["/api/admin"].(map[string]any)["post"].(map[string]any)
	body := resolve(t, schemas, create["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"])
	req, _ := body["required"].([]any)
	if !slices.Contains(req, any("username")) || !slices.Contains(req, any("password")) {
		t.Errorf("AdminCreate required = %v", req)
	}
	if _, ok := body["properties"].(map[string]any)["users_usage"]; ok {
		t.Errorf("AdminCreate documents users_usage, which is ignored")
	}
	if got := body["properties"].(map[string]any)["telegram_id"].(map[string]any)["type"]; !slices.Equal(toStrings(got), []string{"integer", "null"}) {
		t.Errorf("telegram_id type = %v", got)
	}
	if _, ok := paths["/api/admin/{username}"].(map[string]any)["put"]; !ok {
		t.Errorf("path parameters not converted: %v", keys(paths))
	}
}

func TestOpenAPIDocumentedCodes(t *testing.T) {
	e := newEnv(t)
	doc := fetchOpenAPI(t, e)
	paths := doc["paths"].(map[string]any)
	// Each status the route tests observe is documented for it.
	for _, c := range []struct {
		method, path string
		codes        []string
	}{
		{"post", "/api/admin", []string{"200", "400", "401", "403", "409", "422"}},
		{"put", "/api/admin/{username}", []string{"200", "400", "401", "403", "404", "422"}},
		{"delete", "/api/admin/{username}", []string{"200", "401", "403", "404"}},
		{"get", "/api/admins", []string{"200", "400", "401", "403", "422"}},
		{"post", "/api/admin/{username}/users/disable", []string{"200", "401", "403", "404"}},
		{"get", "/api/admin/usage/{username}", []string{"200", "401", "403", "404"}},
		// Users: 422 for the body's fields, 400 for a protocol without an
		// inbound, as the user tests observe; 403 for an API key without
		// the users scope.
		{"post", "/api/user", []string{"200", "400", "401", "403", "409", "422"}},
		{"put", "/api/user/{username}", []string{"200", "400", "401", "403", "404", "422"}},
		{"get", "/sub/{token}/{client_type}", []string{"200", "404", "422"}},
	} {
		resp := paths[c.path].(map[string]any)[c.method].(map[string]any)["responses"].(map[string]any)
		for _, code := range c.codes {
			if resp[code] == nil {
				t.Errorf("%s %s: status %s not documented", c.method, c.path, code)
			}
		}
	}
}

// TestOpenAPIMatchesResponses compares the documented properties with the
// keys real answers carry, for the routes whose answers are not built from
// the documented type itself.
func TestOpenAPIMatchesResponses(t *testing.T) {
	e := newEnv(t)
	doc := fetchOpenAPI(t, e)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	paths := doc["paths"].(map[string]any)
	sudo := e.token(e.sudo)
	e.createUser(e.alice, "a_user")

	loginResp := e.login("alice", testPassword, "")
	for _, c := range []struct {
		method, path string
		resp         *response
	}{
		{"post", "/api/admin/token", loginResp},
		{"get", "/api/admin", e.do("GET", "/api/admin", sudo, nil)},
		{"get", "/api/core", e.do("GET", "/api/core", sudo, nil)},
		{"get", "/api/node/settings", e.do("GET", "/api/node/settings", sudo, nil)},
		{"get", "/api/user/{username}", e.do("GET", "/api/user/a_user", sudo, nil)},
		{"get", "/api/users", e.do("GET", "/api/users", sudo, nil)},
		{"post", "/api/admin/usage/reset/{username}", e.do("POST", "/api/admin/usage/reset/alice", sudo, nil)},
		{"delete", "/api/admin/{username}", e.do("DELETE", "/api/admin/bob", sudo, nil)},
		{"get", "/healthz", e.do("GET", "/healthz", "", nil)},
	} {
		e.expect(c.resp, 200, c.method+" "+c.path)
		var got map[string]any
		c.resp.decode(t, &got)
		op := paths[c.path].(map[string]any)[c.method].(map[string]any)
		schema := resolve(t, schemas, op["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"])
		props := schema["properties"].(map[string]any)
		if !slices.Equal(keys(got), keys(props)) {
			t.Errorf("%s %s: answer has %v, document says %v", c.method, c.path, keys(got), keys(props))
		}
	}
}

func TestDocsPage(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/docs", "", nil)
	e.expect(r, 200, "GET /docs")
	page := string(r.body)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	for _, k := range api.DocumentedRoutes() {
		method, path, _ := strings.Cut(k, " ")
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		if !strings.Contains(page, ">"+method+"</span> <span class=\"path\">"+strings.Join(segs, "/")+"<") {
			t.Errorf("/docs lacks %s", k)
		}
	}
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("/docs loads something from outside (%q)", bad)
		}
	}
	// The examples are JSON built from the Go types: the admin create body
	// shows its fields.
	if !strings.Contains(page, "<details><summary>Request body (JSON)</summary><pre>{\n  &#34;allow_unlimited&#34;") {
		t.Errorf("/docs lacks the admin create example")
	}
	for _, want := range []string{`id="schema-AdminCreateBody"`, `id="schema-UserResponse"`, "<summary>Request schema</summary>", "#/components/schemas/Admin"} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs lacks %q", want)
		}
	}
}

func resolve(t *testing.T, schemas map[string]any, s any) map[string]any {
	t.Helper()
	m := s.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		return schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
	}
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

// TestOpenAPIAuthMatchesRoutes holds every route to its documented auth
// level: an admin or sudo route refuses an anonymous caller with 401, and
// a sudo route refuses a regular admin with 403.
func TestOpenAPIAuthMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "alice_user")
	regular := e.token(e.alice)
	before := e.adminsState()
	for key, auth := range api.DocumentedAuth() {
		method, path, _ := strings.Cut(key, " ")
		segs := strings.Split(path, "/")
		for i, s := range segs {
			switch {
			case s == ":id":
				segs[i] = "1"
			case strings.HasPrefix(s, ":"):
				segs[i] = "alice_user"
			}
		}
		url := strings.Join(segs, "/")
		switch auth {
		case "admin", "sudo":
			if r := e.do(method, url, "", nil); r.status != 401 {
				t.Errorf("%s (%s) anonymous: %d, want 401", key, auth, r.status)
			}
		}
		if auth == "sudo" {
			if r := e.do(method, url, regular, nil); r.status != 403 {
				t.Errorf("%s (sudo) as a regular admin: %d, want 403", key, r.status)
			}
		}
	}
	if e.adminsState() != before {
		t.Fatal("refused requests changed the store")
	}
}
