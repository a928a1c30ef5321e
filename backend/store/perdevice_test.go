package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// TestPerDeviceColumns checks, on both engines, what the credentials-per-
// device mode keeps on the users row (the admitted device ids, rewritten
// by every change of the set; the effective mode and the default's flip)
// and the devices' usage counters.
func TestPerDeviceColumns(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		on := true
		alice := &model.User{Username: "alice", Status: model.StatusActive, CreatedAt: now}
		bob := &model.User{Username: "bob", Status: model.StatusActive, CreatedAt: now, PerDeviceCredentials: &on, PerDevice: true}
		var d1, d2, d3 Device
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateUsers([]*model.User{alice, bob}); err != nil {
				return err
			}
			for i, d := range []*Device{&d1, &d2, &d3} {
				*d = Device{UserID: alice.ID, HWID: []string{"a", "b", "c"}[i], FirstFetch: now, Refused: i == 2}
				if err := tx.InsertDevice(d); err != nil {
					return err
				}
			}
			return nil
		})
		ids := func(name string) ([]int64, bool, *bool) {
			var u *model.User
			mustRead(t, s, func(tx *Tx) (err error) { u, err = tx.UserByUsername(name); return err })
			return u.DeviceIDs, u.PerDevice, u.PerDeviceCredentials
		}
		if got, _, _ := ids("alice"); !slices.Equal(got, []int64{d1.ID, d2.ID}) {
			t.Fatalf("device ids %v, want the admitted %d, %d", got, d1.ID, d2.ID)
		}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.SetDeviceRefused(alice.ID, d3.ID, false, DeviceInfo{}, now); err != nil {
				return err
			}
			return tx.DeleteDevice(alice.ID, d1.ID)
		})
		if got, _, _ := ids("alice"); !slices.Equal(got, []int64{d2.ID, d3.ID}) {
			t.Fatalf("device ids %v after admitting %d and removing %d", got, d3.ID, d1.ID)
		}
		if got, perDevice, own := ids("bob"); got != nil || !perDevice || own == nil || !*own {
			t.Fatalf("bob: ids %v, mode %v, own %v", got, perDevice, own)
		}

		// The default moves only the users that follow it.
		var n int64
		mustTx(t, s, func(tx *Tx) (err error) { n, err = tx.SetPerDeviceDefault(true, 77); return err })
		if n != 1 {
			t.Fatalf("the default moved %d users, want alice alone", n)
		}
		var at77 []string
		mustRead(t, s, func(tx *Tx) error {
			return tx.EachUserOnNodesAtRevision(77, func(u *model.User) error { at77 = append(at77, u.Username); return nil })
		})
		if !slices.Equal(at77, []string{"alice"}) {
			t.Fatalf("users of the flip: %v", at77)
		}

		// Device usage: a device of another user is ignored, the counters
		// reset with the user's.
		mustTx(t, s, func(tx *Tx) error {
			return tx.CreateNode(&model.Node{Name: "n", Address: "127.0.0.1", Port: 1, APIPort: 2, UsageCoefficient: 2})
		})
		fence, node, err := s.NodeSessionStart(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyUsage(ctx, node.ID, fence, 0, 1, now, []UserTraffic{
			{UserID: alice.ID, DeviceID: d2.ID, Up: 10, Down: 20},
			{UserID: alice.ID, DeviceID: d2.ID, Up: 1},
			{UserID: bob.ID, DeviceID: d3.ID, Up: 1000},
		}); err != nil {
			t.Fatal(err)
		}
		used := func() map[int64]int64 {
			out := map[int64]int64{}
			mustRead(t, s, func(tx *Tx) error {
				all, err := tx.Devices(alice.ID)
				for _, d := range all {
					out[d.ID] = d.UsedTraffic
				}
				return err
			})
			return out
		}
		if got := used(); got[d2.ID] != 62 || got[d3.ID] != 0 {
			t.Fatalf("device usage %v, want %d: 62 (31 bytes times 2) and nothing for bob's", got, d2.ID)
		}
		mustTx(t, s, func(tx *Tx) error { return tx.ResetUsersUsage([]int64{alice.ID}, now, 78) })
		if got := used(); got[d2.ID] != 0 {
			t.Fatalf("device usage after the user's reset: %v", got)
		}
	})
}

// TestMigrationFillsDeviceIDs upgrades a database as schema 16 left it,
// with devices registered, and checks that migration 17 writes each
// user's admitted device ids, ascending, and leaves the mode off.
func TestMigrationFillsDeviceIDs(t *testing.T) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.location(t)
			ctx := context.Background()
			old, err := open(ctx, url, dir, testLogger(t), 16)
			if err != nil {
				t.Fatal(err)
			}
			jsonCast := ""
			if old.postgres() {
				jsonCast = "::jsonb"
			}
			for _, q := range []string{
				`INSERT INTO users (username, status, proxies, excluded_inbounds, created_at)
					VALUES ('many', 'active', '{}'` + jsonCast + `, '{}'` + jsonCast + `, 1), ('none', 'active', '{}'` + jsonCast + `, '{}'` + jsonCast + `, 1)`,
				`INSERT INTO user_devices (id, user_id, hwid, first_fetch_at, last_fetch_at, refused) VALUES
					(12, (SELECT id FROM users WHERE username = 'many'), 'c', 1, 1, 0),
					(3, (SELECT id FROM users WHERE username = 'many'), 'a', 1, 1, 0),
					(7, (SELECT id FROM users WHERE username = 'many'), 'b', 1, 1, 1),
					(5, (SELECT id FROM users WHERE username = 'many'), 'd', 1, 1, 0)`,
			} {
				if _, err := old.write.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			s := openAt(t, url, dir)
			mustRead(t, s, func(tx *Tx) error {
				many, err := tx.UserByUsername("many")
				if err != nil {
					return err
				}
				none, err := tx.UserByUsername("none")
				if err != nil {
					return err
				}
				if !slices.Equal(many.DeviceIDs, []int64{3, 5, 12}) || none.DeviceIDs != nil || many.PerDevice || many.PerDeviceCredentials != nil {
					t.Errorf("after migration 17: many %v (mode %v, own %v), none %v", many.DeviceIDs, many.PerDevice, many.PerDeviceCredentials, none.DeviceIDs)
				}
				return nil
			})
		})
	}
}
