package state

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// Settings keys.
const (
	settingJWTSecret = "jwt_secret"
	settingSubSecret = "subscription_secret"
)

// Secrets are generated once and kept in the database, so every replica
// signs and checks with the same keys.
type Secrets struct {
	JWT          []byte
	Subscription string
}

// BootstrapResult says what Bootstrap created.
type BootstrapResult struct {
	Secrets Secrets
	// CreatedAdmin is set (with its generated password) when the database had
	// no admin and no env sudo was configured.
	CreatedAdmin    string
	CreatedPassword string
}

// Bootstrap makes a fresh database usable: secrets, the default core config,
// and a first sudo admin when there is none and no env sudo is configured.
func (s *State) Bootstrap(ctx context.Context, envSudo bool) (BootstrapResult, error) {
	var res BootstrapResult
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		jwt, err := tx.InitSetting(settingJWTSecret, randomHex(32))
		if err != nil {
			return err
		}
		sub, err := tx.InitSetting(settingSubSecret, randomHex(16))
		if err != nil {
			return err
		}
		res.Secrets = Secrets{JWT: []byte(jwt), Subscription: sub}
		if envSudo {
			return nil
		}
		n, err := tx.CountAdmins()
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		pw := randomPassword()
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		if err := tx.CreateAdmin(&model.Admin{Username: "admin", IsSudo: true, HashedPassword: string(hash), CreatedAt: s.now().UTC()}); errors.Is(err, model.ErrConflict) {
			return nil // another replica created it first
		} else if err != nil {
			return err
		}
		res.CreatedAdmin, res.CreatedPassword = "admin", pw
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("bootstrapping database: %w", err)
	}
	// The default core config is a node-visible change like any other.
	_, err = s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		if _, _, err := tx.CoreConfig(); err == nil {
			return change.Change{}, nil
		} else if !errors.Is(err, model.ErrNotFound) {
			return change.Change{}, err
		}
		canon, err := xrayconf.Canonical(xrayconf.DefaultConfig())
		if err != nil {
			return change.Change{}, err
		}
		if err := tx.SetCoreConfig(canon, rev); err != nil {
			return change.Change{}, err
		}
		return change.ConfigReplaced(canon), nil
	})
	if err != nil {
		return res, fmt.Errorf("installing default core config: %w", err)
	}
	return res, nil
}

// AdminByUsername loads an admin.
func (s *State) AdminByUsername(ctx context.Context, username string) (*model.Admin, error) {
	var a *model.Admin
	// Every authenticated request asks: one statement (ReadOne).
	err := s.store.ReadOne(ctx, func(tx *store.Tx) error {
		var err error
		a, err = tx.AdminByUsername(username)
		return err
	})
	return a, err
}

// CheckPassword verifies an admin's password; a missing admin and a wrong
// password are the same error so usernames cannot be probed.
func (s *State) CheckPassword(ctx context.Context, username, password string) (*model.Admin, error) {
	var a *model.Admin
	var err error
	if model.CheckText("username", username) != nil {
		// No admin has such a name, and PostgreSQL cannot even compare it
		// (NUL): a failed login like any unknown name, not a 500.
		err = model.ErrNotFound
	} else {
		a, err = s.AdminByUsername(ctx, username)
	}
	if errors.Is(err, model.ErrNotFound) {
		// Spend the same time as a real comparison.
		_ = bcrypt.CompareHashAndPassword([]byte("$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z6K4gTnnIX2lyn1vC1RW2PvO"), []byte(password))
		return nil, model.ErrUnauthorized
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(a.HashedPassword), []byte(password)) != nil {
		return nil, model.ErrUnauthorized
	}
	return a, nil
}
