package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

func TestHostsReplaceAndRead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.Hosts()
			if err != nil {
				return err
			}
			if len(got) != 0 {
				t.Errorf("fresh database hosts %v, want none", got)
			}
			v, err := tx.SubVersions()
			if v != (SubVersions{}) {
				t.Errorf("fresh versions %+v", v)
			}
			return err
		})
		full := Host{
			Remark: "r {USERNAME}", Address: "a.example,b.example", Port: ptr(8443), SNI: "sni.example",
			Host: "h.example", Path: "/ws", Security: "tls", ALPN: "h2,http/1.1", Fingerprint: "chrome",
			AllowInsecure: true, IsDisabled: true, MuxEnable: true, FragmentSetting: "100-200,10-20,tlshello",
			NoiseSetting: "rand:10-20,10-20", RandomUserAgent: true, UseSNIAsHost: true,
			PinnedPeerCertSHA256: "ab", VerifyPeerCertByName: "cn.example",
		}
		want := map[string][]Host{
			"VLESS_TCP": {full, {Remark: "second", Address: "c.example", Security: "inbound_default"}},
			"TROJAN":    {},
		}
		var v1 int64
		mustTx(t, s, func(tx *Tx) (err error) { v1, err = tx.ReplaceHosts(want); return err })
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.Hosts()
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("hosts\n got %+v\nwant %+v", got, want)
			}
			v, err := tx.SubVersions()
			if v.Hosts != v1 || v1 != 1 {
				t.Errorf("hosts version %d (returned %d), want 1", v.Hosts, v1)
			}
			return err
		})

		// Replacing drops tags that are not given.
		next := map[string][]Host{"VMESS": {{Remark: "only", Address: "x"}}}
		mustTx(t, s, func(tx *Tx) error { _, err := tx.ReplaceHosts(next); return err })
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.Hosts()
			if !reflect.DeepEqual(got, next) {
				t.Errorf("after replace %+v, want %+v", got, next)
			}
			return err
		})

		// A failed transaction leaves hosts and version as they were.
		boom := errors.New("boom")
		err := s.Tx(t.Context(), func(tx *Tx) error {
			if _, err := tx.ReplaceHosts(want); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx: %v", err)
		}
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.Hosts()
			if !reflect.DeepEqual(got, next) {
				t.Errorf("after rollback %+v, want %+v", got, next)
			}
			v, _ := tx.SubVersions()
			if v.Hosts != 2 {
				t.Errorf("hosts version after rollback %d, want 2", v.Hosts)
			}
			return err
		})
	})
}

func TestSubscriptionSettingsAndUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		mustRead(t, s, func(tx *Tx) error {
			_, ok, err := tx.SubscriptionSettings()
			if ok {
				t.Error("fresh database has subscription settings")
			}
			return err
		})
		mustTx(t, s, func(tx *Tx) error {
			v, err := tx.SetSubscriptionSettings(`{"a":1}`)
			if v != 1 {
				t.Errorf("settings version %d, want 1", v)
			}
			return err
		})
		u := testUser("Subber")
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
			return tx.SetCoreConfig([]byte("{}"), 7)
		})
		mustRead(t, s, func(tx *Tx) error {
			data, ok, err := tx.SubscriptionSettings()
			if !ok || data != `{"a":1}` {
				t.Errorf("settings %q %v", data, ok)
			}
			got, v, err := tx.SubscriptionUser("subBER")
			if err != nil {
				return err
			}
			if got.ID != u.ID || got.Username != "Subber" || got.Proxies[model.ProtoTrojan].Password != "secret-Subber" {
				t.Errorf("user %+v", got)
			}
			if v != (SubVersions{Config: 7, Settings: 1}) {
				t.Errorf("versions %+v", v)
			}
			if _, _, err := tx.SubscriptionUser("nobody"); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("unknown user: %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}

func TestTouchSubscriptions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		a, b := testUser("a"), testUser("b")
		mustTx(t, s, func(tx *Tx) error { return errors.Join(tx.CreateUser(&a), tx.CreateUser(&b)) })
		t1 := time.Unix(1_800_000_000, 0).UTC()
		mustTx(t, s, func(tx *Tx) error {
			return tx.TouchSubscriptions([]SubscriptionFetch{
				{UserID: a.ID, At: t1, UserAgent: "ua-a"},
				{UserID: b.ID, At: t1, UserAgent: "ua-b"},
				{UserID: 999999, At: t1, UserAgent: "deleted user"},
			})
		})
		// An older fetch (from a slower replica) does not overwrite a newer one.
		mustTx(t, s, func(tx *Tx) error {
			return tx.TouchSubscriptions([]SubscriptionFetch{
				{UserID: a.ID, At: t1.Add(-time.Minute), UserAgent: "old"},
				{UserID: b.ID, At: t1.Add(time.Minute), UserAgent: "newer"},
			})
		})
		mustRead(t, s, func(tx *Tx) error {
			for _, c := range []struct {
				id int64
				at time.Time
				ua string
			}{{a.ID, t1, "ua-a"}, {b.ID, t1.Add(time.Minute), "newer"}} {
				u, err := tx.UserByID(c.id)
				if err != nil {
					return err
				}
				if u.SubUpdatedAt == nil || !u.SubUpdatedAt.Equal(c.at) || u.SubLastUserAgent != c.ua {
					t.Errorf("user %d: sub_updated_at %v agent %q, want %v %q", c.id, u.SubUpdatedAt, u.SubLastUserAgent, c.at, c.ua)
				}
			}
			return nil
		})
	})
}

// BenchmarkSubscriptionLookup is the one query of a subscription fetch, on
// SQLite (the default engine), which prepares every statement anew.
func BenchmarkSubscriptionLookup(b *testing.B) {
	s := openAt(b, "", b.TempDir())
	u := testUser("bench")
	mustTx(b, s, func(tx *Tx) error { return tx.CreateUser(&u) })
	l := s.SubscriptionLookup()
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := l.User(ctx, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
