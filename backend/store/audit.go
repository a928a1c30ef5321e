package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
)

// The audit log's rows (migration 0013). Entries are written only inside a
// write transaction, by Audit or by run's automatic entry for an operation
// whose transaction wrote none, so they commit or roll back with the change.

// Audit writes one entry for the change this transaction makes: action
// ("user.modify"), target ("user/alice"), the admin the entry is about for
// a reseller's view (owner, 0: the actor's own when it is a reseller) and
// the changed fields before and after (diffed and masked here).
func (tx *Tx) Audit(action, target string, owner int64, before, after any) error {
	b, a := audit.Diff(before, after)
	return tx.writeAudit(action, target, owner, b, a)
}

// AuditWhole is Audit without the diff: before and after are stored whole
// (masked), for summaries of changes to many rows (counts by status) whose
// equal keys still say something.
func (tx *Tx) AuditWhole(action, target string, owner int64, before, after any) error {
	return tx.writeAudit(action, target, owner, audit.Mask(before), audit.Mask(after))
}

func (tx *Tx) writeAudit(action, target string, owner int64, before, after json.RawMessage) error {
	actor, ok := audit.ActorFrom(tx.ctx)
	if !ok {
		actor = audit.Actor{Kind: audit.KindCLI, Name: "system"}
	}
	if owner == 0 && actor.Reseller {
		owner = actor.AdminID
	}
	now := tx.s.now().Unix()
	_, err := tx.exec(`INSERT INTO audit_log (at, actor_kind, admin_id, actor_name, key_id, key_name, ip, action, target, owner_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		now, actor.Kind, nullID(actor.AdminID), actor.Name, nullID(actor.KeyID), actor.KeyName, actor.IP,
		truncate(action, 200), truncate(target, 500), nullID(owner), nullJSON(before), nullJSON(after))
	if err != nil {
		return fmt.Errorf("writing audit entry: %w", err)
	}
	tx.audited++
	return nil
}

// autoAudit writes the operation's entry when this transaction wrote none
// and (for a request) none was committed under the operation yet.
func (tx *Tx) autoAudit(op *audit.Operation) error {
	if tx.audited > 0 || tx.bookkeeping {
		return nil
	}
	if op.RevisionsOnly {
		if !tx.revised {
			return nil
		}
	} else if op.Written() > 0 {
		return nil
	}
	return tx.writeAudit(op.Action, op.Target, 0, nil, audit.Mask(op.Body))
}

// Bookkeeping marks the transaction as one that changes nothing anybody
// asked for (a spent two-factor step, a recovery code used at sign-in): the
// operation it runs under gets no automatic entry for it.
func (tx *Tx) Bookkeeping() { tx.bookkeeping = true }

// Context is the context the transaction runs under.
func (tx *Tx) Context() context.Context { return tx.ctx }

// AuditStandalone writes an entry for an operation that changed nothing in
// the database (a core restart): its own transaction.
func (s *Store) AuditStandalone(ctx context.Context, action, target string, after any) error {
	return s.Tx(ctx, func(tx *Tx) error {
		return tx.writeAudit(action, target, 0, nil, audit.Mask(after))
	})
}

const maxAuditField = 64 << 10

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if len(b) > maxAuditField {
		b, _ = json.Marshal(map[string]any{"truncated": true, "bytes": len(b)})
	}
	return string(b)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

const auditColumns = `id, at, actor_kind, admin_id, actor_name, key_id, key_name, ip, action, target, owner_id, before, after`

func scanAudit(rows *sql.Rows) (audit.Entry, error) {
	var (
		e                     audit.Entry
		at                    int64
		adminID, keyID, owner sql.NullInt64
		before, after         sql.NullString
	)
	if err := rows.Scan(&e.ID, &at, &e.ActorKind, &adminID, &e.ActorName, &keyID, &e.KeyName, &e.IP,
		&e.Action, &e.Target, &owner, &before, &after); err != nil {
		return e, err
	}
	e.At = fromUnix(at)
	if adminID.Valid {
		e.AdminID = &adminID.Int64
	}
	if keyID.Valid {
		e.KeyID = &keyID.Int64
	}
	if owner.Valid {
		e.OwnerID = &owner.Int64
	}
	if before.Valid {
		e.Before = json.RawMessage(before.String)
	}
	if after.Valid {
		e.After = json.RawMessage(after.String)
	}
	return e, nil
}

func auditWhere(f audit.Filter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.AdminID != 0 {
		add("admin_id = ?", f.AdminID)
	}
	if f.Actor != "" {
		add("actor_name = ?", f.Actor)
	}
	if f.Owner != 0 {
		args = append(args, f.Owner)
		n := len(args)
		conds = append(conds, fmt.Sprintf("(admin_id = $%d OR owner_id = $%d)", n, n))
	}
	if f.Target != "" {
		if p, ok := strings.CutSuffix(f.Target, "*"); ok {
			args = append(args, len(p), p)
			conds = append(conds, fmt.Sprintf("substr(target, 1, $%d) = $%d", len(args)-1, len(args)))
		} else {
			add("target = ?", f.Target)
		}
	}
	if f.Action != "" {
		add("action LIKE ? ESCAPE '\\'", "%"+likeEscape(f.Action)+"%")
	}
	if f.Since != nil {
		add("at >= ?", f.Since.Unix())
	}
	if f.Until != nil {
		add("at <= ?", f.Until.Unix())
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// AuditEntries is one page of entries matching f, newest first (keyset on
// id: f.BeforeID is the last id of the previous page).
func (s *Store) AuditEntries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	where, args := auditWhere(f)
	args = append(args, f.Limit)
	q := `SELECT ` + auditColumns + ` FROM audit_log` + where + fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	var out []audit.Entry
	err := s.Read(ctx, func(tx *Tx) error {
		out = out[:0]
		rows, err := tx.query(q, args...)
		if err != nil {
			return fmt.Errorf("listing audit entries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// EachAuditEntry calls fn for every entry matching f (f.Limit ignored),
// newest first, reading pages of exportPage so no transaction stays open
// long and memory stays flat. fn returning an error stops.
func (s *Store) EachAuditEntry(ctx context.Context, f audit.Filter, fn func(audit.Entry) error) error {
	const exportPage = 500
	f.Limit = exportPage
	for {
		page, err := s.AuditEntries(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		f.BeforeID = page[len(page)-1].ID
	}
}

// PruneAudit deletes up to batch entries older than cutoff, oldest first,
// and reports how many went.
func (s *Store) PruneAudit(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	var n int64
	err := s.Tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY id LIMIT $2)`,
			cutoff.Unix(), batch)
		if err != nil {
			return fmt.Errorf("pruning audit log: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
