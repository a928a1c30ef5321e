package change

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// view is a desired state in memory: the smallest Target.
type view struct {
	config []byte
	users  map[string]protocol.User
}

func newView() *view { return &view{config: []byte(`{}`), users: map[string]protocol.User{}} }

func (v *view) ReplaceConfig(c []byte)     { v.config = c }
func (v *view) UpsertUser(u protocol.User) { v.users[u.Email] = u }
func (v *view) RemoveUser(email string)    { delete(v.users, email) }
func (v *view) equal(o *view) bool {
	return bytes.Equal(v.config, o.config) && reflect.DeepEqual(v.users, o.users)
}
func (v *view) String() string { return fmt.Sprintf("config=%s users=%v", v.config, v.users) }
func usr(email string, expire int64) protocol.User {
	return protocol.User{Email: email, VLESS: &protocol.VLESS{ID: "11111111-1111-1111-1111-111111111111"}, Expire: expire}
}

func TestMerge(t *testing.T) {
	a1, a2, b1 := usr("1.a", 1), usr("1.a", 2), usr("2.b", 1)
	for _, tc := range []struct {
		name string
		in   []Change
		want Change
	}{
		{"none", nil, Change{}},
		{"one upsert", []Change{UserUpserted(a1)}, Change{Upserts: []protocol.User{a1}}},
		{"the newer version wins", []Change{UserUpserted(a1), UserUpserted(a2)}, Change{Upserts: []protocol.User{a2}}},
		{"created then removed is a remove", []Change{UserUpserted(a1), UserRemoved("1.a")}, Change{Removes: []string{"1.a"}}},
		{"removed then created is an upsert", []Change{UserRemoved("1.a"), UserUpserted(a2)}, Change{Upserts: []protocol.User{a2}}},
		{"the newest config wins", []Change{ConfigReplaced([]byte(`1`)), UserUpserted(b1), ConfigReplaced([]byte(`2`))},
			Change{Config: []byte(`2`), Upserts: []protocol.User{b1}}},
		{"a change without a config keeps the older one", []Change{ConfigReplaced([]byte(`1`)), UserRemoved("2.b")},
			Change{Config: []byte(`1`), Removes: []string{"2.b"}}},
		{"emails keep their first order", []Change{UserUpserted(b1), UserUpserted(a1), UserUpserted(b1)},
			Change{Upserts: []protocol.User{b1, a1}}},
		{"one change naming an email twice is normalized", []Change{{Upserts: []protocol.User{a1, a2}, Removes: []string{"1.a"}}},
			Change{Removes: []string{"1.a"}}},
		{"bulk constructors", []Change{UsersUpserted([]protocol.User{a1, b1}), UsersRemoved([]string{"2.b"})},
			Change{Upserts: []protocol.User{a1}, Removes: []string{"2.b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(tc.in...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Merge = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMergeDoesNotModifyItsInputs(t *testing.T) {
	a, b := UsersUpserted([]protocol.User{usr("1.a", 1), usr("2.b", 1)}), UserRemoved("1.a")
	before := fmt.Sprint(a, b)
	_ = Merge(a, b)
	if after := fmt.Sprint(a, b); after != before {
		t.Fatalf("inputs changed: %s -> %s", before, after)
	}
}

// randomChange draws a change over a few emails, configs and versions, so
// that sequences often touch the same user several times.
func randomChange(r *rand.Rand) Change {
	var c Change
	if r.IntN(4) == 0 {
		c.Config = []byte(fmt.Sprintf(`{"v":%d}`, r.IntN(3)))
	}
	for range r.IntN(4) {
		c.Upserts = append(c.Upserts, usr(fmt.Sprintf("%d.u", r.IntN(6)), int64(r.IntN(3))))
	}
	for range r.IntN(3) {
		c.Removes = append(c.Removes, fmt.Sprintf("%d.u", r.IntN(6)))
	}
	return c
}

// TestMergeThenApplyIsApplyOneByOne is the property Merge exists for: for
// random sequences of changes from random starting states, applying the
// merged change gives the state that applying each change in turn gives,
// and the merged change names every email at most once.
func TestMergeThenApplyIsApplyOneByOne(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 2))
	for i := range 5000 {
		start := newView()
		start.ReplaceConfig([]byte(`{"v":"start"}`))
		randomChange(r).Apply(start) // a random starting state
		seq := make([]Change, r.IntN(8))
		for j := range seq {
			seq[j] = randomChange(r)
		}

		oneByOne, merged := clone(start), clone(start)
		for _, c := range seq {
			c.Apply(oneByOne)
		}
		m := Merge(seq...)
		m.Apply(merged)
		if !oneByOne.equal(merged) {
			t.Fatalf("case %d: %v\none by one: %s\nmerged %+v: %s", i, seq, oneByOne, m, merged)
		}
		seen := map[string]bool{}
		for _, e := range append(emails(m.Upserts), m.Removes...) {
			if seen[e] {
				t.Fatalf("case %d: merged change names %s twice: %+v", i, e, m)
			}
			seen[e] = true
		}
		// Merging is associative (up to the order of emails, which means
		// nothing): a merged prefix merged with the rest is the same
		// change, which is what lets the hub merge page by page.
		if k := len(seq) / 2; !reflect.DeepEqual(sorted(Merge(Merge(seq[:k]...), Merge(seq[k:]...))), sorted(m)) {
			t.Fatalf("case %d: merge is not associative over %v", i, seq)
		}
	}
}

func clone(v *view) *view {
	c := &view{config: v.config, users: make(map[string]protocol.User, len(v.users))}
	for k, u := range v.users {
		c.users[k] = u
	}
	return c
}

func sorted(c Change) Change {
	c.Upserts, c.Removes = slices.Clone(c.Upserts), slices.Clone(c.Removes)
	slices.SortFunc(c.Upserts, func(a, b protocol.User) int { return strings.Compare(a.Email, b.Email) })
	slices.Sort(c.Removes)
	return c
}

func emails(us []protocol.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	return out
}
