package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/xrayconf"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// coreConfig is the parsed core config, cached per revision so requests that
// need inbounds (user validation, links) never re-parse the JSON.
type coreConfig struct {
	raw      []byte
	inbounds []xrayconf.Inbound
	byProto  map[string][]string // protocol -> tags, in config order
	tags     map[string]string   // tag -> protocol
}

func parseCore(raw []byte) (*coreConfig, error) {
	in, err := xrayconf.ParseInbounds(raw)
	if err != nil {
		return nil, err
	}
	c := &coreConfig{raw: raw, inbounds: in, byProto: map[string][]string{}, tags: map[string]string{}}
	for _, ib := range in {
		c.byProto[ib.Protocol] = append(c.byProto[ib.Protocol], ib.Tag)
		c.tags[ib.Tag] = ib.Protocol
	}
	return c, nil
}

// core returns the cached parsed config, loading it when the stored revision
// moved (another replica may have changed it).
func (s *State) core(ctx context.Context) (*coreConfig, error) {
	// Every user change and user view asks: the revision alone tells
	// whether the cached config is current (one statement, no config).
	var stored int64
	if err := s.store.ReadOne(ctx, func(tx *store.Tx) error {
		var err error
		stored, err = tx.CoreConfigRevision()
		return err
	}); err != nil {
		return nil, fmt.Errorf("loading core config: %w", err)
	}
	s.cfgMu.RLock()
	if c := s.cfg; c != nil && s.cfgRev == stored {
		s.cfgMu.RUnlock()
		return c, nil
	}
	s.cfgMu.RUnlock()
	var raw []byte
	var rev int64
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		raw, rev, err = tx.CoreConfig()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading core config: %w", err)
	}
	s.cfgMu.RLock()
	c, cr := s.cfg, s.cfgRev
	s.cfgMu.RUnlock()
	if c != nil && cr == rev {
		return c, nil
	}
	c, err = parseCore(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing stored core config: %w", err)
	}
	s.cfgMu.Lock()
	s.cfg, s.cfgRev = c, rev
	s.cfgMu.Unlock()
	return c, nil
}

// CoreConfig returns the Xray JSON.
func (s *State) CoreConfig(ctx context.Context) ([]byte, error) {
	c, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	return c.raw, nil
}

// Inbounds returns the parsed inbounds of the core config.
func (s *State) Inbounds(ctx context.Context) ([]xrayconf.Inbound, error) {
	c, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	return c.inbounds, nil
}

// ValidateCoreConfig checks a config the way a node's engine does before it
// serves it (xraycore.Check: Xray's builder, core creation without starting
// anything, log file directories) and Outpost's inbound rules, returning
// the canonical form to store. A config no node can run is refused here.
func ValidateCoreConfig(raw []byte) ([]byte, error) {
	// Wrapped, not flattened: an xraycore.InboundError (or xrayconf's)
	// tells the API which inbound is at fault.
	if err := xraycore.Check(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", model.ErrInvalid, err)
	}
	if _, err := parseCore(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", model.ErrInvalid, err)
	}
	canon, err := xrayconf.Canonical(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", model.ErrInvalid, err.Error())
	}
	return canon, nil
}

// SetCoreConfig validates and stores a new core config; nodes receive it in
// the next delta. An invalid config changes nothing.
func (s *State) SetCoreConfig(ctx context.Context, raw []byte) error {
	canon, err := ValidateCoreConfig(raw)
	if err != nil {
		return err
	}
	_, err = s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		old, _, err := tx.CoreConfig()
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return change.Change{}, err
		}
		if string(old) == string(canon) {
			return change.Change{}, nil
		}
		if err := tx.SetCoreConfig(canon, rev); err != nil {
			return change.Change{}, err
		}
		return change.ConfigReplaced(canon), auditCoreConfig(tx, old, canon)
	})
	return err
}

// changesKept is how many revisions of outbox the database keeps; nodes
// further behind get a snapshot.
const changesKept = 100000

// PruneChanges trims the outbox to the newest changesKept revisions.
func (s *State) PruneChanges(ctx context.Context) error {
	var rev int64
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		rev, err = tx.CurrentRevision()
		return err
	}); err != nil {
		return err
	}
	if rev <= changesKept {
		return nil
	}
	return s.store.PruneChanges(ctx, rev-changesKept)
}
