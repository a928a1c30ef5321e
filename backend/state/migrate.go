package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Migration is another panel's data to bring into this one (see
// backend/migrate/marzban): admins with their password hashes, user
// templates, hosts, the core config, the subscription secret, and users
// with every field, counter and timestamp. Carrying the secret, the
// usernames and created_at over keeps every subscription link the other
// panel handed out valid; carrying the proxies over keeps every client's
// configuration working without a refresh.
type Migration struct {
	// CoreConfig replaces the core config when not nil.
	CoreConfig []byte
	// SubscriptionSecret replaces the secret subscription tokens are
	// signed with when not empty.
	SubscriptionSecret string
	Admins             []MigratedAdmin
	Templates          []MigratedTemplate
	// Hosts replaces the hosts of the inbound tags it names; hosts of tags
	// the core config does not have are skipped and reported.
	Hosts map[string][]Host
	Users []MigratedUser
	// Notes are what the reader left out or changed, for the report.
	Notes []string
}

// MigratedAdmin is an admin as the other panel stored it.
type MigratedAdmin struct {
	Username        string
	HashedPassword  string // bcrypt
	IsSudo          bool
	CreatedAt       time.Time
	PasswordResetAt *time.Time
	TelegramID      *int64
	DiscordWebhook  *string
	UsersUsage      int64
}

// MigratedTemplate is a user template; Tags are its inbound tags, sorted
// into protocols by the core config.
type MigratedTemplate struct {
	Input TemplateInput
	Tags  []string
}

// MigratedUser is a user as the other panel stored it. UserInput carries
// what a create request carries (Status and Inbounds in it are ignored);
// the rest is what only a migration may set.
type MigratedUser struct {
	UserInput
	// Excluded is protocol -> inbound tags the user is kept out of; tags
	// the core config does not have are dropped.
	Excluded         map[string][]string
	Owner            string // admin username; "" for none
	Status           model.Status
	CreatedAt        time.Time
	UsedTraffic      int64
	LifetimeUsed     int64 // at least UsedTraffic
	SubUpdatedAt     *time.Time
	SubLastUserAgent string
	SubRevokedAt     *time.Time
	OnlineAt         *time.Time
	EditAt           *time.Time
	LastStatusChange *time.Time
	UsageResetAt     *time.Time
}

// MigrationReport says what a migration did (or, dry, would do).
type MigrationReport struct {
	Admins          int      `json:"admins"`
	AdminsExisting  []string `json:"admins_existing,omitempty"` // already here: kept as they are, their users go to them
	Templates       int      `json:"templates"`
	Hosts           int      `json:"hosts"`
	Users           int      `json:"users"`
	CoreConfig      bool     `json:"core_config"`
	Secret          bool     `json:"subscription_secret"`
	Skipped         []string `json:"skipped,omitempty"` // what was left out, and why
	DryRun          bool     `json:"dry_run"`
	RevisionApplied int64    `json:"revision,omitempty"`
}

// Migrate checks all of m against this panel and its (new or current) core
// config, then writes it in one transaction and one revision; nodes get
// the users (and the config) as one delta. Anything invalid fails the
// whole migration with an error naming the record, and nothing is
// written. It refuses (ErrConflict) a panel that has users already: the
// imported subscription secret would invalidate their links, and their
// usernames could collide. Admins that exist here already are kept as
// they are (the report lists them) and the imported users they own are
// theirs. With dryRun nothing is written.
func (s *State) Migrate(ctx context.Context, m *Migration, dryRun bool) (MigrationReport, error) {
	rep := MigrationReport{DryRun: dryRun, Skipped: append([]string(nil), m.Notes...)}
	var (
		cfg   *coreConfig
		canon []byte
		err   error
	)
	if m.CoreConfig != nil {
		if canon, err = ValidateCoreConfig(m.CoreConfig); err != nil {
			return rep, fmt.Errorf("core config: %w", err)
		}
		if cfg, err = parseCore(canon); err != nil {
			return rep, fmt.Errorf("core config: %w", err)
		}
		rep.CoreConfig = true
	} else if cfg, err = s.core(ctx); err != nil {
		return rep, err
	}
	if m.SubscriptionSecret != "" {
		if len(m.SubscriptionSecret) > 256 || strings.ContainsAny(m.SubscriptionSecret, "\x00\r\n") {
			return rep, invalid("subscription secret: at most 256 characters, one line")
		}
		rep.Secret = true
	}

	var existing []model.Admin
	var userCount int
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		if existing, err = tx.ListAdmins(0, 0, ""); err != nil {
			return err
		}
		counts, err := tx.CountUsersByStatus(nil)
		for _, n := range counts {
			userCount += n
		}
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("reading this panel: %w", err)
	}
	if userCount > 0 {
		return rep, fmt.Errorf("%w: this panel has %d users already; import into a panel without users (the imported subscription secret would end their links)", model.ErrConflict, userCount)
	}
	here := map[string]model.Admin{}
	for _, a := range existing {
		here[strings.ToLower(a.Username)] = a
	}

	// Admins.
	admins := make([]*model.Admin, 0, len(m.Admins))
	owners := map[string]bool{} // lower-case names users may name
	for _, a := range existing {
		owners[strings.ToLower(a.Username)] = true
	}
	for _, in := range m.Admins {
		key := strings.ToLower(in.Username)
		if _, ok := here[key]; ok {
			rep.AdminsExisting = append(rep.AdminsExisting, in.Username)
			continue
		}
		if owners[key] {
			return rep, invalidf("admin %q: listed twice", in.Username)
		}
		if err := validateAdminName(in.Username); err != nil {
			return rep, fmt.Errorf("admin %q: %w", in.Username, err)
		}
		if !strings.HasPrefix(in.HashedPassword, "$2") {
			return rep, invalidf("admin %q: the password hash is not bcrypt", in.Username)
		}
		if err := validateContacts(in.TelegramID, in.DiscordWebhook); err != nil {
			return rep, fmt.Errorf("admin %q: %w", in.Username, err)
		}
		a := &model.Admin{
			Username: in.Username, HashedPassword: in.HashedPassword, IsSudo: in.IsSudo,
			CreatedAt: in.CreatedAt.UTC(), PasswordResetAt: in.PasswordResetAt, TelegramID: in.TelegramID,
			DiscordWebhook: in.DiscordWebhook, UsersUsage: max(in.UsersUsage, 0),
		}
		if a.TelegramID != nil && *a.TelegramID == 0 {
			a.TelegramID = nil
		}
		if a.DiscordWebhook != nil && *a.DiscordWebhook == "" {
			a.DiscordWebhook = nil
		}
		owners[key] = true
		admins = append(admins, a)
	}
	rep.Admins = len(admins)

	// Templates: their tags are sorted into protocols by the config.
	templates := make([]*UserTemplate, 0, len(m.Templates))
	for _, mt := range m.Templates {
		name := "?"
		if mt.Input.Name != nil {
			name = *mt.Input.Name
		}
		in := mt.Input
		in.Inbounds = map[string][]string{}
		for _, tag := range mt.Tags {
			proto, ok := cfg.tags[tag]
			if !ok {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("template %q: inbound %q is not in the core config", name, tag))
				continue
			}
			if !slices.Contains(in.Inbounds[proto], tag) {
				in.Inbounds[proto] = append(in.Inbounds[proto], tag)
			}
		}
		t := &UserTemplate{Inbounds: map[string][]string{}}
		if err := applyTemplate(t, in); err != nil {
			return rep, fmt.Errorf("template %q: %w", name, err)
		}
		templates = append(templates, t)
	}
	rep.Templates = len(templates)

	// Hosts.
	var hosts map[string][]Host
	if m.Hosts != nil {
		hosts = map[string][]Host{}
		for tag, list := range m.Hosts {
			if _, ok := cfg.tags[tag]; !ok {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("%d hosts of inbound %q: not in the core config", len(list), tag))
				continue
			}
			if list == nil {
				list = []Host{}
			}
			hosts[tag] = list
			rep.Hosts += len(list)
		}
		if err := ValidateHosts(hosts, cfg.tags); err != nil {
			return rep, err
		}
	}

	// Users.
	now := s.now().UTC()
	users := make([]*model.User, 0, len(m.Users))
	ownerOf := make([]string, 0, len(m.Users))
	seen := make(map[string]bool, len(m.Users))
	for i := range m.Users {
		mu := &m.Users[i]
		label := fmt.Sprintf("user %d", i)
		if mu.Username != nil {
			label = fmt.Sprintf("user %q", *mu.Username)
		}
		if mu.Owner != "" && !owners[strings.ToLower(mu.Owner)] {
			return rep, invalidf("%s: owner %q is not among the admins", label, mu.Owner)
		}
		in := mu.UserInput
		in.Inbounds = nil
		in.Status = nil
		if mu.Status == model.StatusOnHold {
			in.Status = &mu.Status
		}
		if !mu.Status.Valid() {
			return rep, invalidf("%s: unknown status %q", label, mu.Status)
		}
		u, err := s.prepareNewUser(cfg, nil, &in, now)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", label, err)
		}
		if seen[u.Username] {
			return rep, fmt.Errorf("%s: %w: username taken by another imported user", label, model.ErrConflict)
		}
		seen[u.Username] = true
		u.ExcludedInbounds = map[string][]string{}
		for proto, tags := range mu.Excluded {
			if _, ok := u.Proxies[proto]; !ok {
				continue
			}
			for _, tag := range tags {
				if cfg.tags[tag] == proto && !slices.Contains(u.ExcludedInbounds[proto], tag) {
					u.ExcludedInbounds[proto] = append(u.ExcludedInbounds[proto], tag)
				}
			}
		}
		if mu.UsedTraffic < 0 || mu.LifetimeUsed < 0 {
			return rep, invalidf("%s: negative traffic", label)
		}
		if !mu.CreatedAt.IsZero() {
			u.CreatedAt = mu.CreatedAt.UTC()
		}
		u.UsedTraffic = mu.UsedTraffic
		u.LifetimeUsedTraffic = max(mu.LifetimeUsed, mu.UsedTraffic)
		u.SubUpdatedAt, u.SubRevokedAt, u.OnlineAt = mu.SubUpdatedAt, mu.SubRevokedAt, mu.OnlineAt
		u.EditAt, u.UsageResetAt = mu.EditAt, mu.UsageResetAt
		u.SubLastUserAgent = truncateRunes(mu.SubLastUserAgent, 512)
		u.Status = mu.Status
		u.Status = model.ComputeStatus(u, now)
		u.LastStatusChange = mu.LastStatusChange
		if u.LastStatusChange == nil {
			u.LastStatusChange = &now
		}
		users = append(users, u)
		ownerOf = append(ownerOf, strings.ToLower(mu.Owner))
	}
	rep.Users = len(users)
	if dryRun {
		return rep, nil
	}

	rev, err := s.change(ctx, func(tx *store.Tx, rev int64) (protocol.Delta, error) {
		var d protocol.Delta
		if canon != nil {
			old, _, err := tx.CoreConfig()
			if err != nil && !errors.Is(err, model.ErrNotFound) {
				return d, err
			}
			if string(old) != string(canon) {
				if err := tx.SetCoreConfig(canon, rev); err != nil {
					return d, err
				}
				d.Config = canon
			}
		}
		if m.SubscriptionSecret != "" {
			if err := tx.SetSetting(settingSubSecret, m.SubscriptionSecret); err != nil {
				return d, err
			}
		}
		ids := map[string]model.Admin{}
		for k, a := range here {
			ids[k] = a
		}
		for _, a := range admins {
			if err := tx.CreateAdmin(a); err != nil {
				return d, err
			}
			ids[strings.ToLower(a.Username)] = *a
		}
		for _, t := range templates {
			if err := tx.CreateTemplate(t); err != nil {
				return d, fmt.Errorf("template %q: %w", t.Name, err)
			}
		}
		if hosts != nil {
			if _, err := tx.ReplaceHosts(hosts); err != nil {
				return d, err
			}
		}
		for i, u := range users {
			if o := ownerOf[i]; o != "" {
				u.AdminID, u.AdminUsername = ids[o].ID, ids[o].Username
			}
			u.Revision = rev
		}
		if err := tx.CreateUsers(users); err != nil {
			return d, err
		}
		for _, u := range users {
			d.Upserts = append(d.Upserts, nodeDiff(nil, u).Upserts...)
		}
		return d, nil
	})
	if err != nil {
		return rep, fmt.Errorf("importing: %w", err)
	}
	rep.RevisionApplied = rev
	s.log.Info("migration imported", "admins", rep.Admins, "users", rep.Users, "templates", rep.Templates,
		"hosts", rep.Hosts, "core_config", rep.CoreConfig, "revision", rev)
	return rep, nil
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
