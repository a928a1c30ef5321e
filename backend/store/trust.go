package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// Storage of the account-security rows (migration 0010): TOTP, recovery
// codes, API keys and sign-in sessions.

// TOTP loads the admin's second-factor row; ErrNotFound when it has none.
func (tx *Tx) TOTP(adminID int64) (*model.TOTPState, error) {
	t := model.TOTPState{AdminID: adminID}
	err := tx.queryRow(`SELECT secret, confirmed, last_step FROM admin_totp WHERE admin_id = $1`, adminID).
		Scan(&t.Secret, &t.Confirmed, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("totp of admin %d: %w", adminID, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading totp of admin %d: %w", adminID, err)
	}
	return &t, nil
}

// PutTOTP replaces the admin's second-factor row with an unconfirmed one
// holding secret, and forgets its recovery codes.
func (tx *Tx) PutTOTP(adminID int64, secret string, now time.Time) error {
	if err := tx.DeleteTOTP(adminID); err != nil {
		return err
	}
	_, err := tx.exec(`INSERT INTO admin_totp (admin_id, secret, confirmed, last_step, created_at) VALUES ($1, $2, $3, 0, $4)`,
		adminID, secret, false, now.Unix())
	if err != nil {
		return fmt.Errorf("storing totp of admin %d: %w", adminID, err)
	}
	return nil
}

// ConfirmTOTP marks the row confirmed, records step as used and stores the
// recovery code hashes.
func (tx *Tx) ConfirmTOTP(adminID, step int64, codeHashes []string) error {
	if err := affectedOne(tx.exec(`UPDATE admin_totp SET confirmed = $1, last_step = $2 WHERE admin_id = $3`, true, step, adminID)); err != nil {
		return fmt.Errorf("confirming totp of admin %d: %w", adminID, err)
	}
	if _, err := tx.exec(`DELETE FROM admin_recovery_codes WHERE admin_id = $1`, adminID); err != nil {
		return err
	}
	for _, h := range codeHashes {
		if _, err := tx.exec(`INSERT INTO admin_recovery_codes (admin_id, code_hash) VALUES ($1, $2)`, adminID, h); err != nil {
			return fmt.Errorf("storing recovery codes of admin %d: %w", adminID, err)
		}
	}
	return nil
}

// UseTOTPStep records step as the newest one used, and reports false when
// it (or a later one) was used already: compare-and-set, so two replicas
// cannot both accept one code.
func (tx *Tx) UseTOTPStep(adminID, step int64) (bool, error) {
	res, err := tx.exec(`UPDATE admin_totp SET last_step = $1 WHERE admin_id = $2 AND last_step < $1`, step, adminID)
	if err != nil {
		return false, fmt.Errorf("recording totp step of admin %d: %w", adminID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UseRecoveryCode deletes the code and reports whether it was there.
func (tx *Tx) UseRecoveryCode(adminID int64, codeHash string) (bool, error) {
	res, err := tx.exec(`DELETE FROM admin_recovery_codes WHERE admin_id = $1 AND code_hash = $2`, adminID, codeHash)
	if err != nil {
		return false, fmt.Errorf("using recovery code of admin %d: %w", adminID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecoveryCodesLeft counts the admin's unused recovery codes.
func (tx *Tx) RecoveryCodesLeft(adminID int64) (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM admin_recovery_codes WHERE admin_id = $1`, adminID).Scan(&n)
	return n, err
}

// DeleteTOTP removes the admin's second factor and recovery codes.
func (tx *Tx) DeleteTOTP(adminID int64) error {
	if _, err := tx.exec(`DELETE FROM admin_recovery_codes WHERE admin_id = $1`, adminID); err != nil {
		return fmt.Errorf("deleting recovery codes of admin %d: %w", adminID, err)
	}
	if _, err := tx.exec(`DELETE FROM admin_totp WHERE admin_id = $1`, adminID); err != nil {
		return fmt.Errorf("deleting totp of admin %d: %w", adminID, err)
	}
	return nil
}

const apiKeyColumns = `id, admin_id, name, prefix, key_hash, scopes, created_at, expires_at, last_used_at, last_used_ip`

func scanAPIKey(row interface{ Scan(...any) error }, k *model.APIKey) error {
	var scopes string
	if err := row.Scan(&k.ID, &k.AdminID, &k.Name, &k.Prefix, &k.KeyHash, &scopes, reqTime{&k.CreatedAt},
		optTime{&k.ExpiresAt}, optTime{&k.LastUsedAt}, optString{&k.LastUsedIP}); err != nil {
		return err
	}
	k.Scopes = strings.Split(scopes, ",")
	return nil
}

// CountAPIKeys counts the admin's keys.
func (tx *Tx) CountAPIKeys(adminID int64) (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM api_keys WHERE admin_id = $1`, adminID).Scan(&n)
	return n, err
}

// CreateAPIKey inserts k, setting its ID.
func (tx *Tx) CreateAPIKey(k *model.APIKey) error {
	err := tx.queryRow(`INSERT INTO api_keys (admin_id, name, prefix, key_hash, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		k.AdminID, k.Name, k.Prefix, k.KeyHash, strings.Join(k.Scopes, ","), k.CreatedAt.Unix(), unixOrNil(k.ExpiresAt)).Scan(&k.ID)
	if err != nil {
		return fmt.Errorf("creating api key %q: %w", k.Name, err)
	}
	return nil
}

// APIKeys lists the admin's keys, oldest first.
func (tx *Tx) APIKeys(adminID int64) ([]model.APIKey, error) {
	rows, err := tx.query(`SELECT `+apiKeyColumns+` FROM api_keys WHERE admin_id = $1 ORDER BY id`, adminID)
	if err != nil {
		return nil, fmt.Errorf("listing api keys: %w", err)
	}
	defer rows.Close()
	out := []model.APIKey{}
	for rows.Next() {
		var k model.APIKey
		if err := scanAPIKey(rows, &k); err != nil {
			return nil, fmt.Errorf("listing api keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// APIKeyByHash loads a key and its owner in one query; ErrNotFound when no
// key has that hash (a deleted owner's keys went with it).
func (tx *Tx) APIKeyByHash(hash string) (*model.APIKey, *model.Admin, error) {
	var k model.APIKey
	var a model.Admin
	row := tx.queryRow(`SELECT k.id, k.admin_id, k.name, k.prefix, k.key_hash, k.scopes, k.created_at, k.expires_at,
			k.last_used_at, k.last_used_ip,
			a.id, a.username, a.hashed_password, a.is_sudo, a.created_at, a.password_reset_at,
			a.telegram_id, a.discord_webhook, a.users_usage
		FROM api_keys k JOIN admins a ON a.id = k.admin_id WHERE k.key_hash = $1`, hash)
	var scopes string
	err := row.Scan(&k.ID, &k.AdminID, &k.Name, &k.Prefix, &k.KeyHash, &scopes, reqTime{&k.CreatedAt},
		optTime{&k.ExpiresAt}, optTime{&k.LastUsedAt}, optString{&k.LastUsedIP},
		&a.ID, &a.Username, &a.HashedPassword, &a.IsSudo, reqTime{&a.CreatedAt},
		optTime{&a.PasswordResetAt}, optInt64{&a.TelegramID}, optString{&a.DiscordWebhook}, &a.UsersUsage)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("api key: %w", errNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("loading api key: %w", err)
	}
	k.Scopes = strings.Split(scopes, ",")
	return &k, &a, nil
}

// DeleteAPIKey removes the admin's key id and returns it as it was;
// ErrNotFound when it has none.
func (tx *Tx) DeleteAPIKey(adminID, id int64) (*model.APIKey, error) {
	var k model.APIKey
	err := scanAPIKey(tx.queryRow(`DELETE FROM api_keys WHERE id = $1 AND admin_id = $2 RETURNING `+apiKeyColumns, id, adminID), &k)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("deleting api key %d: %w", id, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("deleting api key %d: %w", id, err)
	}
	return &k, nil
}

// KeyUse is one key's newest use, written behind by the API.
type KeyUse struct {
	At time.Time
	IP string
}

// TouchAPIKeys records the newest use of each key in one statement per key
// of a batch; a key deleted meanwhile is skipped.
func (tx *Tx) TouchAPIKeys(uses map[int64]KeyUse) error {
	for id, u := range uses {
		if _, err := tx.exec(`UPDATE api_keys SET last_used_at = $1, last_used_ip = $2 WHERE id = $3`, u.At.Unix(), u.IP, id); err != nil {
			return fmt.Errorf("recording use of api key %d: %w", id, err)
		}
	}
	return nil
}

const sessionColumns = `id, admin_id, username, created_at, expires_at, address, user_agent`

func scanSession(row interface{ Scan(...any) error }, s *model.AdminSession) error {
	return row.Scan(&s.ID, &s.AdminID, &s.Username, reqTime{&s.CreatedAt}, reqTime{&s.ExpiresAt}, &s.Address, &s.UserAgent)
}

// CreateSession inserts s, setting its ID, and prunes the admin's expired
// sessions.
func (tx *Tx) CreateSession(s *model.AdminSession) error {
	if _, err := tx.exec(`DELETE FROM admin_sessions WHERE admin_id = $1 AND username = $2 AND expires_at < $3`,
		s.AdminID, s.Username, s.CreatedAt.Unix()); err != nil {
		return fmt.Errorf("pruning sessions: %w", err)
	}
	err := tx.queryRow(`INSERT INTO admin_sessions (admin_id, username, created_at, expires_at, address, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		s.AdminID, s.Username, s.CreatedAt.Unix(), s.ExpiresAt.Unix(), s.Address, s.UserAgent).Scan(&s.ID)
	if err != nil {
		return fmt.Errorf("creating session: %w", err)
	}
	return nil
}

// Sessions lists the admin's sessions that have not expired at now, newest
// first.
func (tx *Tx) Sessions(adminID int64, username string, now time.Time) ([]model.AdminSession, error) {
	rows, err := tx.query(`SELECT `+sessionColumns+` FROM admin_sessions
		WHERE admin_id = $1 AND username = $2 AND expires_at >= $3 ORDER BY id DESC`, adminID, username, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	defer rows.Close()
	out := []model.AdminSession{}
	for rows.Next() {
		var s model.AdminSession
		if err := scanSession(rows, &s); err != nil {
			return nil, fmt.Errorf("listing sessions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SessionLive reports whether session id exists.
func (tx *Tx) SessionLive(id int64) (bool, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM admin_sessions WHERE id = $1`, id).Scan(&n)
	return n == 1, err
}

// DeleteSession ends one of the admin's sessions and returns it as it
// was; ErrNotFound when it has no such session.
func (tx *Tx) DeleteSession(adminID int64, username string, id int64) (*model.AdminSession, error) {
	var s model.AdminSession
	err := scanSession(tx.queryRow(`DELETE FROM admin_sessions WHERE id = $1 AND admin_id = $2 AND username = $3 RETURNING `+sessionColumns, id, adminID, username), &s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ending session %d: %w", id, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ending session %d: %w", id, err)
	}
	return &s, nil
}

// DeleteSessionsExcept ends every session of the admin but keep (0: all)
// and returns the ids it ended.
func (tx *Tx) DeleteSessionsExcept(adminID int64, username string, keep int64) ([]int64, error) {
	rows, err := tx.query(`DELETE FROM admin_sessions WHERE admin_id = $1 AND username = $2 AND id <> $3 RETURNING id`, adminID, username, keep)
	if err != nil {
		return nil, fmt.Errorf("ending sessions: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
