package state

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

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
		return tx.UpdateNode(n)
	})
	if err != nil {
		return nil, fmt.Errorf("modifying node %d: %w", id, err)
	}
	return n, nil
}

// maxUserAgent bounds the stored sub_last_user_agent.
const maxUserAgent = 256

// TouchSubscription records that a client fetched the user's subscription
// (sub_updated_at, sub_last_user_agent). It changes nothing nodes see.
func (s *State) TouchSubscription(ctx context.Context, userID int64, userAgent string) error {
	userAgent = strings.ToValidUTF8(userAgent, "")
	for len(userAgent) > maxUserAgent {
		_, size := utf8.DecodeLastRuneInString(userAgent)
		userAgent = userAgent[:len(userAgent)-size]
	}
	now := s.now().UTC()
	return s.store.Tx(ctx, func(tx *store.Tx) error { return tx.TouchSubscription(userID, now, userAgent) })
}
