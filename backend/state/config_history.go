package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// The core config history: every config saved through the API, with who
// and when, the newest store.ConfigHistoryKept of them, in the database
// every replica shares.

// SetCoreConfigBy is SetCoreConfig that records the new config in the
// history, in the same transaction, as saved by admin. The first save
// also records the config it replaces (by "", as found), so there is
// always something to go back to. A config identical to the running one
// changes nothing and records nothing.
func (s *State) SetCoreConfigBy(ctx context.Context, admin string, raw []byte) error {
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
		now := s.now().UTC()
		if len(old) > 0 {
			empty, err := tx.ConfigHistoryEmpty()
			if err != nil {
				return change.Change{}, err
			}
			if empty {
				if _, err := tx.AddConfigVersion("", old, now); err != nil {
					return change.Change{}, err
				}
			}
		}
		if err := tx.SetCoreConfig(canon, rev); err != nil {
			return change.Change{}, err
		}
		if _, err := tx.AddConfigVersion(admin, canon, now); err != nil {
			return change.Change{}, err
		}
		return change.ConfigReplaced(canon), auditCoreConfig(tx, old, canon)
	})
	return err
}

// ConfigHistory lists the saved configs, newest first, without data.
func (s *State) ConfigHistory(ctx context.Context) ([]model.ConfigVersion, error) {
	var out []model.ConfigVersion
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.ConfigHistory()
		return err
	})
	return out, err
}

// ConfigVersion loads one saved config.
func (s *State) ConfigVersion(ctx context.Context, id int64) (*model.ConfigVersion, error) {
	var v *model.ConfigVersion
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		v, err = tx.ConfigVersionByID(id)
		return err
	})
	return v, err
}

// RestoreConfigVersion makes a saved config the running one again, checked
// as a new one is (Xray's builder may have grown stricter since), and
// records it as saved by admin now.
func (s *State) RestoreConfigVersion(ctx context.Context, admin string, id int64) error {
	v, err := s.ConfigVersion(ctx, id)
	if err != nil {
		return err
	}
	if err := s.SetCoreConfigBy(ctx, admin, v.Data); err != nil {
		return fmt.Errorf("restoring core config version %d: %w", id, err)
	}
	return nil
}
