package fleet

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Seeded is what Seed created.
type Seeded struct {
	Tokens []string // one per node, in creation order
	// Emails are the Xray identities of the first users (at most 1,000),
	// for usage reports.
	Emails []string
	// Revision is the database's revision after seeding.
	Revision int64
}

// UserName names the i-th seeded user (1-based).
func UserName(i int) string { return fmt.Sprintf("fleet_%06d", i) }

// Seed opens the panel's database (databaseURL, or SQLite in dataDir) in
// process, bootstraps it, and creates users (credentials for all four
// protocols) and nodes through the state package's bulk import, the fastest
// path there is. No panel may have the database open unless it is
// PostgreSQL. sudo names the admin the users belong to. Each vary, if
// any, may change the i-th user's input (1-based) before it is imported.
func Seed(ctx context.Context, databaseURL, dataDir, sudo string, users, nodes int, log *slog.Logger, vary ...func(i int, in *state.UserInput)) (Seeded, error) {
	var out Seeded
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := state.Open(ctx, databaseURL, dataDir, feed.NewMemory(1000), log, nil)
	if err != nil {
		return out, fmt.Errorf("opening the database: %w", err)
	}
	defer s.Close()
	if _, err := s.Bootstrap(ctx, true); err != nil {
		return out, err
	}
	all := map[string]model.ProxySettings{
		model.ProtoVLESS: {}, model.ProtoVMess: {}, model.ProtoTrojan: {}, model.ProtoShadowsocks: {},
	}
	admin := &model.Admin{Username: sudo, IsSudo: true}
	const batch = 10000
	for lo := 0; lo < users; lo += batch {
		in := make([]state.UserInput, min(batch, users-lo))
		for i := range in {
			name := UserName(lo + i + 1)
			in[i] = state.UserInput{Username: &name, Proxies: all}
			for _, v := range vary {
				v(lo+i+1, &in[i])
			}
		}
		n, err := s.ImportUsers(ctx, admin, in)
		if err != nil {
			return out, fmt.Errorf("importing users %d..%d: %w", lo+1, lo+len(in), err)
		}
		if n != len(in) {
			return out, fmt.Errorf("imported %d users of %d", n, len(in))
		}
	}
	for i := 1; i <= nodes; i++ {
		tok, err := s.CreateNode(ctx, &model.Node{Name: fmt.Sprintf("fleet-%04d", i), Address: "127.0.0.1", UsageCoefficient: 1})
		if err != nil {
			return out, err
		}
		out.Tokens = append(out.Tokens, tok)
	}
	rev, _, desired, err := s.DesiredUsers(ctx)
	if err != nil {
		return out, err
	}
	out.Revision = rev
	for _, u := range desired[:min(len(desired), 1000)] {
		out.Emails = append(out.Emails, u.Email)
	}
	return out, nil
}
