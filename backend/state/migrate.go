package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/sub/render"
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
	// Nodes are the other panel's nodes, created here without a token
	// (the operator issues one per server); NodeUsage and UserUsage are
	// its hourly usage history.
	Nodes     []MigratedNode
	NodeUsage []MigratedNodeUsage
	UserUsage []MigratedUserUsage
	// CustomJSON, when not nil, sets the subscription settings'
	// USE_CUSTOM_JSON_* switches, by variable name (from Marzban's .env).
	CustomJSON map[string]bool
	// Notes are what the reader left out or changed, for the report.
	Notes []string
}

// MigratedNode is a node as the other panel stored it; SourceID is its id
// there, which its usage rows name.
type MigratedNode struct {
	SourceID         int64
	Name             string
	Address          string
	Port, APIPort    int
	UsageCoefficient float64
}

// MigratedNodeUsage is one hour of a node's traffic; SourceNode 0 is the
// other panel's own core (Marzban's master).
type MigratedNodeUsage struct {
	SourceNode       int64
	Hour             time.Time
	Uplink, Downlink int64
}

// MigratedUserUsage is one hour of a user's traffic through a node; User
// is the user's position in Migration.Users.
type MigratedUserUsage struct {
	User       int
	SourceNode int64
	Hour       time.Time
	Used       int64
}

// CoreNodeName names the node the other panel's own core's usage history
// is kept under (Marzban's master has no node row).
const CoreNodeName = "marzban-core"

// importedNodeMessage is what an imported node shows until it connects.
const importedNodeMessage = "Imported from Marzban: issue a token (New token) and start bin/node with it on this server"

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
	Admins         int      `json:"admins"`
	AdminsExisting []string `json:"admins_existing,omitempty"` // already here: kept as they are, their users go to them
	Templates      int      `json:"templates"`
	Hosts          int      `json:"hosts"`
	Users          int      `json:"users"`
	Nodes          int      `json:"nodes"`
	UsageHours     int      `json:"usage_hours"` // hourly usage rows written (per node, and per user and node)
	CoreConfig     bool     `json:"core_config"`
	Secret         bool     `json:"subscription_secret"`
	// CustomJSON are the USE_CUSTOM_JSON_* switches set, as NAME=true|false.
	CustomJSON      []string `json:"custom_json,omitempty"`
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
	for _, name := range render.CustomJSONVars {
		if v, ok := m.CustomJSON[name]; ok {
			rep.CustomJSON = append(rep.CustomJSON, fmt.Sprintf("%s=%t", name, v))
		}
	}
	for name := range m.CustomJSON {
		if (&render.CustomJSON{}).Switch(name) == nil {
			return rep, invalid("subscription switch %q: not one of %s", name, strings.Join(render.CustomJSONVars, ", "))
		}
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

	// Nodes and the usage history. A node named as one here already is
	// that node: its history joins it.
	history, err := s.planNodeImport(ctx, m, len(users), &rep)
	if err != nil {
		return rep, err
	}
	if dryRun {
		return rep, nil
	}

	rev, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		var d change.Change
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
		if len(m.CustomJSON) > 0 {
			data, ok, err := tx.SubscriptionSettings()
			if err != nil {
				return d, err
			}
			set, err := decodeSubscriptionSettings(data, ok)
			if err != nil {
				return d, err
			}
			for name, v := range m.CustomJSON {
				*set.Switch(name) = v
			}
			b, err := json.Marshal(set)
			if err != nil {
				return d, fmt.Errorf("encoding subscription settings: %w", err)
			}
			if _, err := tx.SetSubscriptionSettings(string(b)); err != nil {
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
		perDevice, err := perDeviceDefault(tx)
		if err != nil {
			return d, err
		}
		for i, u := range users {
			if o := ownerOf[i]; o != "" {
				u.AdminID, u.AdminUsername = ids[o].ID, ids[o].Username
			}
			u.Revision = rev
			u.PerDevice = effectivePerDevice(u, perDevice)
		}
		if err := tx.CreateUsers(users); err != nil {
			return d, err
		}
		if err := history.write(tx, users); err != nil {
			return d, err
		}
		for _, u := range users {
			d.Upserts = append(d.Upserts, nodeDiff(nil, u).Upserts...)
		}
		adminNames := make([]string, 0, len(admins))
		for _, a := range admins {
			adminNames = append(adminNames, a.Username)
		}
		return d, auditCreatedUsers(tx, "migrate", "/api/users", users, map[string]any{
			"admins": adminNames, "templates": len(templates), "hosts": hosts != nil,
			"core_config": d.Config != nil, "subscription_links_kept": m.SubscriptionSecret != ""})
	})
	if err != nil {
		return rep, fmt.Errorf("importing: %w", err)
	}
	rep.RevisionApplied = rev
	s.log.Info("migration imported", "admins", rep.Admins, "users", rep.Users, "templates", rep.Templates,
		"nodes", rep.Nodes, "usage_hours", rep.UsageHours,
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

// nodeImport is the node side of a migration, checked before anything is
// written: the nodes to create (or reuse, by name) and the usage history
// summed by the hour.
type nodeImport struct {
	create   []*model.Node
	bySource map[int64]string      // source node id (0: the core) -> node name here
	existing map[string]int64      // lower-case names of nodes here already -> id
	nodeRows map[[2]int64][2]int64 // (source node, hour) -> uplink, downlink
	userRows map[[3]int64]int64    // (user position, source node, hour) -> bytes
}

// planNodeImport checks m's nodes and history against this panel.
func (s *State) planNodeImport(ctx context.Context, m *Migration, users int, rep *MigrationReport) (*nodeImport, error) {
	imp := &nodeImport{bySource: map[int64]string{}, existing: map[string]int64{},
		nodeRows: map[[2]int64][2]int64{}, userRows: map[[3]int64]int64{}}
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		here, err := tx.ListNodes()
		for _, n := range here {
			imp.existing[strings.ToLower(n.Name)] = n.ID
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("reading this panel's nodes: %w", err)
	}
	names := map[string]bool{}
	addNode := func(n *model.Node) {
		key := strings.ToLower(n.Name)
		if _, ok := imp.existing[key]; ok || names[key] {
			return
		}
		names[key] = true
		n.Status = model.NodeConnecting
		n.Message = importedNodeMessage
		imp.create = append(imp.create, n)
	}
	for _, mn := range m.Nodes {
		name := strings.TrimSpace(mn.Name)
		if name == "" || len(name) > 64 {
			return nil, invalidf("node %d: name: 1 to 64 characters required", mn.SourceID)
		}
		if mn.SourceID <= 0 {
			return nil, invalidf("node %q: no id", name)
		}
		if _, dup := imp.bySource[mn.SourceID]; dup {
			return nil, invalidf("node %q: id %d listed twice", name, mn.SourceID)
		}
		if mn.Port < 0 || mn.Port > 65535 || mn.APIPort < 0 || mn.APIPort > 65535 {
			return nil, invalidf("node %q: port out of range", name)
		}
		c := mn.UsageCoefficient
		if c == 0 {
			c = 1
		}
		if c < 0 || c > 1000 {
			return nil, invalidf("node %q: usage_coefficient: must be between 0 and 1000", name)
		}
		imp.bySource[mn.SourceID] = name
		addNode(&model.Node{Name: name, Address: mn.Address, Port: mn.Port, APIPort: mn.APIPort, UsageCoefficient: c})
	}
	unknown := map[int64]int{}
	known := func(id int64) bool {
		if id == 0 {
			if _, ok := imp.bySource[0]; !ok {
				imp.bySource[0] = CoreNodeName
				addNode(&model.Node{Name: CoreNodeName, UsageCoefficient: 1})
			}
			return true
		}
		if _, ok := imp.bySource[id]; ok {
			return true
		}
		unknown[id]++
		return false
	}
	for _, u := range m.NodeUsage {
		if u.Uplink < 0 || u.Downlink < 0 {
			return nil, invalidf("node usage at %s: negative traffic", u.Hour.UTC().Format(time.RFC3339))
		}
		if !known(u.SourceNode) {
			continue
		}
		key := [2]int64{u.SourceNode, u.Hour.UTC().Truncate(time.Hour).Unix()}
		v := imp.nodeRows[key]
		imp.nodeRows[key] = [2]int64{v[0] + u.Uplink, v[1] + u.Downlink}
	}
	for _, u := range m.UserUsage {
		if u.User < 0 || u.User >= users {
			return nil, invalidf("user usage: no user %d", u.User)
		}
		if u.Used < 0 {
			return nil, invalidf("user usage at %s: negative traffic", u.Hour.UTC().Format(time.RFC3339))
		}
		if !known(u.SourceNode) {
			continue
		}
		imp.userRows[[3]int64{int64(u.User), u.SourceNode, u.Hour.UTC().Truncate(time.Hour).Unix()}] += u.Used
	}
	ids := make([]int64, 0, len(unknown))
	for id := range unknown {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("%d hourly usage rows of node %d, which is not in the nodes table", unknown[id], id))
	}
	rep.Nodes = len(imp.create)
	rep.UsageHours = len(imp.nodeRows) + len(imp.userRows)
	return imp, nil
}

// write creates the nodes (without a token: each gets one when the
// operator issues it) and adds the history, inside the migration's
// transaction. users are the created users, in Migration.Users order.
func (imp *nodeImport) write(tx *store.Tx, users []*model.User) error {
	ids := maps.Clone(imp.existing)
	for _, n := range imp.create {
		if err := tx.CreateNode(n); err != nil {
			return err
		}
		ids[strings.ToLower(n.Name)] = n.ID
	}
	nodeOf := func(source int64) int64 { return ids[strings.ToLower(imp.bySource[source])] }
	nodeRows := make([]store.NodeUsageHour, 0, len(imp.nodeRows))
	for k, v := range imp.nodeRows {
		nodeRows = append(nodeRows, store.NodeUsageHour{NodeID: nodeOf(k[0]), Hour: k[1], Uplink: v[0], Downlink: v[1]})
	}
	slices.SortFunc(nodeRows, func(a, b store.NodeUsageHour) int {
		return cmp.Or(cmp.Compare(a.NodeID, b.NodeID), cmp.Compare(a.Hour, b.Hour))
	})
	if err := tx.AddNodeUsageHours(nodeRows); err != nil {
		return err
	}
	userRows := make([]store.UserUsageHour, 0, len(imp.userRows))
	for k, used := range imp.userRows {
		userRows = append(userRows, store.UserUsageHour{UserID: users[k[0]].ID, NodeID: nodeOf(k[1]), Hour: k[2], Used: used})
	}
	slices.SortFunc(userRows, func(a, b store.UserUsageHour) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.NodeID, b.NodeID), cmp.Compare(a.Hour, b.Hour))
	})
	return tx.AddUserUsageHours(userRows)
}
