package hub

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

func user(id int64, name string, expire int64) protocol.User {
	return protocol.User{ID: id, Email: name, VLESS: &protocol.VLESS{ID: "11111111-1111-1111-1111-111111111111"}, Expire: expire}
}

func publish(t *testing.T, f feed.Feed, rev int64, d protocol.Delta) feed.Change {
	t.Helper()
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	c := feed.Change{Revision: rev, Data: raw}
	if err := f.Publish(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDeltaMatchesDesired: for every starting revision, applying the merged
// delta to the state at that revision gives the state hash the hub's
// desired state has at the head, which is what a node is asked to reach.
func TestDeltaMatchesDesired(t *testing.T) {
	ctx := context.Background()
	f := feed.NewMemory(100)
	cfg1, cfg2 := []byte(`{"a":1}`), []byte(`{"a":2}`)
	base := []protocol.User{user(1, "1.a", 0), user(2, "1.b", 0)}
	d := newDesired(1, cfg1, base)
	steps := []protocol.Delta{
		{Upserts: []protocol.User{user(3, "3.c", 0)}},
		{Removes: []string{"1.a"}},
		{Upserts: []protocol.User{user(2, "1.b", 99)}},
		{Config: cfg2},
		{Upserts: []protocol.User{user(1, "1.a", 5)}, Removes: []string{"3.c"}},
		{Removes: []string{"404.nobody"}},
	}
	// states[i] is the full state at revision i+1.
	type snap struct {
		cfg   []byte
		users map[string]protocol.User
	}
	cur := snap{cfg1, map[string]protocol.User{}}
	for _, u := range base {
		cur.users[u.Email] = u
	}
	states := map[int64]snap{1: cur}
	for i, s := range steps {
		rev := int64(i + 2)
		if err := d.applyChange(publish(t, f, rev, s)); err != nil {
			t.Fatal(err)
		}
		next := snap{cur.cfg, map[string]protocol.User{}}
		for k, v := range cur.users {
			next.users[k] = v
		}
		if s.Config != nil {
			next.cfg = s.Config
		}
		for _, u := range s.Upserts {
			next.users[u.Email] = u
		}
		for _, e := range s.Removes {
			delete(next.users, e)
		}
		states[rev], cur = next, next
	}
	head, hash := d.head()
	var all []protocol.User
	for _, u := range cur.users {
		all = append(all, u)
	}
	if want := protocol.ComputeStateHash(cur.cfg, all); want != hash {
		t.Fatalf("incremental hash %s != full hash %s", hash, want)
	}
	for from := int64(1); from <= head; from++ {
		delta, err := deltaFrom(ctx, f.Since, from, head)
		if err != nil {
			t.Fatalf("delta from %d: %v", from, err)
		}
		st := states[from]
		h := protocol.ComputeStateHash(st.cfg, nil)
		users := map[string]protocol.User{}
		for k, v := range st.users {
			users[k] = v
			h.AddUser(v)
		}
		cfg := st.cfg
		if delta.Config != nil {
			h.ToggleConfig(cfg)
			cfg = delta.Config
			h.ToggleConfig(cfg)
		}
		seen := map[string]bool{}
		for _, u := range delta.Upserts {
			if seen[u.Email] {
				t.Fatalf("delta from %d names %s twice", from, u.Email)
			}
			seen[u.Email] = true
			if old, ok := users[u.Email]; ok {
				h.RemoveUser(old)
			}
			h.AddUser(u)
		}
		for _, e := range delta.Removes {
			if seen[e] {
				t.Fatalf("delta from %d names %s twice", from, e)
			}
			seen[e] = true
			if old, ok := users[e]; ok {
				h.RemoveUser(old)
			}
		}
		if h != hash {
			t.Errorf("delta from %d leads to %s, desired head is %s", from, h, hash)
		}
	}
}

func TestDeltaFromTrimmedFeedNeedsSnapshot(t *testing.T) {
	f := feed.NewMemory(2)
	for rev := int64(1); rev <= 5; rev++ {
		publish(t, f, rev, protocol.Delta{Upserts: []protocol.User{user(rev, "x", rev)}})
	}
	if _, err := deltaFrom(context.Background(), f.Since, 1, 5); !errors.Is(err, errNeedSnapshot) {
		t.Fatalf("delta across trimmed revisions: %v; want errNeedSnapshot", err)
	}
	if d, err := deltaFrom(context.Background(), f.Since, 3, 5); err != nil || len(d.Upserts) != 1 {
		t.Fatalf("delta within retention: %+v %v", d, err)
	}
}

// TestMixedEncodingsInTheFeed: during a rolling upgrade the feed holds rows
// an older replica wrote (protocol.Delta JSON) next to rows in the change
// package's encoding; the hub folds and merges both alike.
func TestMixedEncodingsInTheFeed(t *testing.T) {
	ctx := context.Background()
	f := feed.NewMemory(100)
	d := newDesired(1, []byte(`{"a":1}`), nil)
	publishNew := func(rev int64, c change.Change) feed.Change {
		raw, err := change.Encode(rev, c)
		if err != nil {
			t.Fatal(err)
		}
		fc := feed.Change{Revision: rev, Data: raw}
		if err := f.Publish(ctx, fc); err != nil {
			t.Fatal(err)
		}
		return fc
	}
	rows := []feed.Change{
		publish(t, f, 2, protocol.Delta{Revision: 2, Upserts: []protocol.User{user(1, "1.a", 0), user(2, "2.b", 0)}}),
		publishNew(3, change.UserRemoved("1.a")),
		publish(t, f, 4, protocol.Delta{Revision: 4, Config: []byte(`{"a":2}`)}),
		publishNew(5, change.UserUpserted(user(3, "3.c", 9))),
	}
	for _, c := range rows {
		if err := d.applyChange(c); err != nil {
			t.Fatal(err)
		}
	}
	_, hash := d.head()
	want := protocol.ComputeStateHash([]byte(`{"a":2}`), []protocol.User{user(2, "2.b", 0), user(3, "3.c", 9)})
	if hash != want {
		t.Fatalf("desired after mixed rows has hash %s, want %s", hash, want)
	}
	delta, err := deltaFrom(ctx, f.Since, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if string(delta.Config) != `{"a":2}` || len(delta.Upserts) != 2 || len(delta.Removes) != 1 || delta.Removes[0] != "1.a" {
		t.Fatalf("merged delta over mixed rows: %+v", delta)
	}
}

// TestDecodedChanges: deltas built through the decoded-change cache equal
// those decoded afresh, for every starting revision; a revision whose
// bytes differ from the cached ones (a restored database reusing it) is
// decoded again, not served stale; and the cache stays bounded.
func TestDecodedChanges(t *testing.T) {
	ctx := context.Background()
	f := feed.NewMemory(10000)
	for rev := int64(2); rev <= 40; rev++ {
		publish(t, f, rev, protocol.Delta{Upserts: []protocol.User{user(rev%7, "1.u"+string(rune('a'+rev%7)), rev)}})
	}
	var dec decodedChanges
	for from := int64(1); from < 40; from++ {
		for pass := 0; pass < 2; pass++ { // the second pass is served from the cache
			got, err := deltaFromCached(ctx, f.Since, &dec, from, 40)
			if err != nil {
				t.Fatal(err)
			}
			want, err := deltaFrom(ctx, f.Since, from, 40)
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Fatalf("from %d, pass %d: cached delta %s, decoded afresh %s", from, pass, gb, wb)
			}
		}
	}
	// Same revision, other bytes: decoded again.
	a := feed.Change{Revision: 100, Data: []byte(`{"upserts":[{"id":1,"email":"1.a"}]}`)}
	b := feed.Change{Revision: 100, Data: []byte(`{"upserts":[{"id":2,"email":"2.b"}]}`)}
	if ch, err := dec.decode(a); err != nil || ch.Upserts[0].Email != "1.a" {
		t.Fatalf("%+v %v", ch, err)
	}
	if ch, err := dec.decode(b); err != nil || ch.Upserts[0].Email != "2.b" {
		t.Fatalf("a reused revision was served from the cache: %+v %v", ch, err)
	}
	// Bounded: far newer revisions push the old ones out.
	for rev := int64(1000); rev < 1000+3*decodedKeep; rev++ {
		if _, err := dec.decode(feed.Change{Revision: rev, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(dec.byRv); n > 2*decodedKeep+1 {
		t.Fatalf("the cache holds %d revisions, more than %d", n, 2*decodedKeep+1)
	}
	if _, err := dec.decode(feed.Change{Revision: 5, Data: []byte(`{not json`)}); err == nil {
		t.Fatal("a change that does not decode was accepted")
	}
}
