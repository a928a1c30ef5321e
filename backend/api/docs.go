package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"reflect"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// docsRoutes: the API contract, as OpenAPI and as a page, both built from
// the server's route table (openapi.go).
func (s *server) docsRoutes() []route {
	return []route{
		{Method: "GET", Path: "/openapi.json", Auth: authPublic, Handler: s.openAPI, Doc: &routeDoc{
			Summary: "This OpenAPI document", Tag: "system", Response: typeOf[map[string]any]()}},
		{Method: "GET", Path: "/docs", Auth: authPublic, Handler: s.docsPage, Doc: &routeDoc{
			Summary: "API reference page rendered from this document", Tag: "system", ResponseKind: kindHTML}},
	}
}

func (s *server) openAPI(c *fiber.Ctx) error {
	doc, err := s.docs.openAPIJSON()
	if err != nil {
		return fmt.Errorf("building the OpenAPI document: %w", err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(doc)
}

func (s *server) docsPage(c *fiber.Ctx) error {
	page, err := s.docs.html()
	if err != nil {
		return fmt.Errorf("rendering the API reference: %w", err)
	}
	// Self-contained: inline style only, no scripts, nothing fetched.
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(page)
}

// docRoute is one route as the reference page shows it.
type docRoute struct {
	Method, Path, Summary, Auth, Anchor string
	Params                              []string
	Request, Response                   string // JSON examples; "" when none
	RequestSchema, ResponseSchema       string // JSON Schema, refs into Schemas
	RequestNote, ResponseNote           string // for bodies that are not JSON
	Errors                              []string
}

type docSection struct {
	Tag    string
	Routes []docRoute
}

// docSchema is one component schema listed at the end of the page.
type docSchema struct {
	Name, JSON string
}

func (d *apiDocs) html() ([]byte, error) {
	d.pageOnce.Do(func() {
		var buf bytes.Buffer
		doc := openAPIDocument(d.routes, apiDocVersion)
		var schemas []docSchema
		for name, sc := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
			schemas = append(schemas, docSchema{Name: name, JSON: exampleJSON(sc)})
		}
		sort.Slice(schemas, func(i, j int) bool { return schemas[i].Name < schemas[j].Name })
		d.pageErr = docsTemplate.Execute(&buf, map[string]any{
			"Version":  apiDocVersion,
			"Sections": docSections(documented(d.routes), doc["paths"].(map[string]any)),
			"Schemas":  schemas,
		})
		d.page = buf.Bytes()
	})
	return d.page, d.pageErr
}

// docSections groups the documented routes by tag, in the table's order;
// the examples are built from the same Go types as the OpenAPI schemas.
func docSections(routes []route, paths map[string]any) []docSection {
	var sections []docSection
	index := map[string]int{}
	for _, rt := range routes {
		r := rt.Doc
		tag := r.Tag
		if tag == "" {
			tag = "other"
		}
		i, ok := index[tag]
		if !ok {
			i = len(sections)
			index[tag] = i
			sections = append(sections, docSection{Tag: tag})
		}
		d := docRoute{
			Method: rt.Method, Path: openAPIPath(rt.Path), Summary: r.Summary, Auth: string(rt.Auth),
			Anchor: strings.ToLower(rt.Method) + strings.NewReplacer("/", "-", ":", "", "*", "all", ".", "-").Replace(rt.Path),
		}
		for _, m := range pathParamRe.FindAllStringSubmatch(d.Path, -1) {
			d.Params = append(d.Params, m[1]+" (path)")
		}
		for _, q := range r.Query {
			p := q.Name + " (query, " + q.Type
			if q.Multi {
				p += ", repeatable"
			}
			p += ")"
			if q.Description != "" {
				p += ": " + q.Description
			}
			d.Params = append(d.Params, p)
		}
		switch {
		case r.BodyKind == kindForm:
			d.RequestNote = "application/x-www-form-urlencoded: " + strings.Join(r.FormFields, ", ")
		case r.Body != nil:
			d.Request = prettyExample(r.Body)
		}
		switch r.ResponseKind {
		case kindText:
			d.ResponseNote = "text/plain"
		case kindHTML:
			d.ResponseNote = "text/html"
		case kindAny:
			d.ResponseNote = "a file"
		case kindWebSocket:
			d.ResponseNote = "101 Switching Protocols (WebSocket)"
		case kindRedirect:
			d.ResponseNote = "302 redirect"
		default:
			if r.Response != nil {
				d.Response = prettyExample(r.Response)
			}
		}
		if op, ok := paths[d.Path].(map[string]any)[strings.ToLower(rt.Method)].(map[string]any); ok {
			d.RequestSchema = jsonAt(op, "requestBody", "content", "application/json", "schema")
			d.ResponseSchema = jsonAt(op, "responses", "200", "content", "application/json", "schema")
		}
		for _, code := range errorCodes(rt) {
			d.Errors = append(d.Errors, fmt.Sprintf("%d %s", code, statusText[code]))
		}
		sections[i].Routes = append(sections[i].Routes, d)
	}
	return sections
}

// jsonAt renders the value at path in a decoded document, "" if absent.
func jsonAt(v any, path ...string) string {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[k]; !ok {
			return ""
		}
	}
	return exampleJSON(v)
}

func prettyExample(t reflect.Type) string { return exampleJSON(example(t, 0)) }

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Outpost API reference</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 2rem; color: #1d2330; }
h1 { margin-bottom: .2rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ccd; text-transform: capitalize; }
.route { border: 1px solid #dde; border-radius: 6px; margin: .7rem 0; padding: .5rem .8rem; }
.method { display: inline-block; min-width: 4.2rem; font-weight: 700; font-family: monospace; }
.GET { color: #176b2c; } .POST { color: #1a4fa0; } .PUT { color: #8a5a00; } .DELETE { color: #a01a1a; }
.path { font-family: monospace; font-size: 1.05rem; }
.auth { float: right; font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; background: #eef; }
.auth-sudo { background: #fde8e8; } .auth-public { background: #e8f6ea; } .auth-node { background: #f3ecfd; }
pre { background: #f6f7f9; padding: .6rem; overflow-x: auto; font-size: .85rem; }
summary { cursor: pointer; color: #334; }
ul { margin: .3rem 0; }
</style>
</head>
<body>
<h1>Outpost API reference</h1>
<p>Version {{.Version}}. Marzban-compatible REST API. Log in with <code>POST /api/admin/token</code> and send
<code>Authorization: Bearer &lt;token&gt;</code>. Errors are <code>{"detail": "..."}</code>.
The machine-readable contract is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<p>Auth: <b>public</b> needs nothing; <b>admin</b> any admin (regular admins see only their own users); <b>sudo</b> a sudo admin; <b>node</b> a node's token.</p>
<nav><ul>{{range .Sections}}<li><a href="#tag-{{.Tag}}">{{.Tag}}</a></li>{{end}}</ul></nav>
{{range .Sections}}
<h2 id="tag-{{.Tag}}">{{.Tag}}</h2>
{{range .Routes}}
<div class="route" id="{{.Anchor}}">
<span class="auth auth-{{.Auth}}">{{.Auth}}</span>
<span class="method {{.Method}}">{{.Method}}</span> <span class="path">{{.Path}}</span>
<p>{{.Summary}}</p>
{{if .Params}}<b>Parameters</b><ul>{{range .Params}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .RequestNote}}<p><b>Request body:</b> {{.RequestNote}}</p>{{end}}
{{if .Request}}<details><summary>Request body (JSON)</summary><pre>{{.Request}}</pre></details>{{end}}
{{if .RequestSchema}}<details><summary>Request schema</summary><pre>{{.RequestSchema}}</pre></details>{{end}}
{{if .ResponseNote}}<p><b>Response:</b> {{.ResponseNote}}</p>{{end}}
{{if .Response}}<details><summary>Response 200 (JSON)</summary><pre>{{.Response}}</pre></details>{{end}}
{{if .ResponseSchema}}<details><summary>Response schema</summary><pre>{{.ResponseSchema}}</pre></details>{{end}}
{{if .Errors}}<details><summary>Errors</summary><ul>{{range .Errors}}<li>{{.}}</li>{{end}}</ul></details>{{end}}
</div>
{{end}}
{{end}}
<h2 id="schemas">schemas</h2>
<p>Every <code>$ref</code> above names one of these (<code>#/components/schemas/Name</code>).</p>
{{range .Schemas}}<details id="schema-{{.Name}}"><summary>{{.Name}}</summary><pre>{{.JSON}}</pre></details>
{{end}}
</body>
</html>
`))

func exampleJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}
