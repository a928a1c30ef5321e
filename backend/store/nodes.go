package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

const nodeColumns = `id, name, address, port, api_port, usage_coefficient, xray_version, agent_version,
	status, message, last_seen, applied_revision, state_hash, usage_seq, session_fence, token_hash, created_at`

func scanNode(row interface{ Scan(...any) error }) (*model.Node, error) {
	var (
		n     model.Node
		token *string
	)
	err := row.Scan(&n.ID, &n.Name, &n.Address, &n.Port, &n.APIPort, &n.UsageCoefficient, &n.XrayVersion,
		&n.AgentVersion, &n.Status, &n.Message, optTime{&n.LastSeen}, &n.AppliedRevision, &n.StateHash,
		&n.UsageSeq, &n.SessionFence, optString{&token}, reqTime{&n.CreatedAt})
	if err != nil {
		return nil, err
	}
	if token != nil {
		n.TokenHash = *token
	}
	return &n, nil
}

// tokenOrNil keeps "no token" out of the unique index.
func tokenOrNil(h string) any {
	if h == "" {
		return nil
	}
	return h
}

// CreateNode inserts n and sets its ID (CreatedAt when zero, Status
// "connecting" when empty). ErrConflict when the name or token is taken.
func (tx *Tx) CreateNode(n *model.Node) error {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = nowUTC()
	}
	if n.Status == "" {
		n.Status = model.NodeConnecting
	}
	err := tx.stmtSavepoint(func() error {
		return tx.queryRow(`INSERT INTO nodes (name, address, port, api_port, usage_coefficient, xray_version,
			agent_version, status, message, last_seen, applied_revision, state_hash, usage_seq, session_fence,
			token_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
			n.Name, n.Address, n.Port, n.APIPort, n.UsageCoefficient, n.XrayVersion, n.AgentVersion, string(n.Status),
			n.Message, unixOrNil(n.LastSeen), n.AppliedRevision, n.StateHash, n.UsageSeq, n.SessionFence,
			tokenOrNil(n.TokenHash), n.CreatedAt.Unix()).Scan(&n.ID)
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("creating node %q: %w", n.Name, errConflict)
	}
	if err != nil {
		return fmt.Errorf("creating node %q: %w", n.Name, err)
	}
	return nil
}

// NodeByID loads a node.
func (tx *Tx) NodeByID(id int64) (*model.Node, error) {
	n, err := scanNode(tx.queryRow(`SELECT `+nodeColumns+` FROM nodes WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("node %d: %w", id, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading node %d: %w", id, err)
	}
	return n, nil
}

// NodeByTokenHash finds the node a session token belongs to.
func (tx *Tx) NodeByTokenHash(hash string) (*model.Node, error) {
	if hash == "" {
		return nil, fmt.Errorf("node by token: %w", errNotFound)
	}
	n, err := scanNode(tx.queryRow(`SELECT `+nodeColumns+` FROM nodes WHERE token_hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("node by token: %w", errNotFound)
	}
	if err != nil {
		// The hash is a secret's digest: keep it out of the message.
		return nil, fmt.Errorf("loading node by token: %w", err)
	}
	return n, nil
}

// ListNodes returns every node ordered by id.
func (tx *Tx) ListNodes() ([]model.Node, error) {
	rows, err := tx.query(`SELECT ` + nodeColumns + ` FROM nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	defer rows.Close()
	out := []model.Node{}
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("listing nodes: %w", err)
		}
		out = append(out, *n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	return out, nil
}

// UpdateNode writes what an admin edits: name, address, ports and usage
// coefficient. Session state has its own methods.
func (tx *Tx) UpdateNode(n *model.Node) error {
	err := tx.stmtSavepoint(func() error {
		return affectedOne(tx.exec(`UPDATE nodes SET name = $1, address = $2, port = $3, api_port = $4,
			usage_coefficient = $5 WHERE id = $6`,
			n.Name, n.Address, n.Port, n.APIPort, n.UsageCoefficient, n.ID))
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("updating node %d: name %q: %w", n.ID, n.Name, errConflict)
	}
	if err != nil {
		return fmt.Errorf("updating node %d: %w", n.ID, err)
	}
	return nil
}

// DeleteNode deletes a node; its usage history stays.
func (tx *Tx) DeleteNode(id int64) error {
	if err := affectedOne(tx.exec(`DELETE FROM nodes WHERE id = $1`, id)); err != nil {
		return fmt.Errorf("deleting node %d: %w", id, err)
	}
	return nil
}

// SetNodeToken replaces the hash of a node's session token.
func (tx *Tx) SetNodeToken(id int64, tokenHash string) error {
	err := tx.stmtSavepoint(func() error {
		return affectedOne(tx.exec(`UPDATE nodes SET token_hash = $1 WHERE id = $2`, tokenOrNil(tokenHash), id))
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("setting token of node %d: %w", id, errConflict)
	}
	if err != nil {
		return fmt.Errorf("setting token of node %d: %w", id, err)
	}
	return nil
}

// NodeSessionStart accepts a new session for a node: it takes the next
// session fence, which fences off any older session (on any replica), and
// returns the node as stored, including the last recorded usage sequence.
func (s *Store) NodeSessionStart(ctx context.Context, id int64) (fence int64, n *model.Node, err error) {
	err = s.Tx(ctx, func(tx *Tx) error {
		var err error
		n, err = scanNode(tx.queryRow(`UPDATE nodes SET session_fence = session_fence + 1 WHERE id = $1
			RETURNING `+nodeColumns, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("starting session of node %d: %w", id, errNotFound)
		}
		if err != nil {
			return fmt.Errorf("starting session of node %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return n.SessionFence, n, nil
}

// fenceMiss tells a missing node from a fenced session after a guarded
// write changed no row.
func (tx *Tx) fenceMiss(id int64) error {
	var exists int
	err := tx.queryRow(`SELECT 1 FROM nodes WHERE id = $1`, id).Scan(&exists)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return ErrFenced
}

// NodeRecordAck records that the session holding fence has applied rev with
// the given state hash. ErrFenced when a newer session took over.
func (s *Store) NodeRecordAck(ctx context.Context, id, fence, rev int64, hash string) error {
	return s.Tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(`UPDATE nodes SET applied_revision = $1, state_hash = $2
			WHERE id = $3 AND session_fence = $4`, rev, hash, id, fence)
		if err == nil {
			err = affectedOne(res, nil)
			if errors.Is(err, errNotFound) {
				err = tx.fenceMiss(id)
			}
		}
		if err != nil {
			return fmt.Errorf("recording ack of node %d at revision %d: %w", id, rev, err)
		}
		return nil
	})
}

// NodeSetStatus records a node's status as seen by the session holding
// fence; fence 0 skips the check (the hub marking a node disconnected, an
// admin disabling it). Empty versions and a zero seen keep the stored ones.
func (s *Store) NodeSetStatus(ctx context.Context, id, fence int64, status model.NodeStatus, message, agentVersion, xrayVersion string, seen time.Time) error {
	var seenArg any
	if !seen.IsZero() {
		seenArg = seen.Unix()
	}
	return s.Tx(ctx, func(tx *Tx) error {
		var a args
		q := `UPDATE nodes SET status = ` + a.add(string(status)) +
			`, message = ` + a.add(message) +
			`, agent_version = COALESCE(NULLIF(` + a.add(agentVersion) + `, ''), agent_version)` +
			`, xray_version = COALESCE(NULLIF(` + a.add(xrayVersion) + `, ''), xray_version)` +
			`, last_seen = COALESCE(` + a.add(seenArg) + `, last_seen)` +
			` WHERE id = ` + a.add(id)
		if fence != 0 {
			q += ` AND session_fence = ` + a.add(fence)
		}
		res, err := tx.exec(q, a...)
		if err == nil {
			err = affectedOne(res, nil)
			if errors.Is(err, errNotFound) && fence != 0 {
				err = tx.fenceMiss(id)
			}
		}
		if err != nil {
			return fmt.Errorf("setting status of node %d to %s: %w", id, status, err)
		}
		return nil
	})
}

// NodeWrite is one session's ack and status for NodeWriteBatch.
type NodeWrite = model.NodeWrite

// NodeWriteBatch records many sessions' acks and statuses in one
// transaction: the hub's write-behind (backend/hub/nodewrites.go) sends
// one batch per interval for every node instead of a transaction per
// message per node, which at 1,000 nodes took the single SQLite writer
// from the API. fenced lists the writes whose session was fenced (a newer
// session holds the node) or whose node is gone: they changed nothing.
func (s *Store) NodeWriteBatch(ctx context.Context, ws []NodeWrite) (fenced []int, err error) {
	// Nodes rows are locked in ascending id order, as ApplyUsageMany locks
	// them: two transactions that take them in different orders deadlock
	// (at 1,000 nodes on PostgreSQL the write-behind and a usage batch did,
	// and a batch that failed five times closed its session).
	order := make([]int, len(ws))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ws[a].ID, ws[b].ID) })
	unique := true
	for k := 1; k < len(order); k++ {
		if ws[order[k]].ID == ws[order[k-1]].ID {
			unique = false
		}
	}
	err = s.Tx(ctx, func(tx *Tx) error {
		fenced = fenced[:0]
		if tx.postgres() && unique {
			var err error
			fenced, err = tx.nodeWriteBatchPostgres(ws, order)
			return err
		}
		for _, i := range order {
			w := ws[i]
			// One UPDATE per node, whatever it carries: an ack and a
			// status after it were two (at 1,000 nodes, 2,000 statements
			// every interval on the writer the API's changes queue on).
			if !w.Ack && !w.Status {
				continue
			}
			var a args
			var set []string
			if w.Ack {
				set = append(set, `applied_revision = `+a.add(w.Revision), `state_hash = `+a.add(w.StateHash))
			}
			if w.Status {
				var seenArg any
				if !w.Seen.IsZero() {
					seenArg = w.Seen.Unix()
				}
				set = append(set, `status = `+a.add(string(w.NodeStatus)),
					`message = `+a.add(w.Message),
					`agent_version = COALESCE(NULLIF(`+a.add(w.AgentVersion)+`, ''), agent_version)`,
					`xray_version = COALESCE(NULLIF(`+a.add(w.XrayVersion)+`, ''), xray_version)`,
					`last_seen = COALESCE(`+a.add(seenArg)+`, last_seen)`)
			}
			q := `UPDATE nodes SET ` + strings.Join(set, ", ") +
				` WHERE id = ` + a.add(w.ID) + ` AND session_fence = ` + a.add(w.Fence)
			res, err := tx.exec(q, a...)
			if err != nil {
				return fmt.Errorf("recording ack/status of node %d: %w", w.ID, err)
			}
			hit := affectedOne(res, nil) == nil
			if !hit {
				fenced = append(fenced, i)
			}
		}
		return nil
	})
	slices.Sort(fenced)
	return fenced, err
}

// nodeWriteBatchPostgres is NodeWriteBatch's transaction on PostgreSQL in
// two statements instead of one per node: the rows are locked in
// ascending id order first (an UPDATE ... FROM locks in the order its plan
// joins, and the usage transactions lock the same rows in id order), then
// updated from arrays. order lists ws by ascending id, each id once. At
// 1,000 nodes on two replicas the per-node UPDATEs were about 4,000
// statements a second on the database while every node acked 100 changes
// a second.
func (tx *Tx) nodeWriteBatchPostgres(ws []NodeWrite, order []int) (fenced []int, err error) {
	var (
		idx, ids, fences, revs, seen []int64
		acks, stats                  []bool
		hashes, statuses, messages   []string
		agents, xrays                []string
	)
	for _, i := range order {
		w := ws[i]
		if !w.Ack && !w.Status {
			continue
		}
		var at int64 = -1 // keeps last_seen
		if w.Status && !w.Seen.IsZero() {
			at = w.Seen.Unix()
		}
		idx, ids, fences, revs, seen = append(idx, int64(i)), append(ids, w.ID), append(fences, w.Fence), append(revs, w.Revision), append(seen, at)
		acks, stats = append(acks, w.Ack), append(stats, w.Status)
		hashes, statuses, messages = append(hashes, w.StateHash), append(statuses, string(w.NodeStatus)), append(messages, w.Message)
		agents, xrays = append(agents, w.AgentVersion), append(xrays, w.XrayVersion)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := tx.exec(`SELECT id FROM nodes WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids); err != nil {
		return nil, fmt.Errorf("locking %d nodes for their acks and statuses: %w", len(ids), err)
	}
	rows, err := tx.query(`UPDATE nodes n SET
			applied_revision = CASE WHEN v.ack THEN v.rev ELSE n.applied_revision END,
			state_hash = CASE WHEN v.ack THEN v.hash ELSE n.state_hash END,
			status = CASE WHEN v.st THEN v.status ELSE n.status END,
			message = CASE WHEN v.st THEN v.message ELSE n.message END,
			agent_version = CASE WHEN v.st THEN COALESCE(NULLIF(v.agent, ''), n.agent_version) ELSE n.agent_version END,
			xray_version = CASE WHEN v.st THEN COALESCE(NULLIF(v.xray, ''), n.xray_version) ELSE n.xray_version END,
			last_seen = CASE WHEN v.st AND v.seen >= 0 THEN v.seen ELSE n.last_seen END
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::boolean[], $5::bigint[], $6::text[],
			$7::boolean[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[])
			AS v (ord, id, fence, ack, rev, hash, st, status, message, agent, xray, seen)
		WHERE n.id = v.id AND n.session_fence = v.fence
		RETURNING v.ord`,
		idx, ids, fences, acks, revs, hashes, stats, statuses, messages, agents, xrays, seen)
	if err != nil {
		return nil, fmt.Errorf("recording acks and statuses of %d nodes: %w", len(ids), err)
	}
	defer rows.Close()
	hit := make(map[int64]bool, len(ids))
	for rows.Next() {
		var ord int64
		if err := rows.Scan(&ord); err != nil {
			return nil, fmt.Errorf("recording acks and statuses of %d nodes: %w", len(ids), err)
		}
		hit[ord] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recording acks and statuses of %d nodes: %w", len(ids), err)
	}
	for _, i := range idx {
		if !hit[i] {
			fenced = append(fenced, int(i))
		}
	}
	return fenced, nil
}
