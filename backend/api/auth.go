package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// The middleware behind the admin and sudo auth levels of the route table
// (register, in routes.go, puts them in front of each route's handler).
// A bearer is either an admin JWT (from POST /api/admin/token, bound to a
// sign-in session) or an API key (op_...), limited to its scopes.

const (
	adminLocal   = "outpost.admin"
	keyLocal     = "outpost.apikey"  // *model.APIKey when a key authenticated
	sessionLocal = "outpost.session" // int64 session id of the JWT (0: none)
)

var errNotAuthenticated = &publicError{err: model.ErrUnauthorized, detail: "Not authenticated"}

// bearer is who a token stands for.
type bearer struct {
	admin   *model.Admin
	key     *model.APIKey // nil for a JWT
	session int64         // the JWT's session; 0 for a key or a JWT without one
}

// authenticate loads the admin behind the bearer token and checks that an
// API key's scopes cover scope. The admin row is read on every request, so
// a deleted admin, a demoted one or a reset password takes effect at once
// rather than when the token expires; so does a key's owner.
func (s *server) authenticate(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
			return errNotAuthenticated
		}
		b, err := s.bearerFor(c.UserContext(), token)
		if err != nil {
			return err
		}
		if b.key != nil {
			if !keyAllows(b.key, scope) {
				return &publicError{err: model.ErrForbidden, detail: scopeRefusal(b.key, scope)}
			}
			s.keyUses.record(b.key.ID, s.now(), s.clientIP(c).String())
			c.Locals(keyLocal, b.key)
		}
		c.Locals(adminLocal, b.admin)
		c.Locals(sessionLocal, b.session)
		c.SetUserContext(audit.WithActor(c.UserContext(), s.actorOf(c, b)))
		return c.Next()
	}
}

// keyAllows is the one rule of API key scopes: a key never calls an
// account route; any key may read; a write needs its area's scope or all.
func keyAllows(k *model.APIKey, scope string) bool {
	switch scope {
	case scopeAccount, "":
		return false
	case model.ScopeRead:
		return len(k.Scopes) > 0
	}
	return k.HasScope(scope)
}

func scopeRefusal(k *model.APIKey, scope string) string {
	if scope == scopeAccount {
		return "API keys cannot manage the account (keys, sessions, two-factor sign-in, password); sign in with the password"
	}
	return fmt.Sprintf("This API key's scopes (%s) do not allow this request; it needs %q or \"all\"", strings.Join(k.Scopes, ", "), scope)
}

// adminForToken checks an admin JWT or API key and loads its admin (the log
// and event sockets, which only read).
func (s *server) adminForToken(ctx context.Context, token string) (*model.Admin, error) {
	b, err := s.bearerFor(ctx, token)
	if err != nil {
		return nil, err
	}
	if b.key != nil {
		s.keyUses.record(b.key.ID, s.now(), "")
	}
	return b.admin, nil
}

func (s *server) bearerFor(ctx context.Context, token string) (bearer, error) {
	if strings.HasPrefix(token, model.APIKeyPrefix) {
		return s.bearerForKey(ctx, token)
	}
	claims, err := auth.Parse(s.opts.Secrets.JWT, token, s.now())
	if err != nil {
		return bearer{}, err
	}
	if claims.AdminID == 0 {
		// The env sudo has no row; its token is honoured only while the
		// environment still names it, never for a database admin that
		// happens to carry the same name.
		if !s.envSudo.Configured() || claims.Username != s.envSudo.Username || claims.Access != auth.AccessSudo {
			return bearer{}, fmt.Errorf("token of env sudo %q that the environment no longer names: %w", claims.Username, model.ErrUnauthorized)
		}
		if err := s.checkSession(ctx, claims.SessionID); err != nil {
			return bearer{}, err
		}
		return bearer{admin: s.envSudo.Admin(), session: claims.SessionID}, nil
	}
	admin, err := s.st.AdminByUsername(ctx, claims.Username)
	switch {
	case errors.Is(err, model.ErrNotFound):
		return bearer{}, fmt.Errorf("token of unknown admin %q: %w", claims.Username, model.ErrUnauthorized)
	case err != nil:
		return bearer{}, fmt.Errorf("loading admin %q: %w", claims.Username, err)
	case !claims.IssuedTo(admin):
		// Deleted and re-created under the same name: the old token must
		// not carry the new admin's rights.
		return bearer{}, fmt.Errorf("token of %q was issued to admin id %d, now id %d: %w", claims.Username, claims.AdminID, admin.ID, model.ErrUnauthorized)
	case claims.IssuedBeforeReset(admin):
		return bearer{}, fmt.Errorf("token of %q predates its password reset: %w", claims.Username, model.ErrUnauthorized)
	}
	if err := s.checkSession(ctx, claims.SessionID); err != nil {
		return bearer{}, err
	}
	return bearer{admin: admin, session: claims.SessionID}, nil
}

func (s *server) bearerForKey(ctx context.Context, key string) (bearer, error) {
	if len(key) > 128 {
		return bearer{}, &publicError{err: model.ErrUnauthorized, detail: "Invalid or revoked API key"}
	}
	k, owner, err := s.st.APIKeyByHash(ctx, auth.HashAPIKey(key))
	if errors.Is(err, model.ErrNotFound) {
		// Revoked, never issued, or its owner was deleted (the keys go
		// with the admin row).
		return bearer{}, &publicError{err: fmt.Errorf("unknown api key: %w", model.ErrUnauthorized), detail: "Invalid or revoked API key"}
	}
	if err != nil {
		return bearer{}, err
	}
	if k.ExpiresAt != nil && !s.now().Before(*k.ExpiresAt) {
		return bearer{}, &publicError{err: fmt.Errorf("api key %d expired: %w", k.ID, model.ErrUnauthorized), detail: "API key expired"}
	}
	return bearer{admin: owner, key: k}, nil
}

func requireSudo(c *fiber.Ctx) error {
	if !adminOf(c).IsSudo {
		return &publicError{err: model.ErrForbidden, detail: "You're not allowed"}
	}
	return c.Next()
}

// adminOf is the admin set by authenticate; routes without it never call it.
func adminOf(c *fiber.Ctx) *model.Admin {
	return c.Locals(adminLocal).(*model.Admin)
}

// sessionOf is the session of the caller's JWT (0: an API key, or a token
// from before sessions).
func sessionOf(c *fiber.Ctx) int64 {
	id, _ := c.Locals(sessionLocal).(int64)
	return id
}

// sessionCacheTTL is how long a session found alive is believed without
// asking the database again: a session ended on another replica is
// refused here within this time; one ended on this replica at once.
const sessionCacheTTL = 2 * time.Second

// sessionCache remembers which sessions are alive, so a request costs no
// session query (the admin row is still read; see authenticate).
type sessionCache struct {
	mu sync.Mutex
	m  map[int64]sessionEntry
}

type sessionEntry struct {
	live    bool
	checked time.Time
}

// maxCachedSessions bounds the cache; past it, stale entries are dropped.
const maxCachedSessions = 10000

func (sc *sessionCache) get(id int64, now time.Time) (live, ok bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	e, found := sc.m[id]
	if !found || now.Sub(e.checked) >= sessionCacheTTL || now.Before(e.checked) {
		return false, false
	}
	return e.live, true
}

func (sc *sessionCache) put(id int64, live bool, now time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.m == nil {
		sc.m = map[int64]sessionEntry{}
	}
	if len(sc.m) >= maxCachedSessions {
		for k, e := range sc.m {
			if now.Sub(e.checked) >= sessionCacheTTL {
				delete(sc.m, k)
			}
		}
	}
	sc.m[id] = sessionEntry{live: live, checked: now}
}

// checkSession refuses a token whose session was ended. Tokens without a
// session (signed before sessions existed) pass: they die with their
// expiry or the next password change.
func (s *server) checkSession(ctx context.Context, id int64) error {
	if id == 0 {
		return nil
	}
	now := s.now()
	live, ok := s.sessions.get(id, now)
	if !ok {
		var err error
		if live, err = s.st.SessionLive(ctx, id); err != nil {
			return fmt.Errorf("checking session %d: %w", id, err)
		}
		s.sessions.put(id, live, now)
	}
	if !live {
		return &publicError{err: fmt.Errorf("session %d ended: %w", id, model.ErrUnauthorized), detail: "Session ended; sign in again"}
	}
	return nil
}

// keyUseFlush is how long key uses are gathered before one transaction
// writes them (the newest per key): a busy key costs no write per request.
const keyUseFlush = 5 * time.Second

// keyUseBuffer is the write-behind of API keys' last use.
type keyUseBuffer struct {
	st    *state.State
	every time.Duration
	log   interface {
		Warn(msg string, args ...any)
	}
	mu        sync.Mutex
	pending   map[int64]state.KeyUse
	inflight  map[int64]state.KeyUse // being written by flush: still shown by overlay
	scheduled bool
}

func (b *keyUseBuffer) record(id int64, at time.Time, ip string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[int64]state.KeyUse{}
	}
	b.pending[id] = state.KeyUse{At: at, IP: ip}
	if !b.scheduled {
		b.scheduled = true
		time.AfterFunc(b.every, b.flush)
	}
}

// flush writes what was gathered; a failed write is logged and tried
// again with the next flush.
func (b *keyUseBuffer) flush() {
	b.mu.Lock()
	batch := b.pending
	b.pending, b.inflight, b.scheduled = nil, batch, false
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.st.TouchAPIKeys(ctx, batch)
	// Until the write commits a listing reads the old row: keep showing
	// the batch until then, so a key's last use never blinks to empty.
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight = nil
	if err == nil {
		return
	}
	// A failed write (a dropped connection, a restarting database) goes
	// back to be written with the next flush, unless a newer use of the
	// key came meanwhile.
	b.log.Warn("recording API key use; retrying with the next flush", "keys", len(batch), "err", err)
	if b.pending == nil {
		b.pending = map[int64]state.KeyUse{}
	}
	for id, u := range batch {
		if _, newer := b.pending[id]; !newer {
			b.pending[id] = u
		}
	}
	if !b.scheduled {
		b.scheduled = true
		time.AfterFunc(b.every, b.flush)
	}
}

// unwritten copies the uses not yet committed (gathered or being
// written). Taken before a listing reads the database, it and that read
// together hold every use: a use leaves the buffer only after its write
// commits, so one missing from the copy is already in the read.
func (b *keyUseBuffer) unwritten() map[int64]state.KeyUse {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[int64]state.KeyUse, len(b.pending)+len(b.inflight))
	for id, u := range b.inflight {
		out[id] = u
	}
	for id, u := range b.pending { // newer than what is being written
		out[id] = u
	}
	return out
}

// overlay sets the last use of keys from a copy taken by unwritten.
func overlay(keys []model.APIKey, uses map[int64]state.KeyUse) {
	for i := range keys {
		if u, ok := uses[keys[i].ID]; ok {
			at, ip := u.At.UTC().Truncate(time.Second), u.IP
			keys[i].LastUsedAt, keys[i].LastUsedIP = &at, &ip
		}
	}
}
