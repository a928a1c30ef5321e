// Package change holds the panel's node-visible changes as values: a user
// upserted, a user removed, the core config replaced. State mutations return
// one; the state package stores it in the outbox (Encode) in the transaction
// that took its revision; the hub reads it back (Decode), folds it into its
// desired state (Apply) and merges a run of them per node (Merge) before it
// converts the result to a protocol.Delta, once, at the wire.
//
// A Change means: replace the config (when Config is set), then upsert
// Upserts in order, then remove Removes in order. Merge keeps that meaning
// and names each email at most once, so a user created and deleted within
// a merged run costs nothing on the wire.
package change

import (
	"encoding/json"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Change is what nodes must do to follow one revision (or, merged, a run of
// revisions). The zero Change changes nothing.
//
// Users are carried as nodes see them (protocol.User): the desired state
// and its hash are kept in that shape, and a user record is the one part of
// a change the wire and the outbox share.
type Change struct {
	// Config, when non-nil, replaces the core config.
	Config json.RawMessage
	// Upserts are users added or replaced, by email.
	Upserts []protocol.User
	// Removes are emails of users taken off the nodes.
	Removes []string
}

// UserUpserted is the change that puts u on the nodes, replacing any user
// with its email.
func UserUpserted(u protocol.User) Change { return Change{Upserts: []protocol.User{u}} }

// UsersUpserted puts several users on the nodes at once.
func UsersUpserted(us []protocol.User) Change { return Change{Upserts: us} }

// UserRemoved is the change that takes the user with this email off the nodes.
func UserRemoved(email string) Change { return Change{Removes: []string{email}} }

// UsersRemoved takes several users off the nodes at once.
func UsersRemoved(emails []string) Change { return Change{Removes: emails} }

// ConfigReplaced is the change that replaces the core config.
func ConfigReplaced(config []byte) Change { return Change{Config: config} }

// IsEmpty reports whether the change does nothing; an empty change is not
// stored and costs its revision nothing but the number.
func (c Change) IsEmpty() bool {
	return c.Config == nil && len(c.Upserts) == 0 && len(c.Removes) == 0
}

// Target is what a change is applied to: a desired state in memory.
type Target interface {
	ReplaceConfig(config []byte)
	UpsertUser(u protocol.User)
	RemoveUser(email string)
}

// Apply applies c to t: the config, then the upserts, then the removes.
func (c Change) Apply(t Target) {
	if c.Config != nil {
		t.ReplaceConfig(c.Config)
	}
	for _, u := range c.Upserts {
		t.UpsertUser(u)
	}
	for _, e := range c.Removes {
		t.RemoveUser(e)
	}
}

// Merge folds changes, oldest first, into one with the same effect as
// applying them one by one: the newest config wins, and so does the last
// operation on each email. Each email appears once in the result, in the
// order it first appeared. Merge of one change normalizes it; of none is
// the empty change. The inputs are not modified.
func Merge(changes ...Change) Change {
	var out Change
	n := 0
	for _, c := range changes {
		n += len(c.Upserts) + len(c.Removes)
	}
	// last[email] indexes ops, which keeps emails in first-seen order; a
	// nil user is a remove.
	last := make(map[string]int, n)
	ops := make([]*protocol.User, 0, n)
	emails := make([]string, 0, n)
	put := func(email string, u *protocol.User) {
		if i, seen := last[email]; seen {
			ops[i] = u
			return
		}
		last[email] = len(ops)
		ops = append(ops, u)
		emails = append(emails, email)
	}
	ups := 0
	for _, c := range changes {
		if c.Config != nil {
			out.Config = c.Config
		}
		for i := range c.Upserts {
			put(c.Upserts[i].Email, &c.Upserts[i])
		}
		for _, e := range c.Removes {
			put(e, nil)
		}
	}
	for _, u := range ops {
		if u != nil {
			ups++
		}
	}
	if ups > 0 {
		out.Upserts = make([]protocol.User, 0, ups)
	}
	if rm := len(ops) - ups; rm > 0 {
		out.Removes = make([]string, 0, rm)
	}
	for i, u := range ops {
		if u != nil {
			out.Upserts = append(out.Upserts, *u)
		} else {
			out.Removes = append(out.Removes, emails[i])
		}
	}
	return out
}
