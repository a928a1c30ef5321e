package directory

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// These tests run the directory over real stores on both engines, and
// compare what it serves with the store's SQL.

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

type (
	Tx          = store.Tx
	UserFilter  = model.UserFilter
	UserTraffic = model.UserTraffic
)

// Store is one panel replica in these tests: a store, and the directory
// over it wired as backend/state wires it. Its ListUsers lists through the
// directory; Tx.ListUsers is the SQL answer.
type Store struct {
	*store.Store
	dir *Directory
}

func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]model.User, int, error) {
	return s.dir.List(ctx, f)
}

var testEngines = []struct {
	name string
	// location returns the (databaseURL, dataDir) of a fresh database.
	location func(t testing.TB) (string, string)
}{
	{store.EngineSQLite, func(t testing.TB) (string, string) { return "", t.TempDir() }},
	{store.EnginePostgres, func(t testing.TB) (string, string) { return testenv.Postgres(t), "" }},
}

func openAt(t testing.TB, databaseURL, dataDir string) *Store {
	t.Helper()
	st, err := store.Open(context.Background(), databaseURL, dataDir, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	d := New(st, nil)
	st.ObserveUsage(d.BeginUsage)
	st.OnClose(d.Close)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &Store{Store: st, dir: d}
}

// forEachEngine runs body on each engine with one store on a fresh
// database.
func forEachEngine(t *testing.T, body func(t *testing.T, s *Store)) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.location(t)
			body(t, openAt(t, url, dir))
		})
	}
}

func benchEngines(b *testing.B, body func(b *testing.B, s *Store)) {
	for _, e := range testEngines {
		b.Run(e.name, func(b *testing.B) {
			url, dir := e.location(b)
			body(b, openAt(b, url, dir))
		})
	}
}

func mustRead(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Read(context.Background(), fn); err != nil {
		t.Fatalf("Read: %v", err)
	}
}

func mustTx(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Tx(context.Background(), fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

var seedNow = time.Unix(1_800_000_000, 0).UTC()

func testUser(name string) model.User {
	return model.User{
		Username: name,
		Status:   model.StatusActive,
		Proxies: map[string]model.ProxySettings{
			model.ProtoVLESS:  {ID: "5d1b2b1e-1c2d-4e3f-8a9b-0c1d2e3f4a5b", Flow: "xtls-rprx-vision"},
			model.ProtoTrojan: {Password: "secret-" + name},
		},
		ExcludedInbounds: map[string][]string{model.ProtoVLESS: {"VLESS_WS"}},
		DataLimitReset:   model.ResetNone,
	}
}

func testNode(name string) model.Node {
	return model.Node{Name: name, Address: "10.0.0.1", Port: 62050, APIPort: 62051, UsageCoefficient: 1, TokenHash: "hash-" + name}
}

func idsOf(users []model.User) []int64 {
	out := make([]int64, len(users))
	for i := range users {
		out[i] = users[i].ID
	}
	return out
}

// seedUsers creates n users (user_1 ... user_n) as an import does, in
// chunks: a spread of statuses, notes, limits and used traffic.
func seedUsers(t testing.TB, s *Store, n int) {
	t.Helper()
	const chunk = 2000
	for start := 0; start < n; start += chunk {
		users := make([]*model.User, 0, chunk)
		for i := start + 1; i <= min(start+chunk, n); i++ {
			u := testUser(fmt.Sprintf("user_%d", i))
			u.Status = []model.Status{model.StatusActive, model.StatusActive, model.StatusActive, model.StatusDisabled, model.StatusOnHold}[i%5]
			u.Note = fmt.Sprintf("note %d", i%100)
			u.DataLimit = int64(i%4) << 30
			u.UsedTraffic = int64(i*7919) % (1 << 30)
			u.CreatedAt = seedNow
			if i%3 > 0 { // two in three expire, within 60 days of seedNow
				u.Expire = seedNow.Unix() + int64(i%60)*86400 + int64(i%86400)
			}
			users = append(users, &u)
		}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateUsers(users) })
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) time.Duration { return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)] }
	b.ReportMetric(float64(at(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(at(0.99).Microseconds())/1000, "p99-ms")
}

// forEachEngineReplicas runs body on each engine with two stores on one
// fresh database: two panel replicas, each with its own user directory.
// The background refresh of used_traffic is off, so that what a test
// asserts does not depend on timing; tests call refreshUsed where another
// replica's usage batches must show.
func forEachEngineReplicas(t *testing.T, body func(t *testing.T, a, b *Store)) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.location(t)
			a, b := openAt(t, url, dir), openAt(t, url, dir)
			a.dir.usedEvery, b.dir.usedEvery = 0, 0
			body(t, a, b)
		})
	}
}

// dirChange runs fn in a transaction that takes a revision first, as
// state.change does.
func dirChange(t testing.TB, s *Store, fn func(tx *Tx, rev int64) error) {
	t.Helper()
	mustTx(t, s, func(tx *Tx) error {
		rev, err := tx.BumpRevision()
		if err != nil {
			return err
		}
		return fn(tx, rev)
	})
}

// assertListMatches checks that Store.ListUsers (the directory) answers f
// exactly as Tx.ListUsers (SQL) does: the same users in the same order with
// the same rows, the same total, an error for the same filters.
func assertListMatches(t testing.TB, s *Store, f UserFilter) {
	t.Helper()
	ctx := context.Background()
	got, gotTotal, gotErr := s.ListUsers(ctx, f)
	var (
		want      []model.User
		wantTotal int
	)
	wantErr := s.Read(ctx, func(tx *Tx) error {
		var err error
		want, wantTotal, err = tx.ListUsers(f)
		return err
	})
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%+v: directory error %v, SQL error %v", f, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if gotTotal != wantTotal || !slices.Equal(idsOf(got), idsOf(want)) {
		t.Fatalf("%+v:\ndirectory total %d %v\nSQL       total %d %v", f, gotTotal, describeUsers(got), wantTotal, describeUsers(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v: same users, different rows:\n%+v\n%+v", f, got, want)
	}
}

func describeUsers(users []model.User) string {
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "\n  %d %s %s admin=%d used=%d limit=%d expire=%d note=%q", u.ID, u.Username, u.Status,
			u.AdminID, u.UsedTraffic, u.DataLimit, u.Expire, u.Note)
	}
	return b.String()
}

// dirWorld is a randomized population of users and the ways to change it,
// through either replica.
type dirWorld struct {
	t      *testing.T
	rng    *rand.Rand
	admins []int64
	users  []int64 // alive, ascending
	names  map[int64]string
	next   int
	nodeID int64
	seq    int64
	fence  map[*Store]int64
}

var (
	dirNamePrefixes = []string{"u", "U_", "shop", "Vpn_", "k", "user1", "K9", "x_7"}
	// Notes with letters that fold differently per engine and locale: the
	// directory must fold as its database does.
	dirNotes = []string{"", "", "", "", "VIP", "vip client", "note 1", "NOTE 17", "Ärger", "ärger", "straße",
		"STRASSE", "100%_off", "\u212Aelvin", "İstanbul", "ǅemal", "back\\slash", "u1 shop"}
	dirSearches = []string{"1", "7", "u1", "U", "shop", "vip", "VIP", "note 1", "ä", "Ä", "k", "K", "_", "%",
		"%_", "ss", "ß", "i", "zzz", "\u212A", "\\", "x_7", "9", "İ"}
	dirStatusList = []model.Status{model.StatusActive, model.StatusDisabled, model.StatusLimited,
		model.StatusExpired, model.StatusOnHold}
	dirSortList = []string{"", "username", "-username", "used_traffic", "-used_traffic", "data_limit",
		"-data_limit", "expire", "-expire", "created_at", "-created_at"}
)

func (w *dirWorld) pick(n int) []int64 {
	if n > len(w.users) {
		n = len(w.users)
	}
	perm := w.rng.Perm(len(w.users))[:n]
	out := make([]int64, n)
	for i, p := range perm {
		out[i] = w.users[p]
	}
	slices.Sort(out)
	return out
}

func (w *dirWorld) admin() int64 {
	// One user in five has no owner.
	if w.rng.IntN(5) == 0 {
		return 0
	}
	return w.admins[w.rng.IntN(len(w.admins))]
}

func (w *dirWorld) randomize(u *model.User) {
	u.Status = dirStatusList[w.rng.IntN(len(dirStatusList))]
	u.Note = dirNotes[w.rng.IntN(len(dirNotes))]
	u.AdminID = w.admin()
	// Few distinct values, so sorts meet ties and the id decides.
	u.DataLimit = int64(w.rng.IntN(4)) << 30
	u.Expire = []int64{0, 0, 1_800_000_000, 1_900_000_000}[w.rng.IntN(4)]
}

func (w *dirWorld) createUsers(s *Store, n int) {
	dirChange(w.t, s, func(tx *Tx, rev int64) error {
		for range n {
			w.next++
			u := testUser(fmt.Sprintf("%s_%d", dirNamePrefixes[w.rng.IntN(len(dirNamePrefixes))], w.next))
			w.randomize(&u)
			u.CreatedAt = time.Unix(1_700_000_000+int64(w.rng.IntN(5))*86400, 0).UTC()
			if w.rng.IntN(3) == 0 { // imported with counters of its own
				u.UsedTraffic = int64(w.rng.IntN(4)) << 20
			}
			u.Revision = rev
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
			w.users = append(w.users, u.ID)
			w.names[u.ID] = u.Username
		}
		return nil
	})
}

func (w *dirWorld) forget(ids []int64) {
	w.users = slices.DeleteFunc(w.users, func(id int64) bool { return slices.Contains(ids, id) })
}

// mutate makes one random change through s.
func (w *dirWorld) mutate(s *Store) string {
	ctx := context.Background()
	switch op := w.rng.IntN(11); op {
	case 0, 1:
		w.createUsers(s, 1+w.rng.IntN(8))
		return "create"
	case 2, 3: // an admin's edit: note, status, limits, owner
		ids := w.pick(3)
		dirChange(w.t, s, func(tx *Tx, rev int64) error {
			for _, id := range ids {
				u, err := tx.LockUser(id)
				if err != nil {
					return err
				}
				w.randomize(u)
				u.Revision = rev
				if err := tx.UpdateUser(u); err != nil {
					return err
				}
			}
			return nil
		})
		return "modify"
	case 4:
		ids := w.pick(1 + w.rng.IntN(3))
		dirChange(w.t, s, func(tx *Tx, rev int64) error {
			if len(ids) == 1 {
				return tx.DeleteUser(ids[0])
			}
			return tx.DeleteUsers(ids)
		})
		w.forget(ids)
		return "delete"
	case 5:
		ids := w.pick(5)
		st := dirStatusList[w.rng.IntN(len(dirStatusList))]
		dirChange(w.t, s, func(tx *Tx, rev int64) error { return tx.SetUsersStatus(ids, st, rev, seedNow) })
		return "status"
	case 6:
		ids := w.pick(3)
		dirChange(w.t, s, func(tx *Tx, rev int64) error { return tx.ResetUsersUsage(ids, seedNow, rev) })
		if len(w.users) > 0 {
			// The single-user reset takes its own revision.
			mustTx(w.t, s, func(tx *Tx) error {
				_, err := tx.ResetUserUsage(w.users[w.rng.IntN(len(w.users))], seedNow)
				return err
			})
		}
		return "reset"
	case 7:
		admin := w.admins[w.rng.IntN(len(w.admins))]
		dirChange(w.t, s, func(tx *Tx, rev int64) error {
			_, err := tx.ResetAllUsersUsage(&admin, seedNow, rev)
			return err
		})
		return "reset admin"
	case 8, 9: // a usage batch recorded by s
		var traffic []UserTraffic
		for _, id := range w.pick(1 + w.rng.IntN(20)) {
			traffic = append(traffic, UserTraffic{UserID: id, Up: int64(w.rng.IntN(3)) << 20, Down: int64(w.rng.IntN(1000))})
		}
		traffic = append(traffic, UserTraffic{UserID: 1 << 40, Down: 5}) // unknown: node usage only
		if _, err := s.ApplyUsage(ctx, w.nodeID, w.fence[s], w.seq, w.seq+1, seedNow, traffic); err != nil {
			w.t.Fatal(err)
		}
		w.seq++
		return "usage"
	default:
		w.replaceAdmin(s, w.rng.IntN(len(w.admins)))
		return "delete admin"
	}
}

// replaceAdmin deletes the i-th admin, whose users stay without an owner,
// and puts a new admin in its place.
func (w *dirWorld) replaceAdmin(s *Store, i int) {
	mustTx(w.t, s, func(tx *Tx) error {
		if err := tx.DeleteAdmin(w.admins[i]); err != nil {
			return err
		}
		a := model.Admin{Username: fmt.Sprintf("admin%d", w.rng.Int()), HashedPassword: "h"}
		if err := tx.CreateAdmin(&a); err != nil {
			return err
		}
		w.admins[i] = a.ID
		return nil
	})
}

// randomFilter is a filter over every sort, status, owner, search and page
// shape, including ones the directory leaves to SQL.
func (w *dirWorld) randomFilter() UserFilter {
	var f UserFilter
	pages := [][2]int{{0, 10}, {0, 50}, {3, 7}, {20, 5}, {0, 1000}, {100_000, 10}, {0, 1}, {-5, 3}, {0, 0}, {5, 0}, {0, 1001}}
	p := pages[w.rng.IntN(len(pages))]
	f.Offset, f.Limit = p[0], p[1]
	f.Sort = dirSortList[w.rng.IntN(len(dirSortList))]
	if w.rng.IntN(30) == 0 {
		f.Sort = "bogus"
	}
	if w.rng.IntN(2) == 0 {
		f.Status = dirStatusList[w.rng.IntN(len(dirStatusList))]
	}
	switch w.rng.IntN(7) {
	case 0:
		f.AdminIDs = []int64{w.admins[0]}
	case 1:
		f.AdminIDs = []int64{w.admins[1], w.admins[2], 1 << 40}
	case 2: // long enough for a set
		f.AdminIDs = []int64{w.admins[2]}
		for i := range 12 {
			f.AdminIDs = append(f.AdminIDs, 1<<40+int64(i))
		}
		f.AdminIDs = append(f.AdminIDs, w.admins[0])
	}
	if w.rng.IntN(3) > 0 {
		f.Search = dirSearches[w.rng.IntN(len(dirSearches))]
	}
	if w.rng.IntN(8) == 0 {
		for _, id := range w.pick(4) {
			f.Usernames = append(f.Usernames, strings.ToUpper(w.names[id]))
		}
		f.Usernames = append(f.Usernames, "nobody")
	}
	return f
}

func newDirWorld(t *testing.T, s *Store, seed uint64) *dirWorld {
	w := &dirWorld{t: t, rng: rand.New(rand.NewPCG(seed, seed)), names: map[int64]string{}, fence: map[*Store]int64{}}
	mustTx(t, s, func(tx *Tx) error {
		for i := range 3 {
			a := model.Admin{Username: fmt.Sprintf("admin%d", i), HashedPassword: "h"}
			if err := tx.CreateAdmin(&a); err != nil {
				return err
			}
			w.admins = append(w.admins, a.ID)
		}
		n := testNode("n1")
		n.UsageCoefficient = 1.5
		if err := tx.CreateNode(&n); err != nil {
			return err
		}
		w.nodeID = n.ID
		return nil
	})
	return w
}

// TestDirectoryMatchesSQL changes a random population through two replicas
// and compares every list each replica serves with SQL's answer.
func TestDirectoryMatchesSQL(t *testing.T) {
	forEachEngineReplicas(t, func(t *testing.T, a, b *Store) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		w := newDirWorld(t, a, seed)
		ctx := context.Background()
		w.createUsers(a, 150)
		rounds := 40
		if testing.Short() {
			rounds = 10
		}
		for round := range rounds {
			writer, other := a, b
			if w.rng.IntN(2) == 0 {
				writer, other = b, a
			}
			// Each replica's usage batches go through one node session.
			fence, _, err := writer.NodeSessionStart(ctx, w.nodeID)
			if err != nil {
				t.Fatal(err)
			}
			w.fence[writer] = fence
			var ops []string
			for range 1 + w.rng.IntN(4) {
				ops = append(ops, w.mutate(writer))
			}
			t.Logf("round %d through %p: %v", round, writer, ops)
			// The writer's own batches are in its directory at once.
			for range 25 {
				assertListMatches(t, writer, w.randomFilter())
			}
			// Another replica's batches show after a refresh of
			// used_traffic; everything else at once.
			for range 10 {
				f := w.randomFilter()
				if strings.TrimPrefix(f.Sort, "-") == "used_traffic" {
					continue
				}
				assertListMatches(t, other, f)
			}
			if err := other.dir.refreshUsed(ctx); err != nil {
				t.Fatal(err)
			}
			for range 25 {
				assertListMatches(t, other, w.randomFilter())
			}
		}
	})
}

// TestDirectoryReplicaScenarios makes each kind of change through one
// replica and lists through the other, which has its directory loaded from
// before the change: a directory that missed the change fails the
// comparison.
func TestDirectoryReplicaScenarios(t *testing.T) {
	forEachEngineReplicas(t, func(t *testing.T, a, b *Store) {
		ctx := context.Background()
		w := newDirWorld(t, a, 1)
		w.createUsers(a, 40)
		w.fence[a], _, _ = a.NodeSessionStart(ctx, w.nodeID)
		filters := func() []UserFilter {
			var fs []UserFilter
			for _, sort := range dirSortList {
				fs = append(fs, UserFilter{Limit: 100, Sort: sort})
			}
			for _, st := range dirStatusList {
				fs = append(fs, UserFilter{Limit: 100, Status: st, Sort: "-used_traffic"})
			}
			for _, admin := range w.admins {
				fs = append(fs, UserFilter{Limit: 100, AdminIDs: []int64{admin}})
			}
			return append(fs, UserFilter{Limit: 100, Search: "vip"}, UserFilter{Limit: 100, Search: "1"})
		}
		check := func(step string) {
			t.Helper()
			if err := b.dir.refreshUsed(ctx); err != nil {
				t.Fatal(err)
			}
			for _, f := range filters() {
				assertListMatches(t, b, f)
			}
			if t.Failed() {
				t.Fatalf("after %s", step)
			}
		}
		check("loading")
		user := func(i int) *model.User {
			var u *model.User
			mustRead(t, a, func(tx *Tx) (err error) { u, err = tx.UserByID(w.users[i]); return err })
			return u
		}
		update := func(u *model.User) {
			dirChange(t, a, func(tx *Tx, rev int64) error { u.Revision = rev; return tx.UpdateUser(u) })
		}

		w.createUsers(a, 3)
		check("create")
		u := user(0)
		u.Note = "VIP now"
		u.DataLimit, u.Expire = 7<<30, 1_950_000_000
		update(u)
		check("modify")
		u = user(1)
		u.Status = model.StatusDisabled
		update(u)
		check("status change")
		dirChange(t, a, func(tx *Tx, rev int64) error {
			return tx.SetUsersStatus(w.users[2:6], model.StatusLimited, rev, seedNow)
		})
		check("bulk status change")
		u = user(7)
		u.AdminID = w.admins[(slices.Index(w.admins, u.AdminID)+1)%len(w.admins)]
		update(u)
		check("owner change")
		owned := UserFilter{Limit: 100, AdminIDs: []int64{w.admins[0]}}
		w.replaceAdmin(a, 0)
		check("admin deleted")
		assertListMatches(t, b, owned)
		w.mutate(a) // whatever the seed picks
		var traffic []UserTraffic
		for _, id := range w.users {
			traffic = append(traffic, UserTraffic{UserID: id, Down: id << 20})
		}
		if _, err := a.ApplyUsage(ctx, w.nodeID, w.fence[a], w.seq, w.seq+1, seedNow, traffic); err != nil {
			t.Fatal(err)
		}
		w.seq++
		check("usage batch")
		dirChange(t, a, func(tx *Tx, rev int64) error { return tx.ResetUsersUsage(w.users[8:10], seedNow, rev) })
		check("usage reset")
		mustTx(t, a, func(tx *Tx) error { _, err := tx.ResetUserUsage(w.users[10], seedNow); return err })
		check("single usage reset")
		dirChange(t, a, func(tx *Tx, rev int64) error { return tx.DeleteUser(w.users[11]) })
		check("delete")
		dirChange(t, a, func(tx *Tx, rev int64) error { return tx.DeleteUsers(w.users[12:15]) })
		check("bulk delete")

		// Tombstones pruned past b's watermark: b must reload, or it keeps
		// showing the user deleted here.
		dirChange(t, a, func(tx *Tx, rev int64) error { return tx.DeleteUser(w.users[15]) })
		// The store's TestPruneUserTombstones checks that this prunes them
		// all.
		if err := a.PruneUserTombstonesBefore(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		check("delete with tombstones pruned")
	})
}

// TestDirectoryUsageBatches: a replica's own usage batches reorder its
// used_traffic sort at once; another replica's after its refresh.
func TestDirectoryUsageBatches(t *testing.T) {
	forEachEngineReplicas(t, func(t *testing.T, a, b *Store) {
		ctx := context.Background()
		w := newDirWorld(t, a, 2)
		w.createUsers(a, 30)
		f := UserFilter{Limit: 10, Sort: "-used_traffic"}
		assertListMatches(t, a, f)
		assertListMatches(t, b, f)
		fence, _, err := a.NodeSessionStart(ctx, w.nodeID)
		if err != nil {
			t.Fatal(err)
		}
		// The user listed last gets the most bytes by far.
		all, _, err := a.ListUsers(ctx, UserFilter{Limit: 1000, Sort: "-used_traffic"})
		if err != nil {
			t.Fatal(err)
		}
		last := all[len(all)-1].ID
		if _, err := a.ApplyUsage(ctx, w.nodeID, fence, 0, 1, seedNow, []UserTraffic{{UserID: last, Down: 1 << 40}}); err != nil {
			t.Fatal(err)
		}
		assertListMatches(t, a, f)
		users, _, err := b.ListUsers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if users[0].ID == last {
			t.Fatalf("replica b sorted by a batch it has not read")
		}
		if err := b.dir.refreshUsed(ctx); err != nil {
			t.Fatal(err)
		}
		assertListMatches(t, b, f)
		// Nothing new: the refresh reads nothing but the signature.
		if b.dir.usedDirty.Load() {
			t.Fatal("usedDirty after a refresh")
		}
		started := b.dir.usedStarted
		if err := b.dir.refreshUsed(ctx); err != nil {
			t.Fatal(err)
		}
		if b.dir.usedStarted != started {
			t.Fatal("refreshUsed re-read used_traffic with no batch since")
		}
	})
}

// TestDirectoryConcurrent lists through two replicas while users change and
// usage batches arrive through both, with the background refresh on (run
// it with -race). Once everything stops, one refresh brings both
// directories back to SQL's answers.
func TestDirectoryConcurrent(t *testing.T) {
	forEachEngineReplicas(t, func(t *testing.T, a, b *Store) {
		ctx := context.Background()
		w := newDirWorld(t, a, 3)
		w.createUsers(a, 200)
		replicas := []*Store{a, b}
		for _, s := range replicas {
			s.dir.usedEvery = time.Millisecond
		}
		// Every replica's batches through a node of its own.
		nodes := map[*Store]*model.Node{}
		for i, s := range replicas {
			n := testNode(fmt.Sprintf("c%d", i))
			mustTx(t, s, func(tx *Tx) error { return tx.CreateNode(&n) })
			nodes[s] = &n
		}
		users := slices.Clone(w.users)
		var stop atomic.Bool
		var wg sync.WaitGroup
		fail := make(chan error, 16)
		for i, s := range replicas {
			wg.Go(func() { // a lister
				rng := rand.New(rand.NewPCG(uint64(i), 9))
				for !stop.Load() {
					f := UserFilter{Limit: 1 + rng.IntN(60), Offset: rng.IntN(50), Sort: dirSortList[rng.IntN(len(dirSortList))],
						Search: dirSearches[rng.IntN(len(dirSearches))]}
					if _, _, err := s.ListUsers(ctx, f); err != nil {
						fail <- err
						return
					}
				}
			})
			wg.Go(func() { // a node's usage batches
				fence, _, err := s.NodeSessionStart(ctx, nodes[s].ID)
				if err != nil {
					fail <- err
					return
				}
				if err := dirBatches(ctx, s, nodes[s].ID, fence, users, uint64(i), 30, &stop); err != nil {
					fail <- err
				}
			})
		}
		// Changes through both replicas, usage resets among them.
		dirChurn(t, w, replicas, 30, 0)
		stop.Store(true)
		wg.Wait()
		close(fail)
		for err := range fail {
			t.Fatal(err)
		}
		for _, s := range replicas {
			s.dir.background.Wait()
			s.dir.usedEvery = 0
			if err := s.dir.refreshUsed(ctx); err != nil {
				t.Fatal(err)
			}
			for _, sort := range dirSortList {
				assertListMatches(t, s, UserFilter{Limit: 1000, Sort: sort})
				assertListMatches(t, s, UserFilter{Limit: 20, Sort: sort, Search: "1", Status: model.StatusActive})
			}
		}
	})
}

// TestDirectoryMerge covers the in-memory bookkeeping: users inserted out
// of id order, deleted, compacted.
func TestDirectoryMerge(t *testing.T) {
	d := &Directory{}
	entry := func(id int64) dirEntry { return dirEntry{id: id, name: fmt.Sprint("u", id), status: dirStatusActive} }
	var rows []dirEntry
	for id := int64(1); id <= 3000; id += 2 {
		rows = append(rows, entry(id))
	}
	d.merge(rows, nil)
	d.merge([]dirEntry{entry(4), entry(2), entry(5000)}[1:], nil) // 2 and 5000
	d.merge([]dirEntry{entry(4)}, nil)
	var gone []int64
	for id := int64(1); id <= 2600; id += 2 {
		gone = append(gone, id)
	}
	d.merge(nil, gone)
	var ids []int64
	for i, id := range d.table.id {
		if d.table.status[i] != dirStatusDead {
			ids = append(ids, id)
		}
		if got := d.table.row(i); got.id != id || (got.status != dirStatusDead && got.name != fmt.Sprint("u", id)) {
			t.Fatalf("row %d: %+v", i, got)
		}
	}
	want := []int64{2, 4}
	for id := int64(2601); id < 3000; id += 2 {
		want = append(want, id)
	}
	want = append(want, 5000)
	if !slices.Equal(ids, want) {
		t.Fatalf("alive ids %v, want %v", ids, want)
	}
	if d.dead != 0 || d.table.len() != len(want) {
		t.Fatalf("not compacted: %d entries, %d dead", d.table.len(), d.dead)
	}
	if !slices.IsSorted(d.table.id) {
		t.Fatal("entries out of id order")
	}
}

// TestDirectoryFilterRouting: what the directory serves and what it leaves
// to SQL.
func TestDirectoryFilterRouting(t *testing.T) {
	for _, c := range []struct {
		f    UserFilter
		want bool
	}{
		{UserFilter{Limit: 50, Search: "x", Status: model.StatusActive, Sort: "-used_traffic"}, true},
		{UserFilter{Limit: 1000}, true},
		{UserFilter{Limit: 1001}, false},
		{UserFilter{}, false},
		{UserFilter{Limit: 10, AdminIDs: []int64{0}}, false},
		{UserFilter{Limit: 10, Search: "a\x00b"}, false},
		{UserFilter{Limit: 10, Search: "\xff"}, false},
	} {
		if _, ok := compileQuery(&c.f, false); ok != c.want {
			t.Errorf("%+v: served by the directory %v, want %v", c.f, ok, c.want)
		}
	}
	for _, name := range model.UserSorts {
		if _, ok := dirSorts[name]; !ok {
			t.Errorf("sort %q has no directory key", name)
		}
	}
}

// BenchmarkDirectoryList100k: one op is one page of the users list of
// BenchmarkListUsers100k (search, status, sort by -used_traffic, total)
// served through the directory, page rows included. It also reports the
// directory's first load and its heap size.
func BenchmarkDirectoryList100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		seedUsers(b, s, 100_000)
		ctx := context.Background()
		s.dir.usedEvery = 0
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		if _, _, err := s.ListUsers(ctx, UserFilter{Limit: 1}); err != nil {
			b.Fatal(err)
		}
		load := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)

		terms := []string{"user_12", "note 5", "user_9999", "zzz", "_3", "1", "7"}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			f := UserFilter{Limit: 50, Offset: (i % 3) * 50, Search: terms[i%len(terms)], Status: "active", Sort: "-used_traffic"}
			start := time.Now()
			if _, _, err := s.ListUsers(ctx, f); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		// What a refresh costs when it must re-read every user's
		// used_traffic (another replica's batches, or an overlap).
		s.dir.usedDirty.Store(true)
		start = time.Now()
		if err := s.dir.refreshUsed(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start))/float64(time.Millisecond), "reread-ms")
		reportPercentiles(b, lat)
		b.ReportMetric(float64(load)/float64(time.Millisecond), "load-ms")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
	})
}

// TestPrunedTombstonesReload: a replica whose watermark falls below the
// pruned horizon reloads and lists right. (The store's
// TestPruneUserTombstones checks which tombstones a prune keeps.)
func TestPrunedTombstonesReload(t *testing.T) {
	forEachEngineReplicas(t, func(t *testing.T, a, b *Store) {
		ctx := context.Background()
		w := newDirWorld(t, a, 1)
		w.createUsers(a, 6)
		assertListMatches(t, b, UserFilter{Limit: 100}) // b's watermark: before the deletes
		dirChange(t, a, func(tx *Tx, rev int64) error { return tx.DeleteUsers(w.users[0:3]) })
		dirChange(t, a, func(tx *Tx, rev int64) error { return tx.DeleteUser(w.users[3]) })
		if err := a.PruneUserTombstonesBefore(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		assertListMatches(t, b, UserFilter{Limit: 100})
		if _, total, err := b.ListUsers(ctx, UserFilter{Limit: 100}); err != nil || total != 2 {
			t.Fatalf("b lists %d users (%v), want 2", total, err)
		}
	})
}

// TestDirectoryOwnBatches: a replica's own usage batches keep its
// directory's used_traffic and usage signature current without re-reading
// every user's counters; another replica's batch makes it re-read once.
func TestDirectoryOwnBatches(t *testing.T) {
	forEachEngineReplicas(t, func(t *testing.T, a, b *Store) {
		ctx := context.Background()
		w := newDirWorld(t, a, 2)
		w.createUsers(a, 30)
		f := UserFilter{Limit: 10, Sort: "-used_traffic"}
		assertListMatches(t, a, f)
		if err := a.dir.refreshUsed(ctx); err != nil { // learns the signature
			t.Fatal(err)
		}
		reads := a.dir.usedReads
		fence, _, err := a.NodeSessionStart(ctx, w.nodeID)
		if err != nil {
			t.Fatal(err)
		}
		for seq := range int64(5) {
			traffic := []UserTraffic{{UserID: w.users[seq], Down: (seq + 1) << 30}, {UserID: w.users[20], Up: 1 << 20}}
			// A resent batch (seq..seq+1 again) counts once and moves nothing.
			for range 2 {
				if _, err := a.ApplyUsage(ctx, w.nodeID, fence, seq, seq+1, seedNow, traffic); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.dir.refreshUsed(ctx); err != nil {
				t.Fatal(err)
			}
			assertListMatches(t, a, f)
		}
		if a.dir.usedReads != reads {
			t.Fatalf("own batches made %d full re-reads of used_traffic", a.dir.usedReads-reads)
		}

		// Another replica's batch: a re-reads once, then is quiet again.
		other := testNode("other")
		mustTx(t, b, func(tx *Tx) error { return tx.CreateNode(&other) })
		fb, _, err := b.NodeSessionStart(ctx, other.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ApplyUsage(ctx, other.ID, fb, 0, 1, seedNow, []UserTraffic{{UserID: w.users[29], Down: 1 << 40}}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := a.dir.refreshUsed(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if a.dir.usedReads != reads+1 {
			t.Fatalf("another replica's batch: %d full re-reads, want 1", a.dir.usedReads-reads)
		}
		assertListMatches(t, a, f)
	})
}

// TestDirectorySingleReplicaConcurrent: one replica lists, records usage
// batches and changes users (resets among them) all at once, with the
// background refresh on; run with -race. Batches that overlap a refresh
// or a catch-up must be caught (usedDirty): once everything stops, one
// refresh gives SQL's answers even though the usage signature never
// moved past what this replica recorded.
func TestDirectorySingleReplicaConcurrent(t *testing.T) {
	forEachEngineReplicas(t, func(t *testing.T, a, _ *Store) {
		ctx := context.Background()
		w := newDirWorld(t, a, 3)
		w.createUsers(a, 150)
		a.dir.usedEvery = time.Millisecond
		fence, _, err := a.NodeSessionStart(ctx, w.nodeID)
		if err != nil {
			t.Fatal(err)
		}
		users := slices.Clone(w.users)
		var stop atomic.Bool
		var wg sync.WaitGroup
		fail := make(chan error, 4)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(1, 9))
			for !stop.Load() {
				f := UserFilter{Limit: 1 + rng.IntN(60), Sort: dirSortList[rng.IntN(len(dirSortList))]}
				if _, _, err := a.ListUsers(ctx, f); err != nil {
					fail <- err
					return
				}
			}
		})
		wg.Go(func() {
			if err := dirBatches(ctx, a, w.nodeID, fence, users, 2, 20, &stop); err != nil {
				fail <- err
			}
		})
		dirChurn(t, w, []*Store{a}, 40, time.Millisecond)
		stop.Store(true)
		wg.Wait()
		close(fail)
		for err := range fail {
			t.Fatal(err)
		}
		a.dir.background.Wait()
		a.dir.usedEvery = 0
		if err := a.dir.refreshUsed(ctx); err != nil {
			t.Fatal(err)
		}
		for _, sort := range dirSortList {
			assertListMatches(t, a, UserFilter{Limit: 1000, Sort: sort})
		}
	})
}

// dirBatches records usage batches of size random users through s until
// stop is set.
func dirBatches(ctx context.Context, s *Store, nodeID, fence int64, users []int64, seed uint64, size int, stop *atomic.Bool) error {
	rng := rand.New(rand.NewPCG(seed, 7))
	for seq := int64(0); !stop.Load(); seq++ {
		traffic := make([]UserTraffic, size)
		for i := range traffic {
			traffic[i] = UserTraffic{UserID: users[rng.IntN(len(users))], Down: int64(1 + rng.IntN(1<<20))}
		}
		if _, err := s.ApplyUsage(ctx, nodeID, fence, seq, seq+1, seedNow, traffic); err != nil {
			return err
		}
	}
	return nil
}

// dirChurn makes rounds of changes that take revisions, through the
// stores in turn: usage resets, status changes and new users.
func dirChurn(t *testing.T, w *dirWorld, stores []*Store, rounds int, pause time.Duration) {
	t.Helper()
	for i := range rounds {
		s := stores[i%len(stores)]
		switch i % 3 {
		case 0:
			dirChange(t, s, func(tx *Tx, rev int64) error { return tx.ResetUsersUsage(w.pick(15), seedNow, rev) })
		case 1:
			ids := w.pick(10)
			dirChange(t, s, func(tx *Tx, rev int64) error {
				return tx.SetUsersStatus(ids, dirStatusList[i%len(dirStatusList)], rev, seedNow)
			})
		default:
			w.createUsers(s, 4)
		}
		time.Sleep(pause)
	}
}
