package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/outpost-panel/outpost/backend/model"
)

// The usage journal takes the per-user hourly usage off the usage batch's
// path. Each applied batch appends one row (node, hour, every user's bytes)
// instead of upserting a node_user_usages row per user, which was half of
// a 100k-user batch's cost; FoldUsageJournal later adds the rows to
// node_user_usages, merging the batches of one node and hour, so a node
// reporting every few seconds costs one upsert per user per fold, not per
// batch. Counters (used_traffic and friends) are exact at once; only the
// hourly per-user report waits for a fold, and readers of it fold first
// (Store.FoldUsageJournal is cheap when the journal is empty).

// encodeJournal encodes ascending ids and their used bytes as uvarint
// pairs: the gap from the previous id, then the bytes. 100k users take
// about 500 KB.
func encodeJournal(ids, used []int64) []byte {
	buf := make([]byte, 0, len(ids)*5)
	prev := int64(0)
	for i, id := range ids {
		buf = binary.AppendUvarint(buf, uint64(id-prev))
		buf = binary.AppendUvarint(buf, uint64(used[i]))
		prev = id
	}
	return buf
}

// decodeJournal calls fn for each (id, used) pair of data, which must hold
// n pairs.
func decodeJournal(data []byte, n int, fn func(id, used int64)) error {
	prev := int64(0)
	for i := range n {
		gap, k := binary.Uvarint(data)
		if k <= 0 {
			return fmt.Errorf("usage journal entry %d of %d: bad id: %w", i, n, errInvalid)
		}
		data = data[k:]
		used, k := binary.Uvarint(data)
		if k <= 0 {
			return fmt.Errorf("usage journal entry %d of %d: bad bytes: %w", i, n, errInvalid)
		}
		data = data[k:]
		prev += int64(gap)
		fn(prev, int64(used))
	}
	if len(data) != 0 {
		return fmt.Errorf("usage journal: %d bytes after %d entries: %w", len(data), n, errInvalid)
	}
	return nil
}

// foldBatchRows bounds the journal rows one fold takes, so its memory and
// transaction stay bounded however long folding was held up; the next
// fold takes the rest.
const foldBatchRows = 64

// FoldResult says what one FoldUsageJournal call did.
type FoldResult struct {
	Batches int   // journal rows folded
	Rows    int   // node_user_usages rows written (user, node, hour)
	More    bool  // rows were left for another call
	Bytes   int64 // bytes folded
}

// FoldUsageJournal moves up to foldBatchRows journal rows, oldest first,
// into node_user_usages in one transaction: the rows are deleted by id with
// RETURNING (a concurrent fold on another replica that picked the same ids
// waits for them and then finds them gone, so no row counts twice), merged per (node, hour, user),
// and upserted in one statement per (node, hour). Users deleted since the
// batch are skipped, as ApplyUsage skipped unknown users.
func (s *Store) FoldUsageJournal(ctx context.Context) (FoldResult, error) {
	var res FoldResult
	err := s.Tx(ctx, func(tx *Tx) error {
		res = FoldResult{}
		type key struct{ node, hour int64 }
		groups := map[key]map[int64]int64{}
		ids, err := tx.queryIDs(`SELECT id FROM usage_journal ORDER BY id LIMIT $1`, foldBatchRows+1)
		if err != nil {
			return fmt.Errorf("listing usage journal: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if len(ids) > foldBatchRows {
			ids, res.More = ids[:foldBatchRows], true
		}
		var a args
		rows, err := tx.query(`DELETE FROM usage_journal WHERE `+tx.idFilter(&a, "id", ids)+
			` RETURNING node_id, hour, users, data`, a...)
		if err != nil {
			return fmt.Errorf("taking usage journal: %w", err)
		}
		type taken struct {
			k    key
			n    int
			data []byte
		}
		var all []taken
		for rows.Next() {
			var t taken
			if err := rows.Scan(&t.k.node, &t.k.hour, &t.n, &t.data); err != nil {
				rows.Close()
				return fmt.Errorf("reading usage journal: %w", err)
			}
			all = append(all, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading usage journal: %w", err)
		}
		for _, t := range all {
			g := groups[t.k]
			if g == nil {
				g = make(map[int64]int64, t.n)
				groups[t.k] = g
			}
			if err := decodeJournal(t.data, t.n, func(id, used int64) {
				// Saturating, as the counters the batches went to.
				g[id] = model.ClampBytes(model.SatAdd(g[id], used))
				res.Bytes = model.SatAdd(res.Bytes, used)
			}); err != nil {
				return err
			}
		}
		res.Batches = len(all)
		for _, k := range slices.SortedFunc(maps.Keys(groups), func(a, b key) int {
			if a.node != b.node {
				return int(sign(a.node - b.node))
			}
			return int(sign(a.hour - b.hour))
		}) {
			g := groups[k]
			ids := slices.Sorted(maps.Keys(g))
			used := make([]int64, len(ids))
			for i, id := range ids {
				used[i] = g[id]
			}
			n, err := tx.addHourlyUserUsage(k.node, k.hour, ids, used)
			if err != nil {
				return err
			}
			res.Rows += n
		}
		return nil
	})
	if err != nil {
		return FoldResult{}, fmt.Errorf("folding usage journal: %w", err)
	}
	return res, nil
}

// addHourlyUserUsage adds used[i] to user ids[i]'s usage on node in hour,
// for the users that still exist, and returns how many rows it wrote.
func (tx *Tx) addHourlyUserUsage(node, hour int64, ids, used []int64) (int, error) {
	if tx.postgres() {
		// As in applyUserUsagePostgres: keep the 100k-row join in memory.
		// FOR KEY SHARE holds each user's traffic row until commit: a user
		// deleted meanwhile (DeleteUser deletes the user, whose trigger
		// deletes that row, then its history) either waits for this fold
		// and deletes what it added, or commits first and is skipped here.
		// Without it a fold racing a delete left history rows of a user
		// that no longer exists (found by backup.TestBackupDuringWrites).
		if _, err := tx.exec(`SET LOCAL work_mem = '64MB'`); err != nil {
			return 0, fmt.Errorf("sizing fold memory: %w", err)
		}
		res, err := tx.exec(`INSERT INTO node_user_usages (user_id, node_id, hour, used)
			SELECT b.user_id, $3, $4, b.used FROM unnest($1::bigint[], $2::bigint[]) AS b (user_id, used)
			JOIN user_traffic t ON t.user_id = b.user_id
			FOR KEY SHARE OF t
			ON CONFLICT (user_id, node_id, hour) DO UPDATE SET used = `+saturatedSum("node_user_usages.used", "excluded.used"),
			ids, used, node, hour)
		if err != nil {
			return 0, fmt.Errorf("adding hourly usage of %d users: %w", len(ids), err)
		}
		n, err := res.RowsAffected()
		return int(n), err
	}
	if err := tx.loadUsageBatch(ids, used); err != nil {
		return 0, err
	}
	// WHERE true: SQLite's parser needs it between SELECT and ON CONFLICT.
	res, err := tx.exec(`INSERT INTO node_user_usages (user_id, node_id, hour, used)
		SELECT b.user_id, $1, $2, b.used FROM temp.usage_batch b JOIN user_traffic t ON t.user_id = b.user_id WHERE true
		ON CONFLICT (user_id, node_id, hour) DO UPDATE SET used = `+saturatedSum("node_user_usages.used", "excluded.used"), node, hour)
	if err != nil {
		return 0, fmt.Errorf("adding hourly usage of %d users: %w", len(ids), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := tx.exec(`DELETE FROM temp.usage_batch`); err != nil {
		return 0, fmt.Errorf("clearing usage batch table: %w", err)
	}
	return int(n), nil
}

// UsageJournalLen counts the journal rows waiting for a fold.
func (tx *Tx) UsageJournalLen() (int, error) {
	var n int
	if err := tx.queryRow(`SELECT COUNT(*) FROM usage_journal`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting usage journal: %w", err)
	}
	return n, nil
}

// FoldAllUsage folds the whole usage journal (FoldUsageJournal until no
// rows are left), so hourly per-user reads that follow see every applied
// batch. Readers of node_user_usages call it first; with the journal
// emptied by the periodic fold it costs one read, and takes no write lock
// (a public subscription usage page calls it).
func (s *Store) FoldAllUsage(ctx context.Context) error {
	var pending bool
	if err := s.Read(ctx, func(tx *Tx) error {
		return tx.queryRow(`SELECT EXISTS (SELECT 1 FROM usage_journal)`).Scan(&pending)
	}); err != nil {
		return fmt.Errorf("checking usage journal: %w", err)
	}
	if !pending {
		return nil
	}
	for {
		res, err := s.FoldUsageJournal(ctx)
		if err != nil {
			return err
		}
		if !res.More {
			return nil
		}
	}
}
