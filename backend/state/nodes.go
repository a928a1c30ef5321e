package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Nodes: what admins do to them (create, modify, rotate the token,
// delete) and what the hub records for a node's session (start, status,
// acks), each write fenced by the session that makes it.

// CreateNode registers a node and returns its token, shown only now.
func (s *State) CreateNode(ctx context.Context, n *model.Node) (string, error) {
	if n.Name == "" || len(n.Name) > 64 {
		return "", invalid("name: 1 to 64 characters required")
	}
	if err := checkTexts(map[string]string{"name": n.Name, "address": n.Address}); err != nil {
		return "", err
	}
	if n.UsageCoefficient == 0 {
		n.UsageCoefficient = 1
	}
	if n.UsageCoefficient < 0 || n.UsageCoefficient > 1000 {
		return "", invalid("usage_coefficient: must be between 0 and 1000")
	}
	token := randomToken()
	n.TokenHash = HashToken(token)
	n.Status = model.NodeConnecting
	n.CreatedAt = s.now().UTC()
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateNode(n); err != nil {
			return err
		}
		return auditRow(tx, "node.create", nodeTarget(n.ID), 0, nil, nodeAudit(n))
	})
	if err != nil {
		return "", fmt.Errorf("creating node %q: %w", n.Name, err)
	}
	return token, nil
}

// RotateNodeToken issues a new token; the old one stops working at once and
// any session authenticated with it is cut by the hub.
func (s *State) RotateNodeToken(ctx context.Context, id int64) (string, error) {
	token := randomToken()
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.NodeByID(id)
		if err != nil {
			return err
		}
		if err := tx.SetNodeToken(id, HashToken(token)); err != nil {
			return err
		}
		after := *n
		after.TokenHash = HashToken(token)
		return auditRow(tx, "node.token", nodeTarget(id), 0, nodeAudit(n), nodeAudit(&after))
	})
	if err != nil {
		return "", fmt.Errorf("rotating token of node %d: %w", id, err)
	}
	return token, nil
}

// Node loads a node.
func (s *State) Node(ctx context.Context, id int64) (*model.Node, error) {
	var n *model.Node
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		n, err = tx.NodeByID(id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading node %d: %w", id, err)
	}
	return n, nil
}

// NodeByToken authenticates a node session.
func (s *State) NodeByToken(ctx context.Context, token string) (*model.Node, error) {
	var n *model.Node
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		n, err = tx.NodeByTokenHash(HashToken(token))
		return err
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil, model.ErrUnauthorized
	}
	return n, err
}

// NodeByName finds a node by its name (the local node).
func (s *State) NodeByName(ctx context.Context, name string) (*model.Node, error) {
	nodes, err := s.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range nodes {
		if nodes[i].Name == name {
			return &nodes[i], nil
		}
	}
	return nil, fmt.Errorf("node %q: %w", name, model.ErrNotFound)
}

// Nodes lists nodes.
func (s *State) Nodes(ctx context.Context) ([]model.Node, error) {
	var ns []model.Node
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		ns, err = tx.ListNodes()
		return err
	})
	return ns, err
}

// DeleteNode removes a node; the hub closes its session.
func (s *State) DeleteNode(ctx context.Context, id int64) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.NodeByID(id)
		if err != nil {
			return fmt.Errorf("loading node %d: %w", id, err)
		}
		if err := tx.DeleteNode(id); err != nil {
			return err
		}
		return auditRow(tx, "node.delete", nodeTarget(id), 0, nodeAudit(n), nil)
	})
}

func randomToken() string { return randomHex(24) }

// NodeChanges are the admin-editable fields of a node (PUT /api/node/{id});
// nil leaves a field as it is.
type NodeChanges struct {
	Name             *string
	Address          *string
	Port             *int
	APIPort          *int
	UsageCoefficient *float64
}

// ModifyNode applies the set fields of ch to node id. Nothing here reaches
// nodes (the coefficient is applied to usage the panel receives), so no
// revision is taken.
func (s *State) ModifyNode(ctx context.Context, id int64, ch NodeChanges) (*model.Node, error) {
	if ch.Name != nil && (*ch.Name == "" || len(*ch.Name) > 64) {
		return nil, invalid("name: 1 to 64 characters required")
	}
	for field, v := range map[string]*string{"name": ch.Name, "address": ch.Address} {
		if v != nil {
			if err := model.CheckText(field, *v); err != nil {
				return nil, err
			}
		}
	}
	if c := ch.UsageCoefficient; c != nil && (*c <= 0 || *c > 1000) {
		return nil, invalid("usage_coefficient: must be greater than 0 and at most 1000")
	}
	if p := ch.Port; p != nil && (*p < 0 || *p > 65535) {
		return nil, invalid("port: must be between 0 and 65535")
	}
	if p := ch.APIPort; p != nil && (*p < 0 || *p > 65535) {
		return nil, invalid("api_port: must be between 0 and 65535")
	}
	var n *model.Node
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if n, err = tx.NodeByID(id); err != nil {
			return err
		}
		before := nodeAudit(n)
		if ch.Name != nil {
			n.Name = *ch.Name
		}
		if ch.Address != nil {
			n.Address = *ch.Address
		}
		if ch.Port != nil {
			n.Port = *ch.Port
		}
		if ch.APIPort != nil {
			n.APIPort = *ch.APIPort
		}
		if ch.UsageCoefficient != nil {
			n.UsageCoefficient = *ch.UsageCoefficient
		}
		if err := tx.UpdateNode(n); err != nil {
			return err
		}
		return auditRow(tx, "node.modify", nodeTarget(id), 0, before, nodeAudit(n))
	})
	if err != nil {
		return nil, fmt.Errorf("modifying node %d: %w", id, err)
	}
	return n, nil
}

// NodeSessionStart opens a session for node id: it raises the node's
// session fence, which fences off every older session's writes
// (model.ErrFenced), and returns the new fence with the node as stored.
func (s *State) NodeSessionStart(ctx context.Context, id int64) (fence int64, n *model.Node, err error) {
	return s.store.NodeSessionStart(ctx, id)
}

// NodeSetStatus records what the node's session with the given fence says
// about it (connected, error, disconnected); empty versions keep the
// stored ones. It is seen now. model.ErrFenced when a newer session took
// over.
func (s *State) NodeSetStatus(ctx context.Context, id, fence int64, status model.NodeStatus, message, agentVersion, xrayVersion string) error {
	return s.store.NodeSetStatus(ctx, id, fence, status, message, agentVersion, xrayVersion, s.now())
}

// NodeRecordAck records that the node runs revision rev with the given
// state hash. model.ErrFenced when a newer session took over.
func (s *State) NodeRecordAck(ctx context.Context, id, fence, rev int64, hash string) error {
	return s.store.NodeRecordAck(ctx, id, fence, rev, hash)
}

// NodeWriteBatch records many node sessions' acks and statuses in one
// transaction; fenced indexes the writes a newer session fenced off (or
// whose node is gone), which changed nothing.
func (s *State) NodeWriteBatch(ctx context.Context, ws []model.NodeWrite) (fenced []int, err error) {
	return s.store.NodeWriteBatch(ctx, ws)
}
