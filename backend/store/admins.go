package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/outpost-panel/outpost/backend/model"
)

const adminColumns = `id, username, hashed_password, is_sudo, created_at, password_reset_at,
	telegram_id, discord_webhook, users_usage, max_users, max_data_limit, max_used_traffic, allow_unlimited`

func scanAdmin(row interface{ Scan(...any) error }, a *model.Admin) error {
	return row.Scan(&a.ID, &a.Username, &a.HashedPassword, &a.IsSudo, reqTime{&a.CreatedAt},
		optTime{&a.PasswordResetAt}, optInt64{&a.TelegramID}, optString{&a.DiscordWebhook}, &a.UsersUsage,
		optInt64{&a.MaxUsers}, optInt64{&a.MaxDataLimit}, optInt64{&a.MaxUsedTraffic}, optBool{&a.AllowUnlimited})
}

// optBool scans a nullable boolean (an integer on SQLite) into a *bool.
type optBool struct{ dst **bool }

func (o optBool) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*o.dst = nil
	case bool:
		*o.dst = &v
	case int64:
		b := v != 0
		*o.dst = &b
	default:
		return fmt.Errorf("scanning boolean: unexpected %T", src)
	}
	return nil
}

func boolOrNil(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// CreateAdmin inserts a, setting its ID (and CreatedAt when zero);
// ErrConflict when the username is taken.
func (tx *Tx) CreateAdmin(a *model.Admin) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = nowUTC()
	}
	err := tx.stmtSavepoint(func() error {
		return tx.queryRow(`INSERT INTO admins (username, hashed_password, is_sudo, created_at,
			password_reset_at, telegram_id, discord_webhook, users_usage,
			max_users, max_data_limit, max_used_traffic, allow_unlimited)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			a.Username, a.HashedPassword, a.IsSudo, a.CreatedAt.Unix(), unixOrNil(a.PasswordResetAt),
			int64OrNil(a.TelegramID), stringOrNil(a.DiscordWebhook), a.UsersUsage,
			int64OrNil(a.MaxUsers), int64OrNil(a.MaxDataLimit), int64OrNil(a.MaxUsedTraffic), boolOrNil(a.AllowUnlimited)).Scan(&a.ID)
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("creating admin %q: %w", a.Username, errConflict)
	}
	if err != nil {
		return fmt.Errorf("creating admin %q: %w", a.Username, err)
	}
	return nil
}

// AdminByUsername loads an admin by exact username.
func (tx *Tx) AdminByUsername(username string) (*model.Admin, error) {
	var a model.Admin
	err := scanAdmin(tx.queryRow(`SELECT `+adminColumns+` FROM admins WHERE username = $1`, username), &a)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("admin %q: %w", username, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading admin %q: %w", username, err)
	}
	return &a, nil
}

// AdminByID loads an admin by id.
func (tx *Tx) AdminByID(id int64) (*model.Admin, error) {
	var a model.Admin
	err := scanAdmin(tx.queryRow(`SELECT `+adminColumns+` FROM admins WHERE id = $1`, id), &a)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("admin %d: %w", id, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading admin %d: %w", id, err)
	}
	return &a, nil
}

// ListAdmins returns admins ordered by id; username, when not empty, filters
// by case-insensitive substring; limit <= 0 means no limit.
func (tx *Tx) ListAdmins(offset, limit int, username string) ([]model.Admin, error) {
	var a args
	q := `SELECT ` + adminColumns + ` FROM admins`
	if username != "" {
		q += ` WHERE lower(username) LIKE ` + a.add(likeContains(strings.ToLower(username))) + ` ESCAPE '\'`
	}
	q += ` ORDER BY id`
	q += limitOffset(&a, offset, limit)
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, fmt.Errorf("listing admins: %w", err)
	}
	defer rows.Close()
	var out []model.Admin
	for rows.Next() {
		var ad model.Admin
		if err := scanAdmin(rows, &ad); err != nil {
			return nil, fmt.Errorf("listing admins: %w", err)
		}
		out = append(out, ad)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing admins: %w", err)
	}
	return out, nil
}

// AdminChatTargets returns, by admin id, the Discord webhook and Telegram
// chat of every admin that has either: where the notifications about its
// users go. One query over the admins (a handful), no user is read.
func (tx *Tx) AdminChatTargets() (map[int64]model.Admin, error) {
	rows, err := tx.query(`SELECT id, telegram_id, discord_webhook FROM admins
		WHERE telegram_id IS NOT NULL OR discord_webhook IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("reading admins' notification targets: %w", err)
	}
	defer rows.Close()
	out := map[int64]model.Admin{}
	for rows.Next() {
		var (
			a       model.Admin
			tg      sql.NullInt64
			discord sql.NullString
		)
		if err := rows.Scan(&a.ID, &tg, &discord); err != nil {
			return nil, fmt.Errorf("reading admins' notification targets: %w", err)
		}
		if tg.Valid && tg.Int64 != 0 {
			a.TelegramID = &tg.Int64
		}
		if discord.Valid && discord.String != "" {
			a.DiscordWebhook = &discord.String
		}
		if a.TelegramID != nil || a.DiscordWebhook != nil {
			out[a.ID] = a
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading admins' notification targets: %w", err)
	}
	return out, nil
}

// UpdateAdmin writes every field of a but ID, CreatedAt and UsersUsage (the
// last is a counter that ApplyUsage adds to; see ResetAdminUsage).
func (tx *Tx) UpdateAdmin(a *model.Admin) error {
	err := tx.stmtSavepoint(func() error {
		return affectedOne(tx.exec(`UPDATE admins SET username = $1, hashed_password = $2, is_sudo = $3,
			password_reset_at = $4, telegram_id = $5, discord_webhook = $6,
			max_users = $7, max_data_limit = $8, max_used_traffic = $9, allow_unlimited = $10
		WHERE id = $11`,
			a.Username, a.HashedPassword, a.IsSudo, unixOrNil(a.PasswordResetAt), int64OrNil(a.TelegramID),
			stringOrNil(a.DiscordWebhook), int64OrNil(a.MaxUsers), int64OrNil(a.MaxDataLimit),
			int64OrNil(a.MaxUsedTraffic), boolOrNil(a.AllowUnlimited), a.ID))
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("updating admin %d: username %q: %w", a.ID, a.Username, errConflict)
	}
	if err != nil {
		return fmt.Errorf("updating admin %d: %w", a.ID, err)
	}
	return nil
}

// ResetAdminUsage sets an admin's users_usage counter to zero.
func (tx *Tx) ResetAdminUsage(id int64) error {
	if err := affectedOne(tx.exec(`UPDATE admins SET users_usage = 0 WHERE id = $1`, id)); err != nil {
		return fmt.Errorf("resetting usage of admin %d: %w", id, err)
	}
	return nil
}

// DeleteAdmin deletes an admin; its users keep existing without an owner.
//
// Their owner is a field of the user directories of all replicas
// (backend/directory), which find changed users by users.revision, so the
// delete takes a revision of its own and stamps the users with it. It
// takes it first, like state.change: a writer that took an earlier
// revision (say, giving this admin a user) has committed by then, and one
// that takes a later one finds the admin gone.
func (tx *Tx) DeleteAdmin(id int64) error {
	rev, err := tx.BumpRevision()
	if err != nil {
		return fmt.Errorf("deleting admin %d: %w", id, err)
	}
	// Clear the owner explicitly rather than through ON DELETE SET NULL, so
	// the trigger that copies admin_id into user_traffic sees the change on
	// both engines, and the revision is stamped.
	if _, err := tx.exec(`UPDATE users SET admin_id = NULL, revision = $1 WHERE admin_id = $2`, rev, id); err != nil {
		return fmt.Errorf("deleting admin %d: %w", id, err)
	}
	if err := affectedOne(tx.exec(`DELETE FROM admins WHERE id = $1`, id)); err != nil {
		return fmt.Errorf("deleting admin %d: %w", id, err)
	}
	return nil
}

// CountAdmins counts every admin.
func (tx *Tx) CountAdmins() (int, error) {
	var n int
	if err := tx.queryRow(`SELECT COUNT(*) FROM admins`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting admins: %w", err)
	}
	return n, nil
}

func limitOffset(a *args, offset, limit int) string {
	q := ""
	if limit > 0 {
		q += ` LIMIT ` + a.add(limit)
	} else if offset > 0 {
		// Both engines need a LIMIT before OFFSET; -1 / ALL spelled portably.
		q += ` LIMIT ` + a.add(int64(1<<62))
	}
	if offset > 0 {
		q += ` OFFSET ` + a.add(offset)
	}
	return q
}
