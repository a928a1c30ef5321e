package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/model"
)

// The audit log: who changed what, from where, with the changed fields
// before and after (secrets masked). authenticate puts the actor in the
// request's context; auditOperation, in front of every mutating admin and
// sudo route, opens the operation under which the store writes an entry in
// the same transaction as the change (backend/audit, store.Tx.Audit).

// auditEntryJSON is one entry as the API shows it.
type auditEntryJSON struct {
	ID           int64           `json:"id"`
	At           time.Time       `json:"at"`         // RFC 3339, UTC
	ActorKind    string          `json:"actor_kind"` // admin, api_key, cli, job
	AdminID      *int64          `json:"admin_id"`
	ActorName    string          `json:"actor_name"`
	APIKeyID     *int64          `json:"api_key_id"`
	APIKeyName   string          `json:"api_key_name"`
	IP           string          `json:"ip"`
	Action       string          `json:"action"`
	Target       string          `json:"target"`
	OwnerAdminID *int64          `json:"owner_admin_id"`
	Before       json.RawMessage `json:"before"`
	After        json.RawMessage `json:"after"`
}

// auditPageJSON is one page; Next is the before= of the next page (null:
// this was the last).
type auditPageJSON struct {
	Entries []auditEntryJSON `json:"entries"`
	Next    *int64           `json:"next"`
}

func auditEntryOf(e audit.Entry) auditEntryJSON {
	return auditEntryJSON{ID: e.ID, At: e.At, ActorKind: e.ActorKind, AdminID: e.AdminID, ActorName: e.ActorName,
		APIKeyID: e.KeyID, APIKeyName: e.KeyName, IP: e.IP, Action: e.Action, Target: e.Target,
		OwnerAdminID: e.OwnerID, Before: e.Before, After: e.After}
}

var auditQuery = []queryParam{
	{Name: "admin", Type: "string", Description: "only changes made by this actor (admin username, \"cli\" or a job's name)"},
	{Name: "target", Type: "string", Description: "only entries about this target (\"/api/user/alice\"); a trailing * matches a prefix"},
	{Name: "action", Type: "string", Description: "only actions containing this text (\"DELETE\", \"/api/user/\")"},
	{Name: "since", Type: "string", Description: "date-time; entries at or after it"},
	{Name: "until", Type: "string", Description: "date-time; entries at or before it"},
}

// auditRoutes: the audit log (any admin: a reseller sees the entries of
// its own actions and users, sudo all).
func (s *server) auditRoutes() []route {
	page := append(slicesClone(auditQuery),
		queryParam{Name: "before", Type: "integer", Description: "keyset cursor: the next value of the previous page"},
		queryParam{Name: "limit", Type: "integer", Description: "entries per page, 1 to 1000 (default 50)"})
	return []route{
		{Method: "GET", Path: "/api/audit", Auth: authAdmin, Handler: s.auditList, Doc: &routeDoc{
			Tag: "audit", Query: page, Response: typeOf[auditPageJSON](), Errors: []int{400, 422},
			Summary: "The audit log, newest first, one page: who changed what, from which address, the changed fields before and after (secrets masked). A reseller sees only entries of its own actions and users"}},
		{Method: "GET", Path: "/api/audit/export", Auth: authAdmin, Handler: s.auditExport, Doc: &routeDoc{
			Tag: "audit", Query: auditQuery, ResponseKind: kindText, Errors: []int{400, 422},
			Summary: "Every matching audit entry as JSON lines (application/x-ndjson), newest first, streamed"}},
	}
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

var errBadAuditQuery = &publicError{err: model.ErrInvalid, detail: "Invalid audit filter"}

// auditFilter reads the filter query; a reseller's is narrowed to itself.
func (s *server) auditFilter(c *fiber.Ctx) (audit.Filter, error) {
	if err := checkQuery(c); err != nil {
		return audit.Filter{}, err
	}
	f := audit.Filter{
		Actor:  strings.TrimSpace(c.Query("admin")),
		Target: strings.TrimSpace(c.Query("target")),
		Action: strings.TrimSpace(c.Query("action")),
		Limit:  50,
	}
	if len(f.Actor) > 64 || len(f.Target) > 500 || len(f.Action) > 200 {
		return f, &publicError{err: model.ErrInvalid, detail: "Audit filter too long"}
	}
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if raw := strings.TrimSpace(c.Query(p.name)); raw != "" {
			t, ok := parseQueryTime(raw)
			if !ok {
				return f, &publicError{err: model.ErrInvalid, detail: "Invalid " + p.name + ": expected a date-time like 2026-11-26T01:02:03Z"}
			}
			*p.dst = &t
		}
	}
	if f.Since != nil && f.Until != nil && f.Until.Before(*f.Since) {
		return f, &publicError{err: model.ErrInvalid, detail: "until is before since"}
	}
	for _, p := range []struct {
		name     string
		dst      *int64
		min, max int64
	}{{"before", &f.BeforeID, 1, 1<<63 - 1}, {"limit", nil, 1, model.MaxPageSize}} {
		raw := c.Query(p.name)
		if raw == "" {
			continue
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < p.min || n > p.max {
			return f, &publicError{err: model.ErrInvalid, detail: p.name + ": expected an integer from " + strconv.FormatInt(p.min, 10) + " to " + strconv.FormatInt(p.max, 10)}
		}
		if p.dst != nil {
			*p.dst = n
		} else {
			f.Limit = int(n)
		}
	}
	if a := adminOf(c); !a.IsSudo {
		f.Owner = a.ID
		if a.ID == 0 {
			f.Owner = -1
		}
	}
	return f, nil
}

func (s *server) auditList(c *fiber.Ctx) error {
	f, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	list, err := s.st.AuditEntries(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := auditPageJSON{Entries: make([]auditEntryJSON, len(list))}
	for i, e := range list {
		out.Entries[i] = auditEntryOf(e)
	}
	if len(list) == f.Limit && len(list) > 0 {
		next := list[len(list)-1].ID
		out.Next = &next
	}
	return c.JSON(out)
}

func (s *server) auditExport(c *fiber.Ctx) error {
	f, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	// The stream outlives the handler: detach from the request's context
	// (fasthttp reuses it) but keep a deadline.
	st := s.st
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="outpost-audit.jsonl"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		enc := json.NewEncoder(w)
		n := 0
		err := st.EachAuditEntry(ctx, f, func(e audit.Entry) error {
			if err := enc.Encode(auditEntryOf(e)); err != nil {
				return err
			}
			if n++; n%500 == 0 {
				return w.Flush()
			}
			return nil
		})
		if err != nil {
			s.log.Warn("exporting the audit log", "err", err)
		}
		_ = w.Flush()
	})
	return nil
}

// auditExempt are the mutating admin and sudo routes that change nothing
// (they check or render a draft), with why; they write no entry.
// TestEveryMutatingRouteIsAudited holds every other one to an entry.
var auditExempt = map[string]string{
	"POST /api/core/config/check":          "validates a draft config, saves nothing",
	"POST /api/hosts/preview":              "renders links from draft hosts, saves nothing",
	"POST /api/subscription/settings/test": "renders draft settings for a sample client, saves nothing",
}

// maxAuditBody is the largest request body kept as an automatic entry's
// after; larger ones are noted by size only.
const maxAuditBody = 32 << 10

// auditOperation opens the audit operation of a mutating admin or sudo
// route: the store writes its entry inside the change's transaction. A
// request that succeeded without changing the database (a core restart, a
// reconnect) gets an entry of its own afterwards; a refused one none.
func (s *server) auditOperation(r route) fiber.Handler {
	action := r.Method + " " + r.Path
	return func(c *fiber.Ctx) error {
		op := &audit.Operation{Action: action, Target: c.Path()}
		if body := c.Body(); len(body) > 0 {
			if len(body) <= maxAuditBody && json.Valid(body) {
				op.Body = bytes.Clone(body)
			} else {
				op.Body, _ = json.Marshal(map[string]any{"body_bytes": len(body)})
			}
		}
		c.SetUserContext(audit.WithOperation(c.UserContext(), op))
		err := c.Next()
		if err == nil && c.Response().StatusCode() < 400 && op.Written() == 0 {
			if aerr := s.st.AuditAction(c.UserContext(), action, op.Target, op.Body); aerr != nil {
				s.log.Error("writing audit entry", "action", action, "err", aerr)
			}
		}
		return err
	}
}

// actorOf is the audit actor of an authenticated request.
func (s *server) actorOf(c *fiber.Ctx, b bearer) audit.Actor {
	a := audit.Actor{Kind: audit.KindAdmin, AdminID: b.admin.ID, Name: b.admin.Username,
		IP: s.clientIP(c).String(), Reseller: !b.admin.IsSudo}
	if b.key != nil {
		a.Kind, a.KeyID, a.KeyName = audit.KindKey, b.key.ID, b.key.Name
	}
	return a
}
