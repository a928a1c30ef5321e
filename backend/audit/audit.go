// Package audit carries who is changing the panel through a request's
// context and shapes what the audit log stores: the actor (an admin, an API
// key, the CLI or a job), the action and target, and the changed fields
// before and after with every secret masked. The store writes the entry in
// the same transaction as the change (store.Tx.Audit, and the automatic
// entry of a request whose transaction wrote none), so a committed change
// without its entry cannot happen.
package audit

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync/atomic"
	"time"
)

// Actor kinds.
const (
	KindAdmin = "admin"
	KindKey   = "api_key"
	KindCLI   = "cli"
	KindJob   = "job"
)

// Actor is who made a change.
type Actor struct {
	Kind    string // KindAdmin, KindKey, KindCLI, KindJob
	AdminID int64  // the admin or the key's owner; 0 for the CLI, jobs and the env sudo
	Name    string // admin username, "cli" or the job's name
	KeyID   int64  // the API key, when one was used
	KeyName string
	IP      string // the client's address ("" for the CLI and jobs)
	// Reseller is set when the acting admin is not sudo; its entries are
	// then also owned by it.
	Reseller bool
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom is the actor ctx carries.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Operation is one request, command or job run that may change things.
// A write transaction committed under it that wrote no entry of its own
// gets one from Action and Target, with Body (the masked request) as after:
// no change path can skip the log.
type Operation struct {
	Action string // e.g. "PUT /api/user/:username", "cli user delete", "job review"
	Target string // e.g. "/api/user/alice"
	Body   json.RawMessage
	// RevisionsOnly writes the automatic entry only for a transaction that
	// took a revision (a change nodes see): jobs that merely tidy tables
	// leave no trail.
	RevisionsOnly bool
	written       atomic.Int32
}

// Written counts entries committed under the operation.
func (o *Operation) Written() int { return int(o.written.Load()) }

// MarkWritten records n committed entries.
func (o *Operation) MarkWritten(n int) { o.written.Add(int32(n)) }

type opKey struct{}

// WithOperation returns ctx carrying op.
func WithOperation(ctx context.Context, op *Operation) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

// OperationFrom is the operation ctx carries (nil: none).
func OperationFrom(ctx context.Context) *Operation {
	op, _ := ctx.Value(opKey{}).(*Operation)
	return op
}

// Entry is one stored audit log row.
type Entry struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	ActorKind string          `json:"actor_kind"`
	AdminID   *int64          `json:"admin_id"`
	ActorName string          `json:"actor_name"`
	KeyID     *int64          `json:"api_key_id"`
	KeyName   string          `json:"api_key_name,omitempty"`
	IP        string          `json:"ip,omitempty"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	OwnerID   *int64          `json:"owner_admin_id"`
	Before    json.RawMessage `json:"before" swaggertype:"object"`
	After     json.RawMessage `json:"after" swaggertype:"object"`
}

// Filter selects entries, newest first.
type Filter struct {
	AdminID  int64  // actor admin (0: any)
	Actor    string // actor name (""): any
	Target   string // exact target, or prefix when it ends with "*"
	Action   string // substring of the action
	Since    *time.Time
	Until    *time.Time
	BeforeID int64 // keyset: entries with a smaller id (0: from the newest)
	Limit    int
	// Owner, when not 0, keeps entries made by or about that admin (a
	// reseller's view).
	Owner int64
}

// Masked is what a secret's value becomes.
const Masked = "***"

// secretKeys are field names (lower case) whose values are never stored.
var secretKeys = []string{
	"password", "hashed_password", "password_hash", "token", "secret", "totp",
	"key_hash", "code", "codes", "recovery", "sub_secret", "jwt", "api_key", "key",
	"private_key", "privatekey", "credentials", "auth", "passphrase", "psk",
	"discord_webhook", "webhook_url", "seed",
}

// notSecrets are names the rules below would take for secrets but that
// hold none: per_device_credentials is the switch of the credentials-per-
// device mode (a boolean), and its changes must show.
var notSecrets = map[string]bool{"per_device_credentials": true}

// IsSecret reports whether a field of that name holds a secret.
func IsSecret(name string) bool {
	n := strings.ToLower(name)
	if notSecrets[n] {
		return false
	}
	for _, s := range secretKeys {
		if n == s || strings.HasSuffix(n, "_"+s) || strings.HasPrefix(n, s+"_") ||
			strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token") {
			return true
		}
	}
	return false
}

// Mask returns v (any JSON-encodable value) as JSON with every secret
// field's value replaced by Masked, at any depth. nil stays nil.
func Mask(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	var raw []byte
	switch t := v.(type) {
	case json.RawMessage:
		raw = t
	case []byte:
		raw = t
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil
		}
		raw = b
	}
	if len(raw) == 0 {
		return nil
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		// Not JSON (a form, say): keep nothing rather than a secret.
		return nil
	}
	out, err := json.Marshal(maskTree(tree))
	if err != nil {
		return nil
	}
	return out
}

func maskTree(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if IsSecret(k) && val != nil && val != "" {
				t[k] = Masked
				continue
			}
			t[k] = maskTree(val)
		}
	case []any:
		for i := range t {
			t[i] = maskTree(t[i])
		}
	}
	return v
}

// Diff returns the masked JSON of before and after kept to the top-level
// keys whose values differ (both objects), so rows stay small. Values are
// compared before masking, so a changed secret stays listed on both sides
// (as Masked: the entry says a password or token changed, never to what).
// Non-object values are kept whole; a nil side stays nil (a creation or
// deletion).
func Diff(before, after any) (json.RawMessage, json.RawMessage) {
	b, a := rawJSON(before), rawJSON(after)
	if b == nil || a == nil {
		return Mask(b), Mask(a)
	}
	var bm, am map[string]json.RawMessage
	if json.Unmarshal(b, &bm) != nil || json.Unmarshal(a, &am) != nil || bm == nil || am == nil {
		return Mask(b), Mask(a)
	}
	for k, bv := range bm {
		if av, ok := am[k]; ok && string(av) == string(bv) {
			delete(bm, k)
			delete(am, k)
		}
	}
	bo, _ := json.Marshal(bm)
	ao, _ := json.Marshal(am)
	return Mask(json.RawMessage(bo)), Mask(json.RawMessage(ao))
}

// rawJSON is v as JSON, unmasked (nil: none).
func rawJSON(v any) json.RawMessage {
	switch t := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		if len(t) == 0 {
			return nil
		}
		return t
	case []byte:
		if len(t) == 0 {
			return nil
		}
		return t
	}
	if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Map || rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Slice) && rv.IsNil() {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	return b
}

// MaxNames bounds the usernames a bulk entry lists (the count is whole).
const MaxNames = 50

// Bulk is the after of a batch entry: how many and a bounded list of names.
func Bulk(names []string, extra map[string]any) map[string]any {
	m := map[string]any{"count": len(names)}
	if len(names) > MaxNames {
		m["usernames"] = names[:MaxNames]
		m["truncated"] = true
	} else {
		m["usernames"] = names
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
