package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// The dashboard's mix of users (make bench-web, web/bench/dashboard.mjs):
// a users list whose filters have something to find. Of the i-th user
// (1-based):
//
//   - every 20th is on hold (30 days from its first connection), and so
//     has no expiry;
//   - of the others, every 3rd expires in 1 to 90 days (i mod 90, plus
//     one), and so about a third of those within 30 days;
//   - every 4th has a data limit of 10 to 100 GiB;
//   - every 7th has a note, "vip customer N" or "reseller N";
//   - every 10th is disabled afterwards (DisableEvery).
const (
	MixOnHoldEvery   = 20
	MixExpireEvery   = 3
	MixLimitEvery    = 4
	MixNoteEvery     = 7
	MixDisabledEvery = 10
)

// Mix is a Seed vary function that gives the i-th user the fields above,
// with expiries counted from now.
func Mix(now time.Time) func(i int, in *state.UserInput) {
	return func(i int, in *state.UserInput) {
		if i%MixOnHoldEvery == 0 {
			st := model.StatusOnHold
			d := int64(30 * 86400)
			in.Status, in.OnHoldExpireDuration = &st, &d
		} else if i%MixExpireEvery == 0 {
			e := now.Add(time.Duration(i%90+1) * 24 * time.Hour).Unix()
			in.Expire = &e
		}
		if i%MixLimitEvery == 0 {
			l := int64(10+i%91) << 30
			in.DataLimit = &l
		}
		if i%MixNoteEvery == 0 {
			var n string
			if i%2 == 0 {
				n = fmt.Sprintf("vip customer %d", i%1000)
			} else {
				n = fmt.Sprintf("reseller %d", i%50)
			}
			in.Note = &n
		}
	}
}

// DisableEvery disables every n-th of the first users seeded users
// (UserName), through the bulk action: one revision per 1000 users. No
// panel may have the database open unless it is PostgreSQL.
func DisableEvery(ctx context.Context, databaseURL, dataDir, sudo string, users, n int) (int, error) {
	s, err := state.Open(ctx, databaseURL, dataDir, feed.NewMemory(1000), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return 0, fmt.Errorf("opening the database: %w", err)
	}
	defer s.Close()
	admin := &model.Admin{Username: sudo, IsSudo: true}
	var names []string
	changed := 0
	flush := func() error {
		if len(names) == 0 {
			return nil
		}
		r, err := s.BulkUsers(ctx, admin, state.BulkInput{Action: state.BulkDisable, Usernames: names})
		if err != nil {
			return err
		}
		changed += r.Changed
		names = names[:0]
		return nil
	}
	for i := n; i <= users; i += n {
		names = append(names, UserName(i))
		if len(names) == state.MaxBulkUsers {
			if err := flush(); err != nil {
				return changed, err
			}
		}
	}
	return changed, flush()
}
