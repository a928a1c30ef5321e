package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

func TestMemory(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		m := NewMemory()
		t.Cleanup(func() { m.Close() })
		return m
	})
}

func TestBolt(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		b, err := OpenBolt(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// testStore is the contract every Store implementation passes.
func testStore(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Empty", func(t *testing.T) { testEmpty(t, open(t)) })
	t.Run("SnapshotRoundTrip", func(t *testing.T) { testSnapshotRoundTrip(t, open(t)) })
	t.Run("InvalidSnapshotKeepsPrevious", func(t *testing.T) { testInvalidSnapshot(t, open) })
	t.Run("Delta", func(t *testing.T) { testDelta(t, open(t)) })
	t.Run("DeltaErrors", func(t *testing.T) { testDeltaErrors(t, open) })
	t.Run("Journal", func(t *testing.T) { testJournal(t, open(t)) })
	t.Run("JournalInvalid", func(t *testing.T) { testJournalInvalid(t, open(t)) })
	t.Run("LocalUsed", func(t *testing.T) { testLocalUsed(t, open(t)) })
	t.Run("DeviceUsage", func(t *testing.T) { testDeviceUsage(t, open) })
	t.Run("Enforced", func(t *testing.T) { testEnforced(t, open(t)) })
	t.Run("EnforcedAcrossSnapshot", func(t *testing.T) { testEnforcedAcrossSnapshot(t, open(t)) })
	t.Run("NodeID", func(t *testing.T) { testNodeID(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, open(t)) })
}

// testUser returns a distinct user per i, covering every optional field.
// populateFixture uses it too: changing it invalidates testdata's fixtures.
func testUser(i int) protocol.User {
	u := protocol.User{
		ID:    int64(i + 1),
		Email: fmt.Sprintf("%d.user_%06d", i+1, i),
	}
	u.VLESS = &protocol.VLESS{ID: fmt.Sprintf("6f1c2a4e-0000-4000-8000-%012d", i)}
	switch i % 4 {
	case 0:
		u.VLESS.Flow = "xtls-rprx-vision"
		u.Expire = 1_900_000_000 + int64(i)
		left := int64(10<<30 - i)
		u.BytesLeft = &left
	case 1:
		u.VMess = &protocol.VMess{ID: fmt.Sprintf("0a1b2c3d-0000-4000-8000-%012d", i)}
		u.Excluded = []string{"VLESS_TCP_REALITY", "VMESS_WS"}
	case 2:
		u.Trojan = &protocol.Trojan{Password: fmt.Sprintf("trojan-secret-%d", i)}
		u.Shadowsocks = &protocol.Shadowsocks{Password: fmt.Sprintf("ss-secret-%d", i), Method: "chacha20-ietf-poly1305"}
		zero := int64(0)
		u.BytesLeft = &zero
	case 3:
		u.VLESS = nil
		u.Shadowsocks = &protocol.Shadowsocks{Password: "p", Method: "aes-128-gcm"}
		overdrawn := int64(-5)
		u.BytesLeft = &overdrawn
		u.Expire = -1 // in the past, never unix 0
	}
	return u
}

func testUsers(n int) []protocol.User {
	users := make([]protocol.User, n)
	for i := range users {
		users[i] = testUser(i)
	}
	return users
}

var testConfig = []byte(`{"inbounds":[{"tag":"VLESS_TCP_REALITY","protocol":"vless","port":443}]}`)

func mustSnapshot(t *testing.T, s Store, rev int64, config []byte, users []protocol.User) protocol.StateHash {
	t.Helper()
	hash := protocol.ComputeStateHash(config, users)
	if err := s.SaveSnapshot(rev, hash, config, users); err != nil {
		t.Fatalf("SaveSnapshot(%d): %v", rev, err)
	}
	return hash
}

func mustLoad(t *testing.T, s Store) Desired {
	t.Helper()
	d, ok, err := s.LoadDesired()
	if err != nil || !ok {
		t.Fatalf("LoadDesired = ok %v, err %v; want a stored state", ok, err)
	}
	return d
}

// checkDesired compares a loaded state with what should be stored, and checks
// that the stored hash is the hash of the stored state.
func checkDesired(t *testing.T, got Desired, rev int64, config []byte, users []protocol.User) {
	t.Helper()
	if got.Revision != rev {
		t.Errorf("revision %d, want %d", got.Revision, rev)
	}
	if !bytes.Equal(got.Config, config) {
		t.Errorf("config %q, want %q", got.Config, config)
	}
	want := make(map[string]protocol.User, len(users))
	for _, u := range users {
		want[u.Email] = u
	}
	if len(got.Users) != len(want) {
		t.Errorf("%d users, want %d", len(got.Users), len(want))
	}
	for email, w := range want {
		if g, ok := got.Users[email]; !ok {
			t.Errorf("user %q missing", email)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("user %q = %+v, want %+v", email, g, w)
		}
	}
	loaded := make([]protocol.User, 0, len(got.Users))
	for _, u := range got.Users {
		loaded = append(loaded, u)
	}
	if h := protocol.ComputeStateHash(got.Config, loaded); h != got.Hash {
		t.Errorf("stored hash %s is not the hash of the stored state %s", got.Hash, h)
	}
}

func testEmpty(t *testing.T, s Store) {
	if _, ok, err := s.LoadDesired(); ok || err != nil {
		t.Errorf("LoadDesired on a new store = ok %v, err %v; want nothing", ok, err)
	}
	ints := []struct {
		name string
		get  func() (int64, error)
	}{
		{"NodeID", s.NodeID},
		{"LastSeq", s.LastSeq},
		{"LocalUsed", func() (int64, error) { return s.LocalUsed("1.alice") }},
		{"JournalBacklog", func() (int64, error) { n, err := s.JournalBacklog(); return int64(n), err }},
	}
	for _, c := range ints {
		if v, err := c.get(); v != 0 || err != nil {
			t.Errorf("%s = %d, %v; want 0, nil", c.name, v, err)
		}
	}
	if p, err := s.PendingUsage(0, 0); len(p) != 0 || err != nil {
		t.Errorf("PendingUsage = %v, %v; want none", p, err)
	}
	if e, err := s.Enforced(); len(e) != 0 || err != nil {
		t.Errorf("Enforced = %v, %v; want none", e, err)
	}
}

func testSnapshotRoundTrip(t *testing.T, s Store) {
	users := testUsers(8)
	mustSnapshot(t, s, 7, testConfig, users)
	checkDesired(t, mustLoad(t, s), 7, testConfig, users)

	// A second snapshot replaces everything, including at a lower revision:
	// the panel is the authority (a restored panel database goes back).
	next := append(testUsers(3)[1:], testUser(100))
	next[0].VMess.ID = "changed"
	config := []byte(`{"inbounds":[]}`)
	mustSnapshot(t, s, 5, config, next)
	checkDesired(t, mustLoad(t, s), 5, config, next)

	mustSnapshot(t, s, 6, nil, nil) // a snapshot without config replaces it too
	checkDesired(t, mustLoad(t, s), 6, nil, nil)

	mustSnapshot(t, s, 6, config, nil)
	d := mustLoad(t, s)
	checkDesired(t, d, 6, config, nil)
	if d.Users == nil {
		t.Error("Users of a state without users is nil; want an empty map")
	}

	// What LoadDesired returns is the caller's: changing it changes nothing stored.
	d.Users["x"] = testUser(1)
	d.Config[0] = 'X'
	checkDesired(t, mustLoad(t, s), 6, config, nil)
}

func testInvalidSnapshot(t *testing.T, open func(t *testing.T) Store) {
	dup := testUsers(3)
	dup[2].Email = dup[0].Email
	noEmail := testUsers(2)
	noEmail[1].Email = ""
	longEmail := testUsers(2)
	longEmail[0].Email = strings.Repeat("a", maxEmailLen+1)
	for _, c := range []struct {
		name  string
		users []protocol.User
	}{
		{"duplicate email", dup},
		{"empty email", noEmail},
		{"email too long", longEmail},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			users := testUsers(4)
			mustSnapshot(t, s, 1, testConfig, users)
			if _, err := s.AppendUsage(time.Unix(1, 0), map[string]Traffic{users[0].Email: {Up: 3}}); err != nil {
				t.Fatal(err)
			}
			err := s.SaveSnapshot(2, protocol.ComputeStateHash(nil, c.users), nil, c.users)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("SaveSnapshot = %v; want ErrInvalid", err)
			}
			checkDesired(t, mustLoad(t, s), 1, testConfig, users)
			if used, _ := s.LocalUsed(users[0].Email); used != 3 {
				t.Errorf("LocalUsed after a refused snapshot = %d; want 3", used)
			}
		})
	}
}

func testDelta(t *testing.T, s Store) {
	users := testUsers(6)
	hash := mustSnapshot(t, s, 10, testConfig, users)
	config := testConfig
	current := map[string]protocol.User{}
	for _, u := range users {
		current[u.Email] = u
	}

	steps := []struct {
		name    string
		config  []byte
		upserts []protocol.User
		removes []string
	}{
		{name: "add a user", upserts: []protocol.User{testUser(50)}},
		{name: "change a user", upserts: []protocol.User{func() protocol.User {
			u := testUser(1)
			u.Excluded = nil
			u.Expire = 42
			return u
		}()}},
		{name: "remove users", removes: []string{users[2].Email, users[3].Email}},
		{name: "remove an absent user", removes: []string{"999.nobody"}},
		{name: "replace config", config: []byte(`{"inbounds":[{"tag":"B"}]}`)},
		{name: "everything at once", config: []byte(`{"inbounds":[{"tag":"C"}]}`),
			upserts: []protocol.User{testUser(60), testUser(2)}, removes: []string{users[0].Email}},
		{name: "re-add a removed user", upserts: []protocol.User{testUser(3)}},
	}
	rev := int64(10)
	for _, step := range steps {
		rev++
		// Keep the hash the way the agent does: incrementally.
		if step.config != nil {
			hash.ToggleConfig(config)
			hash.ToggleConfig(step.config)
			config = step.config
		}
		for _, email := range step.removes {
			if old, ok := current[email]; ok {
				hash.RemoveUser(old)
				delete(current, email)
			}
		}
		for _, u := range step.upserts {
			if old, ok := current[u.Email]; ok {
				hash.RemoveUser(old)
			}
			hash.AddUser(u)
			current[u.Email] = u
		}
		if err := s.ApplyDelta(rev, hash, step.config, step.upserts, step.removes); err != nil {
			t.Fatalf("%s: ApplyDelta: %v", step.name, err)
		}
		d := mustLoad(t, s)
		if d.Hash != hash {
			t.Errorf("%s: hash %s, want %s", step.name, d.Hash, hash)
		}
		checkDesired(t, d, rev, config, slices.Collect(maps.Values(current)))
	}
}

func testDeltaErrors(t *testing.T, open func(t *testing.T) Store) {
	t.Run("no base", func(t *testing.T) {
		s := open(t)
		err := s.ApplyDelta(1, protocol.StateHash{}, testConfig, []protocol.User{testUser(0)}, nil)
		if !errors.Is(err, ErrNoBase) {
			t.Fatalf("ApplyDelta without a snapshot = %v; want ErrNoBase", err)
		}
		if _, ok, _ := s.LoadDesired(); ok {
			t.Error("a refused delta created a desired state")
		}
	})
	u := testUser(0)
	for _, c := range []struct {
		name    string
		rev     int64
		upserts []protocol.User
		removes []string
		want    error
	}{
		{"same revision", 5, []protocol.User{testUser(9)}, nil, ErrStaleRevision},
		{"older revision", 4, []protocol.User{testUser(9)}, nil, ErrStaleRevision},
		{"upsert and remove one user", 6, []protocol.User{testUser(9)}, []string{testUser(9).Email}, ErrInvalid},
		{"upsert twice", 6, []protocol.User{testUser(9), testUser(9)}, nil, ErrInvalid},
		{"remove twice", 6, nil, []string{u.Email, u.Email}, ErrInvalid},
		{"empty email", 6, []protocol.User{{ID: 1}}, nil, ErrInvalid},
		{"empty remove", 6, nil, []string{""}, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			users := testUsers(3)
			mustSnapshot(t, s, 5, testConfig, users)
			err := s.ApplyDelta(c.rev, protocol.StateHash{1}, []byte(`{}`), c.upserts, c.removes)
			if !errors.Is(err, c.want) {
				t.Fatalf("ApplyDelta = %v; want %v", err, c.want)
			}
			checkDesired(t, mustLoad(t, s), 5, testConfig, users)
		})
	}
}

func testJournal(t *testing.T, s Store) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	entries := []map[string]Traffic{
		{"1.alice": {Up: 10, Down: 20}},
		{"1.alice": {Up: 1}, "2.bob": {Down: 1 << 40}},
		{},
		{"3.carol": {Up: 1<<63 - 1, Down: 0}},
		{"2.bob": {Up: 5, Down: 5}},
	}
	var seqs []int64
	for i, traffic := range entries {
		seq, err := s.AppendUsage(base.Add(time.Duration(i)*time.Minute), traffic)
		if err != nil {
			t.Fatalf("AppendUsage %d: %v", i, err)
		}
		if len(seqs) > 0 && seq <= seqs[len(seqs)-1] {
			t.Fatalf("seq %d after %d; want strictly greater", seq, seqs[len(seqs)-1])
		}
		seqs = append(seqs, seq)
	}
	checkPending := func(after int64, limit int, wantIdx ...int) {
		t.Helper()
		got, err := s.PendingUsage(after, limit)
		if err != nil {
			t.Fatalf("PendingUsage(%d, %d): %v", after, limit, err)
		}
		if len(got) != len(wantIdx) {
			t.Fatalf("PendingUsage(%d, %d) = %d entries, want %d", after, limit, len(got), len(wantIdx))
		}
		for j, i := range wantIdx {
			e := got[j]
			if e.Seq != seqs[i] || !e.At.Equal(base.Add(time.Duration(i)*time.Minute)) || len(e.Traffic) != len(entries[i]) {
				t.Errorf("entry %d = seq %d at %v %v; want seq %d at %v %v", j, e.Seq, e.At, e.Traffic, seqs[i], base.Add(time.Duration(i)*time.Minute), entries[i])
			}
			for email, tr := range entries[i] {
				if e.Traffic[email] != tr {
					t.Errorf("entry %d traffic of %s = %+v, want %+v", j, email, e.Traffic[email], tr)
				}
			}
		}
	}
	checkBacklog := func(want int) {
		t.Helper()
		if n, err := s.JournalBacklog(); n != want || err != nil {
			t.Errorf("JournalBacklog = %d, %v; want %d", n, err, want)
		}
	}
	checkPending(0, 0, 0, 1, 2, 3, 4)
	checkPending(-5, 2, 0, 1)
	checkPending(seqs[1], 2, 2, 3)
	checkPending(seqs[4], 0)
	checkPending(1<<63-1, 0)
	checkBacklog(5)

	if err := s.TrimUsage(seqs[2]); err != nil {
		t.Fatal(err)
	}
	checkPending(0, 0, 3, 4)
	checkBacklog(2)
	if err := s.TrimUsage(seqs[1]); err != nil { // an old ack again: nothing more goes
		t.Fatal(err)
	}
	checkBacklog(2)
	if err := s.TrimUsage(seqs[4]); err != nil {
		t.Fatal(err)
	}
	checkBacklog(0)
	seq, err := s.AppendUsage(base, map[string]Traffic{"1.alice": {Up: 1}})
	if err != nil || seq <= seqs[4] {
		t.Fatalf("AppendUsage after trimming all = %d, %v; want a seq after %d", seq, err, seqs[4])
	}
	if last, _ := s.LastSeq(); last != seq {
		t.Errorf("LastSeq = %d, want %d", last, seq)
	}

	// The panel acknowledges past what this node ever sent (its state dir
	// was wiped): later entries must come after the panel's seq.
	if err := s.TrimUsage(seq + 1000); err != nil {
		t.Fatal(err)
	}
	checkBacklog(0)
	next, err := s.AppendUsage(base, nil)
	if err != nil || next != seq+1001 {
		t.Errorf("AppendUsage after an ack from the future = %d, %v; want %d", next, err, seq+1001)
	}
}

func testJournalInvalid(t *testing.T, s Store) {
	for _, traffic := range []map[string]Traffic{
		{"1.alice": {Up: -1}},
		{"1.alice": {Up: 1}, "2.bob": {Down: -1}},
		{"": {Up: 1}},
	} {
		if _, err := s.AppendUsage(time.Now(), traffic); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendUsage(%v) = %v; want ErrInvalid", traffic, err)
		}
	}
	if last, _ := s.LastSeq(); last != 0 {
		t.Errorf("refused entries used seqs: LastSeq = %d", last)
	}
	if n, _ := s.JournalBacklog(); n != 0 {
		t.Errorf("refused entries were journaled: backlog %d", n)
	}
}

func testLocalUsed(t *testing.T, s Store) {
	users := testUsers(3)
	a, b, c := users[0].Email, users[1].Email, users[2].Email
	hash := mustSnapshot(t, s, 1, testConfig, users)
	check := func(step string, want map[string]int64) {
		t.Helper()
		for email, w := range want {
			if got, err := s.LocalUsed(email); got != w || err != nil {
				t.Errorf("%s: LocalUsed(%s) = %d, %v; want %d", step, email, got, err, w)
			}
		}
	}
	appendUsage := func(traffic map[string]Traffic) {
		t.Helper()
		if _, err := s.AppendUsage(time.Now(), traffic); err != nil {
			t.Fatal(err)
		}
	}
	appendUsage(map[string]Traffic{a: {Up: 10, Down: 5}, b: {Down: 1}, "77.stranger": {Up: 100}})
	appendUsage(map[string]Traffic{a: {Up: 10}})
	check("accumulated", map[string]int64{a: 25, b: 1, c: 0, "77.stranger": 0})

	appendUsage(map[string]Traffic{c: {Up: 1<<63 - 1}})
	appendUsage(map[string]Traffic{c: {Up: 1<<63 - 1, Down: 1}})
	check("saturated", map[string]int64{c: 1<<63 - 1})

	if err := s.TrimUsage(1 << 20); err != nil {
		t.Fatal(err)
	}
	check("trimming keeps counters", map[string]int64{a: 25, b: 1})

	changed := users[0]
	changed.Expire = 5
	hash.RemoveUser(users[0])
	hash.AddUser(changed)
	hash.RemoveUser(users[1])
	if err := s.ApplyDelta(2, hash, nil, []protocol.User{changed}, []string{b}); err != nil {
		t.Fatal(err)
	}
	check("after delta", map[string]int64{a: 0, b: 0, c: 1<<63 - 1})
	appendUsage(map[string]Traffic{a: {Up: 4}, b: {Up: 4}})
	check("removed users count nothing", map[string]int64{a: 4, b: 0})

	hash.AddUser(users[1])
	if err := s.ApplyDelta(3, hash, nil, []protocol.User{users[1]}, nil); err != nil {
		t.Fatal(err)
	}
	appendUsage(map[string]Traffic{b: {Up: 2}})
	check("re-added", map[string]int64{a: 4, b: 2})

	mustSnapshot(t, s, 4, testConfig, users)
	check("snapshot resets all", map[string]int64{a: 0, b: 0, c: 0})

	appendUsage(map[string]Traffic{a: {Up: 1}, b: {Up: 1}})
	mustSnapshot(t, s, 5, testConfig, users[:1])
	appendUsage(map[string]Traffic{a: {Up: 1}, b: {Up: 1}})
	check("users left out of a snapshot count nothing", map[string]int64{a: 1, b: 0})
}

func testEnforced(t *testing.T, s Store) {
	users := testUsers(4)
	hash := mustSnapshot(t, s, 1, testConfig, users)
	a, b, c := users[0].Email, users[1].Email, users[2].Email
	mark := func(email, reason string, at int64) {
		t.Helper()
		if err := s.MarkEnforced(protocol.EnforcedUser{Email: email, Reason: reason, At: at}); err != nil {
			t.Fatalf("MarkEnforced(%s): %v", email, err)
		}
	}
	check := func(step string, wantEnforced, wantUnreported []string) {
		t.Helper()
		for _, l := range []struct {
			name string
			list func() ([]protocol.EnforcedUser, error)
			want []string
		}{{"Enforced", s.Enforced, wantEnforced}, {"Unreported", s.Unreported, wantUnreported}} {
			got, err := l.list()
			if err != nil {
				t.Fatalf("%s: %s: %v", step, l.name, err)
			}
			var emails []string
			for _, e := range got {
				emails = append(emails, e.Email)
			}
			if !slices.Equal(emails, l.want) {
				t.Errorf("%s: %s = %v, want %v", step, l.name, emails, l.want)
			}
		}
	}

	if err := s.MarkEnforced(protocol.EnforcedUser{Email: "404.nobody", Reason: "expired", At: 1}); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("MarkEnforced of an unknown user = %v; want ErrUnknownUser", err)
	}
	if err := s.MarkEnforced(protocol.EnforcedUser{Email: a}); !errors.Is(err, ErrInvalid) {
		t.Errorf("MarkEnforced without a reason = %v; want ErrInvalid", err)
	}
	mark(c, "limited", 300)
	mark(a, "expired", 100)
	mark(b, "limited", 200)
	check("marked", []string{a, b, c}, []string{a, b, c})
	got, _ := s.Enforced()
	if want := (protocol.EnforcedUser{Email: a, Reason: "expired", At: 100}); got[0] != want {
		t.Errorf("Enforced()[0] = %+v, want %+v", got[0], want)
	}

	if err := s.MarkReported([]string{a, "404.nobody", ""}); err != nil {
		t.Fatal(err)
	}
	check("a reported", []string{a, b, c}, []string{b, c})
	mark(a, "limited", 999) // already removed: the first record stands
	check("marked again", []string{a, b, c}, []string{b, c})
	if got, _ := s.Enforced(); got[0].Reason != "expired" || got[0].At != 100 {
		t.Errorf("re-marking replaced the record: %+v", got[0])
	}

	if err := s.ClearEnforced([]string{b, "404.nobody", ""}); err != nil {
		t.Fatal(err)
	}
	check("b cleared", []string{a, c}, []string{c})

	hash.RemoveUser(users[0])
	hash.AddUser(users[0]) // same record re-sent: still a new upsert
	hash.RemoveUser(users[2])
	if err := s.ApplyDelta(2, hash, nil, []protocol.User{users[0]}, []string{c}); err != nil {
		t.Fatal(err)
	}
	check("delta clears upserted and removed", nil, nil)
}

func testEnforcedAcrossSnapshot(t *testing.T, s Store) {
	users := testUsers(4)
	mustSnapshot(t, s, 1, testConfig, users)
	for _, u := range users {
		if err := s.MarkEnforced(protocol.EnforcedUser{Email: u.Email, Reason: "expired", At: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkReported([]string{users[0].Email}); err != nil {
		t.Fatal(err)
	}
	next := slices.Clone(users[:3]) // users[3] is gone
	next[1].Expire = 2_000_000_000  // users[1] changed
	mustSnapshot(t, s, 2, testConfig, next)
	// users[0] and users[2] are as they were: the panel said nothing new
	// about them, so they stay removed (and users[0] stays reported).
	got, err := s.Enforced()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Email != users[0].Email || got[1].Email != users[2].Email {
		t.Errorf("Enforced after snapshot = %+v; want %s and %s", got, users[0].Email, users[2].Email)
	}
	unreported, _ := s.Unreported()
	if len(unreported) != 1 || unreported[0].Email != users[2].Email {
		t.Errorf("Unreported after snapshot = %+v; want %s", unreported, users[2].Email)
	}
}

func testNodeID(t *testing.T, s Store) {
	for _, id := range []int64{42, 7, 1 << 40} {
		if err := s.SetNodeID(id); err != nil {
			t.Fatal(err)
		}
		if got, err := s.NodeID(); got != id || err != nil {
			t.Errorf("NodeID = %d, %v; want %d", got, err, id)
		}
	}
}

// testConcurrent runs journal writers against readers; run with -race.
func testConcurrent(t *testing.T, s Store) {
	const writers, perWriter = 4, 25
	users := testUsers(writers + 1) // users[0] is shared, users[w+1] is writer w's
	mustSnapshot(t, s, 1, testConfig, users)
	var wg sync.WaitGroup
	seqs := make(chan int64, writers*perWriter)
	errs := make(chan error, writers*perWriter+writers)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range perWriter {
				seq, err := s.AppendUsage(time.Now(), map[string]Traffic{users[0].Email: {Up: 1}, users[w+1].Email: {Down: 2}})
				if err != nil {
					errs <- err
					return
				}
				seqs <- seq
			}
		}()
		go func() {
			defer wg.Done()
			for range perWriter {
				if _, err := s.LocalUsed(users[w+1].Email); err != nil {
					errs <- err
					return
				}
				if _, err := s.PendingUsage(0, 10); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(seqs)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for seq := range seqs {
		if seen[seq] {
			t.Errorf("seq %d returned twice", seq)
		}
		seen[seq] = true
	}
	if n, _ := s.JournalBacklog(); n != writers*perWriter {
		t.Errorf("backlog %d, want %d", n, writers*perWriter)
	}
	want := map[string]int64{users[0].Email: writers * perWriter}
	for w := range writers {
		want[users[w+1].Email] = 2 * perWriter
	}
	for email, w := range want {
		if got, err := s.LocalUsed(email); got != w || err != nil {
			t.Errorf("LocalUsed(%s) = %d, %v; want %d", email, got, err, w)
		}
	}
}

func testClosed(t *testing.T, s Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"LoadDesired":  func() error { _, _, err := s.LoadDesired(); return err }(),
		"SaveSnapshot": s.SaveSnapshot(1, protocol.StateHash{}, nil, nil),
		"AppendUsage":  func() error { _, err := s.AppendUsage(time.Now(), nil); return err }(),
		"LocalUsed":    func() error { _, err := s.LocalUsed("a"); return err }(),
		"Enforced":     func() error { _, err := s.Enforced(); return err }(),
		"SetNodeID":    s.SetNodeID(1),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// perDeviceUser is testUser(i) with credentials per device.
func perDeviceUser(i int, devices ...int64) protocol.User {
	u := testUser(i)
	u.PerDevice, u.Devices = true, devices
	return u
}

// testDeviceUsage: the journal keeps device identities apart (the panel
// counts per device), the local counter adds them up under their user.
func testDeviceUsage(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	u, plain := perDeviceUser(0, 1, 2), testUser(1)
	users := []protocol.User{u, plain}
	mustSnapshot(t, s, 1, testConfig, users)
	d1, d2 := protocol.DeviceEmail(u.Email, 1), protocol.DeviceEmail(u.Email, 2)
	reading := map[string]Traffic{d1: {Up: 10, Down: 5}, d2: {Up: 100, Down: 1}, plain.Email: {Up: 3},
		protocol.DeviceEmail("77.stranger", 1): {Up: 9}}
	if _, err := s.AppendUsage(time.Now(), reading); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUsage(time.Now(), map[string]Traffic{d2: {Down: 1000}}); err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]int64{u.Email: 1116, plain.Email: 3, d1: 0, d2: 0, "77.stranger": 0} {
		if got, err := s.LocalUsed(email); got != want || err != nil {
			t.Errorf("LocalUsed(%s) = %d, %v; want %d", email, got, err, want)
		}
	}
	entries, err := s.PendingUsage(0, 0)
	if err != nil || len(entries) != 2 {
		t.Fatalf("PendingUsage = %d entries, %v", len(entries), err)
	}
	if !reflect.DeepEqual(entries[0].Traffic, reading) {
		t.Errorf("journal entry = %v; want the identities as reported, %v", entries[0].Traffic, reading)
	}
	// The device list is part of the stored user.
	d := mustLoad(t, s)
	if got := d.Users[u.Email]; !got.PerDevice || !reflect.DeepEqual(got.Devices, u.Devices) {
		t.Errorf("stored per-device user = %+v", got)
	}
}
