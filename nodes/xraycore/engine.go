package xraycore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	applog "github.com/xtls/xray-core/app/log"
	commonlog "github.com/xtls/xray-core/common/log"
	"github.com/xtls/xray-core/common/serial"
	"github.com/xtls/xray-core/core"
	"github.com/xtls/xray-core/features/dns"
	"github.com/xtls/xray-core/features/inbound"
	"github.com/xtls/xray-core/features/outbound"
	"github.com/xtls/xray-core/features/routing"
	"github.com/xtls/xray-core/proxy"
	"github.com/xtls/xray-core/proxy/shadowsocks_2022"
	"github.com/xtls/xray-core/transport/internet"
	"google.golang.org/protobuf/proto"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// ErrInvalidUser is wrapped when a user list cannot be applied as a whole
// (a user without email, two users with one email).
var ErrInvalidUser = errors.New("invalid user")

// ErrClosed is returned by changes to an engine after Close.
var ErrClosed = errors.New("xray engine closed")

// ss2022BatchLimit is how many users may be added one by one to a running
// Shadowsocks 2022 inbound before rebuilding its handler is cheaper: Xray's
// AddUser for that inbound re-keys every user on each call.
const ss2022BatchLimit = 64

// Result says what an Apply did.
type Result struct {
	// Restarted is set when the core instance was (re)started by this Apply.
	Restarted bool
	// InboundsRebuilt lists tags whose handlers were replaced, added or removed.
	InboundsRebuilt []string
	// InboundErrors maps a tag to why that inbound is not running (port
	// taken, ...); such inbounds are retried on the next Apply.
	InboundErrors map[string]string
}

// inboundState is one inbound as the engine runs it.
type inboundState struct {
	spec    inboundSpec
	handler inbound.Handler   // nil when not running
	users   proxy.UserManager // nil when the inbound does not take users
	members map[string]struct{}
	err     string // why it is not running
}

// Engine runs one embedded Xray core and keeps it in line with the desired
// config and users, touching as little as possible. It is safe for
// concurrent use.
type Engine struct {
	log *slog.Logger

	// mu serializes every change. CollectUsage does not take it.
	mu        sync.Mutex
	instance  *core.Instance
	handlers  inbound.Manager
	baseCanon string
	inbounds  []*inboundState // config order
	byTag     map[string]*inboundState
	users     map[string]*installedUser // by identity email
	// owners maps a user's email to the identities installed for it, only
	// for users whose identities are not just the user itself (per device,
	// protocol.User.Identities), so 100,000 users without devices cost
	// nothing here.
	owners map[string]*deviceSet
	closed bool

	meter usageMeter
	// conns are the open inbound connections of each identity, closed
	// when the identity is removed (cut.go).
	conns connTracker

	restarts    atomic.Int64
	userCount   atomic.Int64
	inboundErrs atomic.Pointer[map[string]string]
}

// New returns an engine with no core running; the first Apply starts it.
func New(log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		log:   log,
		meter: usageMeter{now: time.Now},
		byTag: map[string]*inboundState{},
		users: map[string]*installedUser{},
	}
}

// Apply makes the core run configJSON with exactly users. Each user runs as
// its identities (protocol.User.Identities: itself, or one identity per
// device). A config that fails Validate, or a user list with a missing or
// repeated email (among identities), changes nothing and the running core
// keeps serving. Otherwise:
//   - if everything but the inbounds is unchanged (canonical JSON), the core
//     keeps running: changed inbounds are rebuilt, removed ones removed, new
//     ones added, and the user difference goes through the inbounds' user
//     managers; identical input does nothing at all;
//   - if anything else changed (outbounds, routing, dns, policy...), a new
//     core instance replaces the old one and every inbound is rebuilt in it
//     (see the package doc for what that does to open connections). The old
//     instance's counters keep being collected, so no traffic is lost.
//
// An inbound that cannot start is reported in Result.InboundErrors and does
// not stop the others.
func (e *Engine) Apply(configJSON []byte, users []protocol.User) (Result, error) {
	cfg, err := prepare(configJSON)
	if err != nil {
		return Result{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Result{}, ErrClosed
	}
	users, owners := e.expandIdentities(users)
	desired := make(map[string]int, len(users))
	for i := range users {
		email := users[i].Email
		if email == "" {
			return Result{}, fmt.Errorf("%w: user %d has no email", ErrInvalidUser, users[i].ID)
		}
		if _, dup := desired[email]; dup {
			return Result{}, fmt.Errorf("%w: email %q appears twice", ErrInvalidUser, email)
		}
		desired[email] = i
	}
	var res Result
	if e.instance == nil || cfg.baseCanon != e.baseCanon {
		res, err = e.restart(cfg, users)
	} else {
		res = e.applyInPlace(cfg, users, desired)
	}
	if err != nil {
		return Result{}, err
	}
	e.owners = owners
	res.InboundErrors = e.publish()
	return res, nil
}

// Restart replaces the running core with a new instance of the same config
// even when nothing changed: the admin's deliberate "restart the core"
// (stuck outbounds, a DNS cache to drop). Like every restart here, the new
// instance starts before the old one closes and open connections run on.
func (e *Engine) Restart(configJSON []byte, users []protocol.User) (Result, error) {
	cfg, err := prepare(configJSON)
	if err != nil {
		return Result{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Result{}, ErrClosed
	}
	users, owners := e.expandIdentities(users)
	res, err := e.restart(cfg, users)
	if err != nil {
		return Result{}, err
	}
	e.owners = owners
	res.InboundErrors = e.publish()
	return res, nil
}

// restart starts a new core instance for cfg and moves every inbound to it.
// The new instance is started (outbounds, routing...) before the old one is
// touched, so a config whose core fails to start leaves the old one serving.
// Handlers are built and filled with users while the old core still serves;
// they are started only after the old core has released its ports.
func (e *Engine) restart(cfg *preparedConfig, users []protocol.User) (Result, error) {
	globalsMu.Lock()
	defer globalsMu.Unlock()
	inst, err := core.New(cfg.base)
	if err != nil {
		e.restoreGlobals()
		return Result{}, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if d, ok := inst.GetFeature(routing.DispatcherType()).(*cuttingDispatcher); ok {
		d.tracker.Store(&e.conns)
	}
	if err := inst.Start(); err != nil {
		_ = inst.Close()
		e.restoreGlobals()
		return Result{}, fmt.Errorf("starting xray core: %w", err)
	}
	handlers, ok := inst.GetFeature(inbound.ManagerType()).(inbound.Manager)
	if !ok {
		_ = inst.Close()
		e.restoreGlobals()
		return Result{}, errors.New("xray core has no inbound manager")
	}

	e.replaceUsers(users)
	states := make([]*inboundState, len(cfg.inbounds))
	for i := range cfg.inbounds {
		states[i] = &inboundState{spec: cfg.inbounds[i]}
		e.buildHandler(inst, states[i], true)
	}
	// With no core running, no port is held: start each inbound the moment
	// its users are in. A replacing core waits for the old one's ports.
	cold := e.instance == nil
	if cold {
		e.handlers = handlers
		e.fillUsersParallel(states, e.start)
	} else {
		e.fillUsersParallel(states, nil)
	}

	old := e.instance
	var oldStats counterVisitor
	if old != nil {
		oldStats = statsOf(old)
	}
	e.meter.replace(oldStats, statsOf(inst))
	if old != nil {
		if err := old.Close(); err != nil {
			e.log.Warn("closing replaced xray core", "err", err)
		}
	}

	e.instance, e.handlers, e.baseCanon = inst, handlers, cfg.baseCanon
	liveInstance = inst
	res := Result{Restarted: true}
	for _, st := range states {
		if st.handler != nil && !cold {
			e.start(st)
		}
		res.InboundsRebuilt = append(res.InboundsRebuilt, st.spec.tag)
	}
	for _, st := range e.inbounds {
		if !containsTag(cfg.inbounds, st.spec.tag) {
			res.InboundsRebuilt = append(res.InboundsRebuilt, st.spec.tag)
		}
	}
	e.setInbounds(states)
	n := e.restarts.Add(1)
	e.log.Info("xray core started", "version", Version(), "instance", n,
		"inbounds", len(states), "users", len(e.users))
	return res, nil
}

// restoreGlobals undoes core.New's side effects on Xray's process-wide
// state (the system dialer's DNS and outbounds, the log handler), which
// point at the newest instance, when that new instance is thrown away.
func (e *Engine) restoreGlobals() {
	restoreGlobalsTo(e.instance)
}

// restoreGlobalsTo points Xray's process-wide state back at inst (nothing
// when nil). Caller holds globalsMu.
func restoreGlobalsTo(inst *core.Instance) {
	if inst == nil {
		return
	}
	dc, _ := inst.GetFeature(dns.ClientType()).(dns.Client)
	om, _ := inst.GetFeature(outbound.ManagerType()).(outbound.Manager)
	internet.InitSystemDialer(dc, om)
	if h, ok := inst.GetFeature((*applog.Instance)(nil)).(*applog.Instance); ok {
		commonlog.RegisterHandler(h)
	}
}

// applyInPlace applies cfg to the running core, whose non-inbound part is
// unchanged.
func (e *Engine) applyInPlace(cfg *preparedConfig, users []protocol.User, desired map[string]int) Result {
	var res Result

	for _, st := range e.inbounds {
		if !containsTag(cfg.inbounds, st.spec.tag) {
			e.stop(st)
			res.InboundsRebuilt = append(res.InboundsRebuilt, st.spec.tag)
		}
	}

	// Users: those gone or changed leave, those new or changed arrive.
	var gone, fresh []*installedUser
	for email, iu := range e.users {
		if i, ok := desired[email]; !ok || keyOf(&users[i]) != iu.key {
			gone = append(gone, iu)
		}
	}
	for i := range users {
		u := &users[i]
		if iu, ok := e.users[u.Email]; ok && iu.key == keyOf(u) {
			iu.user = *u // expiry and limits may change without Xray noticing
			continue
		}
		fresh = append(fresh, newInstalledUser(*u))
	}

	states := make([]*inboundState, len(cfg.inbounds))
	var kept []*inboundState
	for i := range cfg.inbounds {
		if st := e.byTag[cfg.inbounds[i].tag]; st != nil && st.handler != nil && st.spec.canon == cfg.inbounds[i].canon {
			states[i] = st
			kept = append(kept, st)
		}
	}
	for _, st := range kept {
		for _, iu := range gone {
			e.removeUser(st, iu.user.Email)
		}
	}
	for _, iu := range gone {
		delete(e.users, iu.user.Email)
		e.conns.cut(iu.user.Email)
	}
	for _, iu := range fresh {
		e.users[iu.user.Email] = iu
	}
	for _, st := range kept {
		if st.users == nil {
			continue
		}
		if st.spec.ss2022 != nil && countEligible(fresh, &st.spec) > ss2022BatchLimit {
			states[indexOfTag(cfg.inbounds, st.spec.tag)] = nil // rebuilt below
			continue
		}
		for _, iu := range fresh {
			if iu.eligible(&st.spec) {
				e.addUser(st, iu)
			}
		}
	}

	// Inbounds that are new, changed, or were not running get a new handler,
	// built and filled while the old one still serves.
	for i := range cfg.inbounds {
		if states[i] != nil {
			continue
		}
		st := &inboundState{spec: cfg.inbounds[i]}
		e.build(e.instance, st)
		if prev := e.byTag[st.spec.tag]; prev != nil {
			e.stop(prev)
		}
		if st.handler != nil {
			e.start(st)
		}
		states[i] = st
		res.InboundsRebuilt = append(res.InboundsRebuilt, st.spec.tag)
	}
	e.setInbounds(states)
	return res
}

// UpsertUsers adds users or updates them in place: an identity whose
// credentials and exclusions did not change is not touched; one that
// changed is removed from its inbounds and added again. A user's identities
// it no longer has (a device dropped from Devices, or the user's own when
// it turned per-device) are removed from every inbound, new ones added. It
// never restarts the core, and costs O(inbounds) per identity. An identity
// Xray refuses (bad UUID, unknown cipher) is logged and skipped without
// affecting the others.
func (e *Engine) UpsertUsers(users []protocol.User) error {
	for i := range users {
		if users[i].Email == "" {
			return fmt.Errorf("%w: user %d has no email", ErrInvalidUser, users[i].ID)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	for i := range users {
		u := &users[i]
		if !u.PerDevice {
			if prev, ok := e.owners[u.Email]; ok {
				e.removeIdentities(prev.emails, nil)
				delete(e.owners, u.Email)
			}
			e.upsertIdentity(u)
			continue
		}
		ids := u.Identities()
		set := newDeviceSet(u, ids)
		prev := []string{u.Email} // its own identity, if installed
		if p, ok := e.owners[u.Email]; ok {
			prev = p.emails
		}
		e.removeIdentities(prev, set.emails)
		for j := range ids {
			e.upsertIdentity(&ids[j])
		}
		if e.owners == nil {
			e.owners = map[string]*deviceSet{}
		}
		e.owners[u.Email] = set
	}
	e.publish()
	return nil
}

// upsertIdentity installs one identity, leaving it alone when Xray would
// see no change. Caller holds mu.
func (e *Engine) upsertIdentity(u *protocol.User) {
	prev := e.users[u.Email]
	key := keyOf(u)
	if prev != nil && prev.key == key {
		prev.user = *u
		return
	}
	if prev != nil {
		for _, st := range e.inbounds {
			e.removeUser(st, u.Email)
		}
		// Its credentials changed: what authenticated with the old ones ends.
		e.conns.cut(u.Email)
	}
	iu := &installedUser{user: *u, key: key}
	e.users[u.Email] = iu
	for _, st := range e.inbounds {
		if st.users != nil && iu.eligible(&st.spec) {
			e.addUser(st, iu)
		}
	}
}

// removeIdentities removes the identities in emails that keep does not
// list from every inbound. Caller holds mu.
func (e *Engine) removeIdentities(emails, keep []string) {
	for _, email := range emails {
		if slices.Contains(keep, email) {
			continue
		}
		if _, ok := e.users[email]; !ok {
			continue
		}
		for _, st := range e.inbounds {
			e.removeUser(st, email)
		}
		delete(e.users, email)
		e.conns.cut(email)
	}
}

// RemoveUsers removes users by email from every inbound, each with all its
// identities (a per-device user's devices). Unknown emails are ignored.
// Their open connections are closed too (cut.go).
func (e *Engine) RemoveUsers(emails []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, email := range emails {
		if set, ok := e.owners[email]; ok {
			e.removeIdentities(set.emails, nil)
			delete(e.owners, email)
			continue
		}
		e.removeIdentities([]string{email}, nil)
	}
	e.publish()
}

// CollectUsage returns the bytes each identity moved since the last call
// (only identities that moved any), nil when nobody did: a per-device
// user's traffic comes by device identity ("<email>#<device id>",
// protocol.OwnerEmail gives the user back). Counters are swapped to zero
// atomically, so nothing counted between the read and the reset is lost,
// including what a replaced or closed core counted before it stopped.
func (e *Engine) CollectUsage() map[string]Traffic {
	return e.meter.collect()
}

// InboundErrors returns, by tag, why inbounds are not running.
func (e *Engine) InboundErrors() map[string]string {
	p := e.inboundErrs.Load()
	if p == nil {
		return nil
	}
	return maps.Clone(*p)
}

// Restarts is how many core instances this engine has started.
func (e *Engine) Restarts() int { return int(e.restarts.Load()) }

// UserCount is how many identities the engine currently runs: a user
// without devices counts once, a per-device user once per device.
func (e *Engine) UserCount() int { return int(e.userCount.Load()) }

// Close stops the core. What it counted stays available to CollectUsage.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.instance == nil {
		return nil
	}
	e.meter.replace(statsOf(e.instance), nil)
	globalsMu.Lock()
	if liveInstance == e.instance {
		liveInstance = nil
	}
	globalsMu.Unlock()
	err := e.instance.Close()
	e.instance, e.handlers = nil, nil
	e.setInbounds(nil)
	e.publish()
	if err != nil {
		return fmt.Errorf("closing xray core: %w", err)
	}
	return nil
}

// replaceUsers makes users (identities) the known set, keeping the built
// Xray accounts of identities that did not change.
func (e *Engine) replaceUsers(users []protocol.User) {
	next := make(map[string]*installedUser, len(users))
	for i := range users {
		u := &users[i]
		if iu, ok := e.users[u.Email]; ok && iu.key == keyOf(u) {
			iu.user = *u
			next[u.Email] = iu
			continue
		}
		next[u.Email] = newInstalledUser(*u)
	}
	// Identities gone, or whose credentials changed, lose their open
	// connections on the old core too.
	for email, iu := range e.users {
		if n, ok := next[email]; !ok || n != iu {
			e.conns.cut(email)
		}
	}
	e.users = next
}

// build creates st's handler in inst, not yet started, with every eligible
// user in it. On failure st.err says why.
func (e *Engine) build(inst *core.Instance, st *inboundState) {
	e.buildHandler(inst, st, false)
}

// buildHandler builds the inbound's handler; with deferUsers the caller
// fills users afterwards (see fillUsersParallel).
func (e *Engine) buildHandler(inst *core.Instance, st *inboundState, deferUsers bool) {
	cfg := st.spec.built
	var injected []string
	if st.spec.ss2022 != nil {
		cfg, injected = e.ss2022Config(&st.spec)
	}
	obj, err := core.CreateObject(inst, cfg)
	if err != nil {
		st.err = err.Error()
		e.log.Warn("inbound not built", "tag", st.spec.tag, "err", err)
		return
	}
	h, ok := obj.(inbound.Handler)
	if !ok {
		st.err = fmt.Sprintf("%T is not an inbound handler", obj)
		return
	}
	st.handler = h
	if st.spec.note != "" {
		e.log.Warn("inbound takes no panel users", "tag", st.spec.tag, "reason", st.spec.note)
	}
	if st.spec.kind == kindNone {
		return
	}
	st.users = userManagerOf(h)
	if st.users == nil {
		e.log.Warn("inbound has no user manager; panel users are not added", "tag", st.spec.tag)
		return
	}
	if st.spec.ss2022 != nil {
		st.members = make(map[string]struct{}, len(injected))
		for _, email := range injected {
			st.members[email] = struct{}{}
		}
		return
	}
	st.members = make(map[string]struct{}, len(e.users))
	if !deferUsers {
		e.fillUsers(st)
	}
}

// fillUsers adds every eligible user to a freshly built inbound.
func (e *Engine) fillUsers(st *inboundState) {
	if st.users == nil || st.spec.ss2022 != nil || st.spec.kind == kindNone {
		return
	}
	for _, iu := range e.users {
		if iu.eligible(&st.spec) {
			e.addUser(st, iu)
		}
	}
}

// fillUsersParallel fills fresh inbounds with one goroutine per account
// kind: a cold start with 100,000 users spends most of its time inside
// Xray's AddUser, and inbounds of different kinds share nothing (each user
// caches one account per kind). Inbounds of one kind go one after another.
// ready, when set, runs for each inbound as soon as its users are in (a
// cold start serves every inbound as early as it can).
func (e *Engine) fillUsersParallel(states []*inboundState, ready func(*inboundState)) {
	byKind := map[accountKind][]*inboundState{}
	for _, st := range states {
		if st.handler != nil {
			byKind[st.spec.kind] = append(byKind[st.spec.kind], st)
		}
	}
	var wg sync.WaitGroup
	for _, group := range byKind {
		wg.Add(1)
		go func(group []*inboundState) {
			defer wg.Done()
			for _, st := range group {
				e.fillUsers(st)
				if ready != nil {
					ready(st)
				}
			}
		}(group)
	}
	wg.Wait()
}

// ss2022Config is the inbound's config with every eligible user in it, so
// the handler keys all of them once instead of once per AddUser.
func (e *Engine) ss2022Config(spec *inboundSpec) (*core.InboundHandlerConfig, []string) {
	n := 16
	if spec.kind == kindSS2022Long {
		n = 32
	}
	settings := proto.Clone(spec.ss2022).(*shadowsocks_2022.MultiUserServerConfig)
	emails := make([]string, 0, len(e.users))
	for email, iu := range e.users {
		if iu.eligible(spec) {
			settings.Users = append(settings.Users, ss2022ConfigUser(&iu.user, n))
			emails = append(emails, email)
		}
	}
	return &core.InboundHandlerConfig{
		Tag:              spec.built.Tag,
		ReceiverSettings: spec.built.ReceiverSettings,
		ProxySettings:    serial.ToTypedMessage(settings),
	}, emails
}

// start adds a built handler to the core, which makes it listen. A handler
// that fails to start is taken out again, leaving its tag free for a retry.
func (e *Engine) start(st *inboundState) {
	ctx := context.Background()
	err := e.handlers.AddHandler(ctx, st.handler)
	if err == nil {
		return
	}
	// AddHandler registers the handler before starting it and keeps it
	// registered when Start fails.
	if h, gerr := e.handlers.GetHandler(ctx, st.spec.tag); gerr == nil && h == st.handler {
		_ = e.handlers.RemoveHandler(ctx, st.spec.tag)
	} else {
		_ = st.handler.Close()
	}
	st.handler, st.users, st.members = nil, nil, nil
	st.err = err.Error()
	e.log.Warn("inbound not started", "tag", st.spec.tag, "err", err)
}

// stop removes a running handler from the core.
func (e *Engine) stop(st *inboundState) {
	if st.handler == nil {
		return
	}
	if err := e.handlers.RemoveHandler(context.Background(), st.spec.tag); err != nil {
		e.log.Warn("removing inbound", "tag", st.spec.tag, "err", err)
	}
	st.handler, st.users, st.members = nil, nil, nil
}

func (e *Engine) addUser(st *inboundState, iu *installedUser) {
	mu, err := iu.memoryUser(st.spec.kind)
	if err != nil {
		e.log.Error("user skipped: xray refuses its credentials",
			"email", iu.user.Email, "tag", st.spec.tag, "err", err)
	}
	if mu == nil {
		return
	}
	if err := st.users.AddUser(context.Background(), mu); err != nil {
		e.log.Error("user not added", "email", iu.user.Email, "tag", st.spec.tag, "err", err)
		return
	}
	st.members[iu.user.Email] = struct{}{}
}

func (e *Engine) removeUser(st *inboundState, email string) {
	if _, ok := st.members[email]; !ok {
		return
	}
	if err := st.users.RemoveUser(context.Background(), email); err != nil {
		e.log.Warn("user not removed", "email", email, "tag", st.spec.tag, "err", err)
	}
	delete(st.members, email)
}

func (e *Engine) setInbounds(states []*inboundState) {
	e.inbounds = states
	e.byTag = make(map[string]*inboundState, len(states))
	for _, st := range states {
		e.byTag[st.spec.tag] = st
	}
}

// publish refreshes the values readers get without taking mu and returns
// the current inbound errors (nil when none).
func (e *Engine) publish() map[string]string {
	var errs map[string]string
	for _, st := range e.inbounds {
		if st.err != "" {
			if errs == nil {
				errs = make(map[string]string)
			}
			errs[st.spec.tag] = st.err
		}
	}
	e.inboundErrs.Store(&errs)
	e.userCount.Store(int64(len(e.users)))
	return maps.Clone(errs)
}

func userManagerOf(h inbound.Handler) proxy.UserManager {
	gi, ok := h.(proxy.GetInbound)
	if !ok {
		return nil
	}
	um, _ := gi.GetInbound().(proxy.UserManager)
	return um
}

func containsTag(specs []inboundSpec, tag string) bool {
	return indexOfTag(specs, tag) >= 0
}

func indexOfTag(specs []inboundSpec, tag string) int {
	for i := range specs {
		if specs[i].tag == tag {
			return i
		}
	}
	return -1
}

// deviceSet is what the engine runs for a per-device user: the emails of
// its identities, and what they were derived from, so an Apply that brings
// the same user again reuses them instead of deriving every credential anew.
type deviceSet struct {
	src     userKey // the user's credentials and exclusions
	devices []int64
	emails  []string
}

func newDeviceSet(u *protocol.User, ids []protocol.User) *deviceSet {
	set := &deviceSet{src: keyOf(u), devices: slices.Clone(u.Devices), emails: make([]string, len(ids))}
	for j := range ids {
		set.emails[j] = ids[j].Email
	}
	return set
}

// expandIdentities turns users into the identities Xray runs, and maps each
// per-device user's email to its identities. Without any per-device user it
// returns users as they are and a nil map, allocating nothing. Identities
// of a user whose credentials, exclusions and devices did not change are
// copied from the installed ones rather than derived again (an HMAC per
// credential). Caller holds mu.
func (e *Engine) expandIdentities(users []protocol.User) ([]protocol.User, map[string]*deviceSet) {
	n, perDevice := 0, 0
	for i := range users {
		if users[i].PerDevice {
			n += len(users[i].Devices)
			perDevice++
		} else {
			n++
		}
	}
	if perDevice == 0 {
		return users, nil
	}
	out := make([]protocol.User, 0, n)
	owners := make(map[string]*deviceSet, perDevice)
	for i := range users {
		u := &users[i]
		if !u.PerDevice {
			out = append(out, *u)
			continue
		}
		if prev := e.owners[u.Email]; prev != nil && slices.Equal(prev.devices, u.Devices) && prev.src == keyOf(u) {
			if start, ok := e.reuseIdentities(prev, u, out); ok {
				out = start
				owners[u.Email] = prev
				continue
			}
		}
		start := len(out)
		for _, id := range u.Devices {
			out = append(out, u.DeviceIdentity(id))
		}
		owners[u.Email] = newDeviceSet(u, out[start:])
	}
	return out, owners
}

// reuseIdentities appends to out the installed identities of set, with the
// user's current ID and expiry; ok is false (out unchanged) when one of
// them is not installed. Caller holds mu.
func (e *Engine) reuseIdentities(set *deviceSet, u *protocol.User, out []protocol.User) ([]protocol.User, bool) {
	start := len(out)
	for _, email := range set.emails {
		iu := e.users[email]
		if iu == nil {
			return out[:start], false
		}
		d := iu.user
		d.ID, d.Expire, d.Excluded = u.ID, u.Expire, u.Excluded
		out = append(out, d)
	}
	return out, true
}

func countEligible(users []*installedUser, spec *inboundSpec) int {
	n := 0
	for _, iu := range users {
		if iu.eligible(spec) {
			n++
		}
	}
	return n
}
