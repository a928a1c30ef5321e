package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// hourlyUsage reads node_user_usages as (user, node, hour) -> used.
func hourlyUsage(t *testing.T, s *Store) map[[3]int64]int64 {
	t.Helper()
	out := map[[3]int64]int64{}
	mustRead(t, s, func(tx *Tx) error {
		rows, err := tx.query(`SELECT user_id, node_id, hour, used FROM node_user_usages`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k [3]int64
			var used int64
			if err := rows.Scan(&k[0], &k[1], &k[2], &used); err != nil {
				return err
			}
			out[k] = used
		}
		return rows.Err()
	})
	return out
}

func journalLen(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	mustRead(t, s, func(tx *Tx) (err error) {
		n, err = tx.UsageJournalLen()
		return err
	})
	return n
}

// TestUsageJournalFold: counters are exact as soon as a batch is applied;
// the hourly per-user usage appears when the journal is folded, merged per
// (user, node, hour), without the users deleted in between.
func TestUsageJournalFold(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		nodes := []model.Node{testNode("one"), testNode("two")}
		var ids []int64
		mustTx(t, s, func(tx *Tx) error {
			for i := range nodes {
				if err := tx.CreateNode(&nodes[i]); err != nil {
					return err
				}
			}
			for i := range 3 {
				u := testUser(fmt.Sprint("journal_", i))
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
				ids = append(ids, u.ID)
			}
			return nil
		})
		hour := time.Unix(1_800_003_600, 0).UTC()
		seq := map[int64]int64{}
		apply := func(node model.Node, at time.Time, traffic ...UserTraffic) {
			t.Helper()
			fence, _, err := s.NodeSessionStart(ctx, node.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := s.ApplyUsage(ctx, node.ID, fence, seq[node.ID], seq[node.ID]+1, at, traffic); err != nil || !ok {
				t.Fatalf("ApplyUsage: %v, %v", ok, err)
			}
			seq[node.ID]++
		}
		apply(nodes[0], hour.Add(time.Minute), UserTraffic{UserID: ids[0], Up: 10, Down: 1}, UserTraffic{UserID: ids[1], Up: 5, Down: 0})
		apply(nodes[0], hour.Add(2*time.Minute), UserTraffic{UserID: ids[0], Up: 100, Down: 0}, UserTraffic{UserID: ids[2], Up: 7, Down: 0})
		apply(nodes[1], hour.Add(3*time.Minute), UserTraffic{UserID: ids[0], Up: 1000, Down: 0})
		apply(nodes[0], hour.Add(61*time.Minute), UserTraffic{UserID: ids[0], Up: 3, Down: 0}, UserTraffic{UserID: ids[2], Up: 1, Down: 1})

		// Counters first: exact before any fold.
		mustRead(t, s, func(tx *Tx) error {
			for id, want := range map[int64]int64{ids[0]: 1114, ids[1]: 5, ids[2]: 9} {
				u, err := tx.UserByID(id)
				if err != nil {
					return err
				}
				if u.UsedTraffic != want || u.LifetimeUsedTraffic != want {
					t.Errorf("user %d before the fold: used %d lifetime %d, want %d", id, u.UsedTraffic, u.LifetimeUsedTraffic, want)
				}
			}
			return nil
		})
		if n := journalLen(t, s); n != 4 {
			t.Fatalf("journal rows = %d, want 4", n)
		}
		if got := hourlyUsage(t, s); len(got) != 0 {
			t.Fatalf("hourly usage before the fold: %v", got)
		}

		// A user deleted before the fold gets no hourly rows.
		mustTx(t, s, func(tx *Tx) error { return tx.DeleteUser(ids[1]) })

		res, err := s.FoldUsageJournal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Batches != 4 || res.More || res.Rows != 5 || res.Bytes != 1128 {
			t.Errorf("fold result %+v, want 4 batches, 5 rows, 1128 bytes", res)
		}
		h0, h1 := hour.Unix(), hour.Add(time.Hour).Unix()
		want := map[[3]int64]int64{
			{ids[0], nodes[0].ID, h0}: 111,
			{ids[2], nodes[0].ID, h0}: 7,
			{ids[0], nodes[1].ID, h0}: 1000,
			{ids[0], nodes[0].ID, h1}: 3,
			{ids[2], nodes[0].ID, h1}: 2,
		}
		// ids[0] on node 0 in hour 0 is two batches merged into one row;
		// the deleted user's 5 bytes were folded (Bytes) but written nowhere.
		if got := hourlyUsage(t, s); !mapsEqual(got, want) {
			t.Errorf("hourly usage after the fold:\n got %v\nwant %v", got, want)
		}
		if n := journalLen(t, s); n != 0 {
			t.Errorf("journal rows after the fold = %d", n)
		}

		// Folding again changes nothing; a new batch adds to the rows.
		if res, err := s.FoldUsageJournal(ctx); err != nil || res.Batches != 0 {
			t.Errorf("empty fold: %+v, %v", res, err)
		}
		apply(nodes[0], hour.Add(62*time.Minute), UserTraffic{UserID: ids[0], Up: 4, Down: 0})
		if err := s.FoldAllUsage(ctx); err != nil {
			t.Fatal(err)
		}
		want[[3]int64{ids[0], nodes[0].ID, h1}] = 7
		if got := hourlyUsage(t, s); !mapsEqual(got, want) {
			t.Errorf("hourly usage after a second fold:\n got %v\nwant %v", got, want)
		}
	})
}

func mapsEqual[K comparable](a, b map[K]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestUsageJournalFoldBoundedAndConcurrent: a fold takes at most
// foldBatchRows rows and says more are left; folds running at once (two
// stores on one database, as two replicas) count every batch exactly once.
func TestUsageJournalFoldBoundedAndConcurrent(t *testing.T) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.location(t)
			s := openAt(t, url, dir)
			ctx := context.Background()
			node := testNode("busy")
			var ids []int64
			mustTx(t, s, func(tx *Tx) error {
				if err := tx.CreateNode(&node); err != nil {
					return err
				}
				for i := range 20 {
					u := testUser(fmt.Sprint("busy_", i))
					if err := tx.CreateUser(&u); err != nil {
						return err
					}
					ids = append(ids, u.ID)
				}
				return nil
			})
			fence, _, err := s.NodeSessionStart(ctx, node.ID)
			if err != nil {
				t.Fatal(err)
			}
			const batches = 3*foldBatchRows + 5
			at := time.Unix(1_800_003_600, 0).UTC()
			for b := range batches {
				traffic := make([]UserTraffic, len(ids))
				for i, id := range ids {
					traffic[i] = UserTraffic{UserID: id, Up: int64(i + 1)}
				}
				if _, err := s.ApplyUsage(ctx, node.ID, fence, int64(b), int64(b+1), at, traffic); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.FoldUsageJournal(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Batches != foldBatchRows || !res.More {
				t.Fatalf("first fold: %+v, want %d batches and more", res, foldBatchRows)
			}

			// Two replicas fold the rest at once (SQLite: a second store on
			// the same file, as a second process would).
			other := openAt(t, url, dir)
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for _, st := range []*Store{s, other} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- st.FoldAllUsage(ctx)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			got := hourlyUsage(t, s)
			if len(got) != len(ids) {
				t.Fatalf("%d hourly rows, want %d", len(got), len(ids))
			}
			for i, id := range ids {
				if v := got[[3]int64{id, node.ID, at.Unix()}]; v != int64(batches*(i+1)) {
					t.Errorf("user %d: %d bytes in the hour, want %d", id, v, batches*(i+1))
				}
			}
			if n := journalLen(t, s); n != 0 {
				t.Errorf("journal rows left: %d", n)
			}
		})
	}
}

// FuzzJournalCodec: any ascending ids with non-negative bytes survive an
// encode and decode unchanged, and arbitrary bytes decode or fail without
// a panic.
func FuzzJournalCodec(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, []byte{1, 2, 3}, uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0}, encodeJournal([]int64{1, 5, 1 << 40}, []int64{0, 1 << 62, 7}), uint8(3))
	f.Fuzz(func(t *testing.T, pairs, junk []byte, n uint8) {
		var ids, used []int64
		id := int64(0)
		for i := 0; i+1 < len(pairs); i += 2 {
			// Gaps of at least 1 keep ids strictly ascending; values span
			// small numbers and, shifted, most of the int64 range.
			id += int64(pairs[i]) + 1
			ids = append(ids, id)
			used = append(used, int64(pairs[i+1])<<(pairs[i]%56))
		}
		var gotIDs, gotUsed []int64
		if err := decodeJournal(encodeJournal(ids, used), len(ids), func(id, u int64) {
			gotIDs, gotUsed = append(gotIDs, id), append(gotUsed, u)
		}); err != nil {
			t.Fatalf("decoding what was encoded: %v", err)
		}
		if !slices.Equal(gotIDs, ids) || !slices.Equal(gotUsed, used) {
			t.Fatalf("round trip: ids %v -> %v, used %v -> %v", ids, gotIDs, used, gotUsed)
		}
		_ = decodeJournal(junk, int(n), func(int64, int64) {})
	})
}
