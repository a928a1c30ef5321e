// Package events feeds the dashboard's live events socket (GET /api/events):
// one Broker per replica watches what every replica writes to the shared
// database (user revisions and tombstones, node status, usage batches,
// notification delivery) and hands each connected dashboard the events its
// admin may see, through a bounded queue per socket.
//
// The broker reads the database rather than the change feed because the
// feed carries only what nodes must see (a user created disabled or an
// expired user deleted leaves nothing in it), and because node status is
// written by whichever replica holds the session: the database is where
// every replica's changes meet. It reads once per Tick (one single-row query
// when nothing moved) and at once when the feed wakes it, so a change made
// through any replica reaches every replica's sockets within a Tick. It
// runs only while some socket is connected.
package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// Message types, the "type" field of every message.
const (
	TypeHello         = "hello"
	TypeUsers         = "users"
	TypeNode          = "node"
	TypeUsage         = "usage"
	TypeNotifications = "notifications"
	TypeAlerts        = "alerts"
)

// Defaults.
const (
	// DefaultTick is how often the broker reads the database.
	DefaultTick = time.Second
	// QueueSize is how many messages a socket may fall behind before it is
	// closed (the client reconnects and refetches everything). Events are
	// small and at most a few a second, so only a stalled client fills it.
	QueueSize = 256
	// MaxUsernames bounds the usernames of one users event; past it the
	// event says all=true and the client refetches every page it shows.
	MaxUsernames = 1000
)

// UserChange is a user created, changed or deleted.
type UserChange struct {
	Username string
	AdminID  int64 // 0: no owner
}

// UserBatch is what changed after a revision.
type UserBatch struct {
	Revision int64
	Users    []UserChange
	// All means the list is incomplete (too many changes, or deletions no
	// longer known): every user should count as changed.
	All bool
}

// Node is a node's status as the dashboard shows it.
type Node struct {
	ID              int64   `json:"id"`
	Name            string  `json:"name"`
	Status          string  `json:"status"`
	Message         *string `json:"message"`
	AppliedRevision int64   `json:"applied_revision"`
	// LastSeen is marshalled as given, so the API keeps one time format.
	LastSeen any `json:"last_seen"`
}

// same reports whether two readings of a node differ in what an event is
// worth sending for (last_seen moves with every ping, so it alone is not).
func (n Node) same(o Node) bool {
	msg := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return n.Name == o.Name && n.Status == o.Status && msg(n.Message) == msg(o.Message) && n.AppliedRevision == o.AppliedRevision
}

// Source is what the broker reads. Every method is called from the
// broker's one loop goroutine.
type Source interface {
	// Wake signals when the change feed moved (optional speed-up: nil
	// channel works, the tick still reads).
	Wake(ctx context.Context) <-chan struct{}
	// UsersSince returns the current revision and the users changed after
	// after (at most MaxUsernames+1, or All).
	UsersSince(ctx context.Context, after int64) (UserBatch, error)
	// Nodes is every node's current status.
	Nodes(ctx context.Context) ([]Node, error)
	// UsageMark moves whenever a usage batch is recorded by any replica.
	UsageMark(ctx context.Context) (string, error)
	// Online counts users online now (sent to sudo admins with usage).
	Online(ctx context.Context) (int, error)
	// NotificationsMark moves whenever notification delivery status
	// changes.
	NotificationsMark(ctx context.Context) (string, error)
	// AlertsMark moves whenever the fleet alerts that fired change
	// (sent to sudo admins).
	AlertsMark(ctx context.Context) (string, error)
}

// Broker fans one replica's reading of the database out to its sockets.
type Broker struct {
	src  Source
	log  *slog.Logger
	tick time.Duration

	mu      sync.Mutex
	subs    map[*Subscriber]struct{}
	running bool
	stop    context.CancelFunc
	loops   sync.WaitGroup
}

// New returns a broker reading src every tick (0: DefaultTick).
func New(src Source, log *slog.Logger, tick time.Duration) *Broker {
	if tick <= 0 {
		tick = DefaultTick
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Broker{src: src, log: log, tick: tick, subs: map[*Subscriber]struct{}{}}
}

// Subscriber is one socket's view: what its admin may see and its queue.
type Subscriber struct {
	adminID int64
	sudo    bool
	queue   chan []byte
	done    chan struct{}
	once    sync.Once
}

// Messages is the socket's queue of JSON messages.
func (s *Subscriber) Messages() <-chan []byte { return s.queue }

// Done is closed when the subscriber was dropped for falling behind.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

func (s *Subscriber) offer(msg []byte) {
	select {
	case s.queue <- msg:
	default:
		// Never buffer without bound: a client this far behind reconnects
		// and refetches, which costs it less than the backlog would.
		s.once.Do(func() { close(s.done) })
	}
}

// Subscribe registers a socket of an admin (id, sudo) that has been told,
// by its hello, that it starts at revision from: it will receive every
// user change after that. The first socket starts the loop. Call
// Unsubscribe when the socket ends.
//
// Read from before calling Subscribe: a change that commits after
// Subscribe returns reaches this socket as an event (the loop reads it
// later, with the socket registered), and one that committed before is in
// what the client fetches after its hello.
func (b *Broker) Subscribe(adminID int64, sudo bool, from int64) *Subscriber {
	s := &Subscriber{adminID: adminID, sudo: sudo, queue: make(chan []byte, QueueSize), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[s] = struct{}{}
	if !b.running {
		ctx, cancel := context.WithCancel(context.Background())
		b.running, b.stop = true, cancel
		b.loops.Add(1)
		go func() { defer b.loops.Done(); b.run(ctx, from) }()
	}
	return s
}

// Unsubscribe removes a socket; the last one stops the loop.
func (b *Broker) Unsubscribe(s *Subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
	if len(b.subs) == 0 && b.running {
		b.stop()
		b.running = false
	}
}

// Wait returns when no loop runs (after the last Unsubscribe).
func (b *Broker) Wait() { b.loops.Wait() }

// Hello is the first message of a socket: the revision it starts from.
func Hello(revision int64) []byte {
	return mustJSON(struct {
		Type     string `json:"type"`
		Revision int64  `json:"revision"`
	}{TypeHello, revision})
}

// subscribers copies the set under the lock, so delivery runs outside it.
func (b *Broker) subscribers() []*Subscriber {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*Subscriber, 0, len(b.subs))
	for s := range b.subs {
		out = append(out, s)
	}
	return out
}

// watermarks is what the loop has already told its sockets about. A new
// loop starts knowing no node, usage or notification state, so its first
// tick sends each once: a socket that joined while the loop was stopped
// may have fetched before they moved.
type watermarks struct {
	revision      int64
	nodes         map[int64]Node
	usage         string
	notifications string
	alerts        string
}

func (b *Broker) run(ctx context.Context, from int64) {
	wake := b.src.Wake(ctx)
	t := time.NewTicker(b.tick)
	defer t.Stop()
	w := watermarks{revision: from, nodes: map[int64]Node{}}
	b.read(ctx, &w, true)
	last := time.Now()
	// A burst of changes wakes the loop once per change; it reads at most
	// once per minWakeGap and catches up on the rest in one read.
	var deferred <-chan time.Time
	for {
		full := false
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wake:
			if !ok {
				wake = nil
				continue
			}
			if since := time.Since(last); since < minWakeGap {
				if deferred == nil {
					deferred = time.After(minWakeGap - since)
				}
				continue
			}
		case <-deferred:
		case <-t.C:
			full = true
		}
		deferred = nil
		b.read(ctx, &w, full)
		last = time.Now()
	}
}

// minWakeGap bounds the reads the change feed's wake-ups cause.
const minWakeGap = 100 * time.Millisecond

// Revision is the database's current revision, for a socket's hello.
func (b *Broker) Revision(ctx context.Context) (int64, error) {
	batch, err := b.src.UsersSince(ctx, 1<<62)
	return batch.Revision, err
}

// read compares the database with the watermarks and sends what moved.
// Users are read on every wake; the rest on ticks, so usage events reach a
// socket at most once a tick.
func (b *Broker) read(ctx context.Context, w *watermarks, full bool) {
	batch, err := b.src.UsersSince(ctx, w.revision)
	if err != nil {
		b.logErr(ctx, "reading changed users", err)
	} else if batch.Revision > w.revision {
		w.revision = batch.Revision
		b.sendUsers(batch)
	}
	if !full {
		return
	}
	subs := b.subscribers()
	anySudo := false
	for _, s := range subs {
		anySudo = anySudo || s.sudo
	}
	if nodes, err := b.src.Nodes(ctx); err != nil {
		b.logErr(ctx, "reading nodes", err)
	} else {
		seen := make(map[int64]bool, len(nodes))
		for _, n := range nodes {
			seen[n.ID] = true
			if old, ok := w.nodes[n.ID]; !ok || !old.same(n) {
				w.nodes[n.ID] = n
				b.sendSudo(subs, nodeMessage(n, w.revision, false))
			}
		}
		for id, n := range w.nodes {
			if !seen[id] {
				delete(w.nodes, id)
				b.sendSudo(subs, nodeMessage(n, w.revision, true))
			}
		}
	}
	if mark, err := b.src.UsageMark(ctx); err != nil {
		b.logErr(ctx, "reading usage", err)
	} else if mark != w.usage {
		w.usage = mark
		b.sendUsage(ctx, subs, anySudo)
	}
	if !anySudo {
		return
	}
	if mark, err := b.src.NotificationsMark(ctx); err != nil {
		b.logErr(ctx, "reading notifications", err)
	} else if mark != w.notifications {
		w.notifications = mark
		b.sendSudo(subs, mustJSON(struct {
			Type string `json:"type"`
		}{TypeNotifications}))
	}
	if mark, err := b.src.AlertsMark(ctx); err != nil {
		b.logErr(ctx, "reading alerts", err)
	} else if mark != w.alerts {
		w.alerts = mark
		b.sendSudo(subs, mustJSON(struct {
			Type string `json:"type"`
		}{TypeAlerts}))
	}
}

func (b *Broker) logErr(ctx context.Context, what string, err error) {
	if ctx.Err() == nil {
		b.log.Warn("events: "+what, "err", err)
	}
}

type usersMessage struct {
	Type      string   `json:"type"`
	Revision  int64    `json:"revision"`
	Usernames []string `json:"usernames"`
	All       bool     `json:"all,omitempty"`
}

// sendUsers gives sudo admins every username and each regular admin those
// of its own users, dropping the event for an admin with none.
func (b *Broker) sendUsers(batch UserBatch) {
	if len(batch.Users) == 0 && !batch.All {
		return // the revision moved for something other than users
	}
	all := batch.All || len(batch.Users) > MaxUsernames
	type ownerName struct {
		name  string
		admin int64
	}
	var (
		names   []string
		byOwner = map[int64][]string{}
		seen    = map[string]bool{}
		seenBy  = map[ownerName]bool{}
	)
	// One user may appear under two owners: a user given to another admin
	// is news to the previous owner too (its row must leave its table).
	for _, u := range batch.Users {
		if !seen[u.Username] {
			seen[u.Username] = true
			names = append(names, u.Username)
		}
		if k := (ownerName{u.Username, u.AdminID}); !seenBy[k] {
			seenBy[k] = true
			byOwner[u.AdminID] = append(byOwner[u.AdminID], u.Username)
		}
	}
	render := func(names []string) []byte {
		m := usersMessage{Type: TypeUsers, Revision: batch.Revision, Usernames: names, All: all}
		if all || m.Usernames == nil {
			m.Usernames = []string{}
		}
		return mustJSON(m)
	}
	sudoMsg := render(names)
	owned := map[int64][]byte{}
	for _, s := range b.subscribers() {
		switch {
		case s.sudo:
			s.offer(sudoMsg)
		case all:
			// Which of its users changed is unknown: it refetches, and
			// learns nothing of anyone else's.
			s.offer(sudoMsg)
		case len(byOwner[s.adminID]) > 0:
			msg, ok := owned[s.adminID]
			if !ok {
				msg = render(byOwner[s.adminID])
				owned[s.adminID] = msg
			}
			s.offer(msg)
		}
	}
}

func nodeMessage(n Node, revision int64, deleted bool) []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		Node
		Revision int64 `json:"revision"`
		Deleted  bool  `json:"deleted,omitempty"`
	}{TypeNode, n, revision, deleted})
}

func (b *Broker) sendSudo(subs []*Subscriber, msg []byte) {
	for _, s := range subs {
		if s.sudo {
			s.offer(msg)
		}
	}
}

// sendUsage tells every socket that usage moved; sudo sockets get the
// online count with it (one count for all of them).
func (b *Broker) sendUsage(ctx context.Context, subs []*Subscriber, anySudo bool) {
	type usage struct {
		Type   string `json:"type"`
		Online *int   `json:"online,omitempty"`
	}
	plain := mustJSON(usage{Type: TypeUsage})
	sudoMsg := plain
	if anySudo {
		if n, err := b.src.Online(ctx); err != nil {
			b.logErr(ctx, "counting online users", err)
		} else {
			sudoMsg = mustJSON(usage{Type: TypeUsage, Online: &n})
		}
	}
	for _, s := range subs {
		if s.sudo {
			s.offer(sudoMsg)
		} else {
			s.offer(plain)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}
