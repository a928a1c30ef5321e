package store

import (
	"context"
	"testing"
)

// TestMigrationMovesCounters upgrades a database as release 4 of the schema
// left it, with users holding traffic, and checks that migration 5 carries
// every counter into user_traffic and that the triggers keep the copies
// of owner and limit, and the rows themselves, in step with users.
func TestMigrationMovesCounters(t *testing.T) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.location(t)
			ctx := context.Background()
			old, err := open(ctx, url, dir, testLogger(t), 4)
			if err != nil {
				t.Fatal(err)
			}
			jsonCast := ""
			if old.postgres() {
				jsonCast = "::jsonb"
			}
			if _, err := old.write.ExecContext(ctx, `INSERT INTO admins (username, hashed_password, created_at) VALUES ('owner', 'h', 1)`); err != nil {
				t.Fatal(err)
			}
			if _, err := old.write.ExecContext(ctx, `INSERT INTO users (username, admin_id, status, proxies, excluded_inbounds,
				data_limit, used_traffic, lifetime_used_traffic, online_at, created_at)
				VALUES ('heavy', (SELECT id FROM admins), 'limited', '{}'`+jsonCast+`, '{}'`+jsonCast+`, 100, 150, 900, 1234, 1),
				       ('light', NULL, 'active', '{}'`+jsonCast+`, '{}'`+jsonCast+`, 0, 7, 7, NULL, 1)`); err != nil {
				t.Fatal(err)
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}

			s := openAt(t, url, dir)
			var heavy, light int64
			mustRead(t, s, func(tx *Tx) error {
				h, err := tx.UserByUsername("heavy")
				if err != nil {
					return err
				}
				l, err := tx.UserByUsername("light")
				if err != nil {
					return err
				}
				heavy, light = h.ID, l.ID
				if h.UsedTraffic != 150 || h.LifetimeUsedTraffic != 900 || h.OnlineAt == nil || h.OnlineAt.Unix() != 1234 {
					t.Errorf("heavy after the upgrade: used %d lifetime %d online %v", h.UsedTraffic, h.LifetimeUsedTraffic, h.OnlineAt)
				}
				if l.UsedTraffic != 7 || l.LifetimeUsedTraffic != 7 || l.OnlineAt != nil {
					t.Errorf("light after the upgrade: used %d lifetime %d online %v", l.UsedTraffic, l.LifetimeUsedTraffic, l.OnlineAt)
				}
				return nil
			})
			type copyRow struct {
				admin     *int64
				limit     int64
				reached   bool
				rowsTotal int
			}
			read := func(id int64) copyRow {
				var r copyRow
				mustRead(t, s, func(tx *Tx) error {
					if err := tx.queryRow(`SELECT COUNT(*) FROM user_traffic`).Scan(&r.rowsTotal); err != nil {
						return err
					}
					err := tx.queryRow(`SELECT admin_id, data_limit, limit_reached FROM user_traffic WHERE user_id = $1`, id).
						Scan(&r.admin, &r.limit, &r.reached)
					if err != nil {
						r.limit = -1
					}
					return nil
				})
				return r
			}
			if r := read(heavy); r.admin == nil || r.limit != 100 || !r.reached || r.rowsTotal != 2 {
				t.Errorf("heavy's counters row: %+v", r)
			}
			// The limit raised and the owner cleared in users: the copies follow.
			if _, err := s.write.ExecContext(ctx, `UPDATE users SET data_limit = 1000, admin_id = NULL WHERE id = $1`, heavy); err != nil {
				t.Fatal(err)
			}
			if r := read(heavy); r.admin != nil || r.limit != 1000 || r.reached {
				t.Errorf("heavy's counters row after its limit and owner changed: %+v", r)
			}
			// A new user gets a row; a deleted one loses it.
			mustTx(t, s, func(tx *Tx) error {
				u := testUser("fresh")
				u.DataLimit = 5
				return tx.CreateUser(&u)
			})
			mustTx(t, s, func(tx *Tx) error { return tx.DeleteUser(light) })
			if r := read(light); r.limit != -1 || r.rowsTotal != 2 {
				t.Errorf("after a create and a delete: light's row %+v", r)
			}
		})
	}
}
