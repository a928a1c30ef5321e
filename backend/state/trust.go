package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Account security: the second factor, API keys and sign-in sessions
// (issue 13). The API holds the logic (codes, key material, caches); these
// are its reads and writes, each one transaction.

// KeyUse is an API key's newest use (time and client address).
type KeyUse = store.KeyUse

// TOTP is the admin's second-factor row and how many recovery codes it has
// left; ErrNotFound when it never enrolled.
func (s *State) TOTP(ctx context.Context, adminID int64) (*model.TOTPState, int, error) {
	var t *model.TOTPState
	var left int
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = tx.TOTP(adminID); err != nil {
			return err
		}
		left, err = tx.RecoveryCodesLeft(adminID)
		return err
	})
	return t, left, err
}

// StartTOTP stores a new unconfirmed secret (sealed by the caller). An
// admin whose second factor is on must turn it off first: ErrConflict.
func (s *State) StartTOTP(ctx context.Context, adminID int64, sealed string) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.TOTP(adminID)
		if err == nil && t.Confirmed {
			return fmt.Errorf("two-factor sign-in is already on: %w", model.ErrConflict)
		}
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return err
		}
		before, err := loadTOTPAudit(tx, adminID)
		if err != nil {
			return err
		}
		if err := tx.PutTOTP(adminID, sealed, s.now()); err != nil {
			return err
		}
		return auditTOTP(tx, "admin.totp_enroll", adminID, before)
	})
}

// ConfirmTOTP turns the second factor on with the step of the code that
// confirmed it and the recovery codes' hashes; ErrConflict when it was on
// already, ErrNotFound when no enrolment was started.
func (s *State) ConfirmTOTP(ctx context.Context, adminID, step int64, codeHashes []string) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.TOTP(adminID)
		if err != nil {
			return err
		}
		if t.Confirmed {
			return fmt.Errorf("two-factor sign-in is already on: %w", model.ErrConflict)
		}
		before, err := loadTOTPAudit(tx, adminID)
		if err != nil {
			return err
		}
		if err := tx.ConfirmTOTP(adminID, step, codeHashes); err != nil {
			return err
		}
		return auditTOTP(tx, "admin.totp_confirm", adminID, before)
	})
}

// UseTOTPStep records a code's time step as used; false when that step (or
// a later one) was used before.
func (s *State) UseTOTPStep(ctx context.Context, adminID, step int64) (bool, error) {
	var ok bool
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		tx.Bookkeeping() // a spent step is no change anybody made
		ok, err = tx.UseTOTPStep(adminID, step)
		return err
	})
	return ok, err
}

// UseRecoveryCode spends one recovery code (by hash); false when the admin
// has no such unused code.
func (s *State) UseRecoveryCode(ctx context.Context, adminID int64, codeHash string) (bool, error) {
	var ok bool
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		tx.Bookkeeping()
		ok, err = tx.UseRecoveryCode(adminID, codeHash)
		return err
	})
	return ok, err
}

// DisableTOTP removes the admin's second factor and recovery codes.
func (s *State) DisableTOTP(ctx context.Context, adminID int64) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		before, err := loadTOTPAudit(tx, adminID)
		if err != nil {
			return err
		}
		if err := tx.DeleteTOTP(adminID); err != nil {
			return err
		}
		return auditTOTP(tx, "admin.totp_disable", adminID, before)
	})
}

// ResetTOTP is a sudo admin (actor; nil for the CLI) removing another
// admin's second factor, for one who lost the device and the codes.
// Another sudo's account is refused as for every account change through
// the API (mayManage); the CLI may.
func (s *State) ResetTOTP(ctx context.Context, actor *model.Admin, username string) (*model.Admin, error) {
	var a *model.Admin
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if a, err = tx.AdminByUsername(username); err != nil {
			return err
		}
		if err := mayManage(actor, a); err != nil {
			return err
		}
		before, err := loadTOTPAudit(tx, a.ID)
		if err != nil {
			return err
		}
		if err := tx.DeleteTOTP(a.ID); err != nil {
			return err
		}
		return auditTOTP(tx, "admin.totp_reset", a.ID, before)
	})
	if err != nil {
		return nil, fmt.Errorf("resetting two-factor sign-in of %q: %w", username, err)
	}
	return a, nil
}

// CreateAPIKey stores a key (its hash) for its owner, refusing past
// model.MaxAPIKeysPerAdmin keys (ErrConflict).
func (s *State) CreateAPIKey(ctx context.Context, k *model.APIKey) error {
	if err := model.CheckText("name", k.Name); err != nil {
		return err
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.CountAPIKeys(k.AdminID)
		if err != nil {
			return err
		}
		if n >= model.MaxAPIKeysPerAdmin {
			return fmt.Errorf("%w: an admin has at most %d API keys; revoke one first", model.ErrInvalid, model.MaxAPIKeysPerAdmin)
		}
		if err := tx.CreateAPIKey(k); err != nil {
			return err
		}
		return auditRow(tx, "apikey.create", keyTarget(k.ID), k.AdminID, nil, keyAudit(k))
	})
}

// APIKeys lists the admin's keys.
func (s *State) APIKeys(ctx context.Context, adminID int64) ([]model.APIKey, error) {
	var out []model.APIKey
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.APIKeys(adminID)
		return err
	})
	return out, err
}

// APIKeyByHash loads a key and its owner; ErrNotFound when there is none.
func (s *State) APIKeyByHash(ctx context.Context, hash string) (*model.APIKey, *model.Admin, error) {
	var k *model.APIKey
	var a *model.Admin
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		k, a, err = tx.APIKeyByHash(hash)
		return err
	})
	return k, a, err
}

// DeleteAPIKey revokes the admin's key id.
func (s *State) DeleteAPIKey(ctx context.Context, adminID, id int64) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		k, err := tx.DeleteAPIKey(adminID, id)
		if err != nil {
			return err
		}
		return auditRow(tx, "apikey.delete", keyTarget(id), adminID, keyAudit(k), nil)
	})
}

// TouchAPIKeys records a batch of key uses in one transaction.
func (s *State) TouchAPIKeys(ctx context.Context, uses map[int64]KeyUse) error {
	if len(uses) == 0 {
		return nil
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error { return tx.TouchAPIKeys(uses) })
}

// CreateSession records a sign-in.
func (s *State) CreateSession(ctx context.Context, sess *model.AdminSession) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error { return tx.CreateSession(sess) })
}

// Sessions lists the admin's live sessions, newest first.
func (s *State) Sessions(ctx context.Context, admin *model.Admin) ([]model.AdminSession, error) {
	var out []model.AdminSession
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.Sessions(admin.ID, admin.Username, s.now())
		return err
	})
	return out, err
}

// SessionLive reports whether a session has not been ended.
func (s *State) SessionLive(ctx context.Context, id int64) (bool, error) {
	var ok bool
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		ok, err = tx.SessionLive(id)
		return err
	})
	return ok, err
}

// EndSession ends one of the admin's sessions; ErrNotFound when it has no
// such session.
func (s *State) EndSession(ctx context.Context, admin *model.Admin, id int64) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		sess, err := tx.DeleteSession(admin.ID, admin.Username, id)
		if err != nil {
			return err
		}
		return auditRow(tx, "admin.session_end", fmt.Sprintf("/api/admin/sessions/%d", id), admin.ID, sessionAudit(sess), nil)
	})
}

// ChangeOwnPassword is an admin changing its own password: the current one
// must match; every token issued before is refused from now on
// (password_reset_at), and every session but keep is ended. The caller
// issues a new token for keep. It returns the ended sessions' ids.
func (s *State) ChangeOwnPassword(ctx context.Context, admin *model.Admin, current, next string, keep int64) (*model.Admin, []int64, error) {
	if admin.ID == 0 {
		return nil, nil, fmt.Errorf("%w: the env sudo's password is set in the environment (SUDO_PASSWORD)", model.ErrForbidden)
	}
	if err := validatePassword(next); err != nil {
		return nil, nil, err
	}
	var a *model.Admin
	var ended []int64
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if a, err = tx.AdminByID(admin.ID); err != nil {
			return err
		}
		if bcrypt.CompareHashAndPassword([]byte(a.HashedPassword), []byte(current)) != nil {
			return fmt.Errorf("%w: current_password: does not match", model.ErrInvalid)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(next), bcrypt.DefaultCost)
		if err != nil {
			return fmt.Errorf("hashing password: %w", err)
		}
		now := s.now().UTC().Truncate(time.Second)
		before := adminAudit(a, false)
		a.HashedPassword, a.PasswordResetAt = string(hash), &now
		if err := tx.UpdateAdmin(a); err != nil {
			return err
		}
		if ended, err = tx.DeleteSessionsExcept(a.ID, a.Username, keep); err != nil {
			return err
		}
		after := adminAudit(a, false)
		after["sessions_ended"] = len(ended)
		return auditRow(tx, "admin.password", adminTarget(a.Username), a.ID, before, after)
	})
	if err != nil {
		return nil, nil, err
	}
	return a, ended, nil
}

// EndAllSessions ends every sign-in session of the admin (the console's
// "admin end-sessions"): each token tied to one is refused from the next
// request on (within the API's two-second session cache). It returns the
// ended sessions' ids.
func (s *State) EndAllSessions(ctx context.Context, admin *model.Admin) ([]int64, error) {
	var ended []int64
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		// Session ids start at 1: keeping id 0 keeps none.
		ended, err = tx.DeleteSessionsExcept(admin.ID, admin.Username, 0)
		return err
	})
	return ended, err
}
