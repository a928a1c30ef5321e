package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// Device is one row of user_devices: a HWID that fetched a user's
// subscription. HWID "" is the "unknown device" (fetches without x-hwid).
type Device struct {
	ID         int64
	UserID     int64
	HWID       string
	Name       string
	OS         string
	OSVersion  string
	Model      string
	UserAgent  string
	FirstFetch time.Time
	LastFetch  time.Time
	FetchCount int64
	// Refused: the device came past the limit and was served the
	// placeholder; it holds no slot.
	Refused bool
	// UsedTraffic is what the device's identity moved while its user was
	// in the credentials-per-device mode, since the user's last usage
	// reset.
	UsedTraffic int64
}

// DeviceInfo is what a fetch tells about its device (already sanitised).
type DeviceInfo struct {
	OS, OSVersion, Model, UserAgent string
}

const deviceColumns = `id, user_id, hwid, name, os, os_version, model, user_agent, first_fetch_at, last_fetch_at, fetch_count, refused, used_traffic`

func scanDevice(row interface{ Scan(...any) error }) (*Device, error) {
	var (
		d           Device
		first, last int64
		refused     int64
	)
	if err := row.Scan(&d.ID, &d.UserID, &d.HWID, &d.Name, &d.OS, &d.OSVersion, &d.Model, &d.UserAgent,
		&first, &last, &d.FetchCount, &refused, &d.UsedTraffic); err != nil {
		return nil, err
	}
	d.FirstFetch, d.LastFetch, d.Refused = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC(), refused != 0
	return &d, nil
}

// Devices lists a user's devices, accepted ones first, each group by first
// fetch. A user has at most MaxDevices accepted and a few refused rows.
func (tx *Tx) Devices(userID int64) ([]Device, error) {
	rows, err := tx.query(`SELECT `+deviceColumns+` FROM user_devices WHERE user_id = $1
		ORDER BY refused, first_fetch_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("listing devices of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("listing devices of user %d: %w", userID, err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// DeviceByHWID finds a user's device by its HWID; ErrNotFound when none.
func (tx *Tx) DeviceByHWID(userID int64, hwid string) (*Device, error) {
	d, err := scanDevice(tx.queryRow(`SELECT `+deviceColumns+` FROM user_devices WHERE user_id = $1 AND hwid = $2`, userID, hwid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("device of user %d: %w", userID, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading device of user %d: %w", userID, err)
	}
	return d, nil
}

// LockUserDevices serialises device registrations of one user: on
// PostgreSQL it locks the user's row until the transaction ends (SQLite's
// write transactions are serial already). ErrNotFound for a deleted user.
func (tx *Tx) LockUserDevices(userID int64) error {
	q := `SELECT id FROM users WHERE id = $1`
	if tx.postgres() {
		q += ` FOR UPDATE`
	}
	var id int64
	err := tx.queryRow(q, userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %d: %w", userID, errNotFound)
	}
	return err
}

// CountDevices counts a user's accepted devices (those holding a slot).
func (tx *Tx) CountDevices(userID int64) (int64, error) {
	var n int64
	err := tx.queryRow(`SELECT COUNT(*) FROM user_devices WHERE user_id = $1 AND refused = 0`, userID).Scan(&n)
	return n, err
}

// CountRefusedDevices counts a user's refused devices.
func (tx *Tx) CountRefusedDevices(userID int64) (int64, error) {
	var n int64
	err := tx.queryRow(`SELECT COUNT(*) FROM user_devices WHERE user_id = $1 AND refused = 1`, userID).Scan(&n)
	return n, err
}

// DropOldestRefusedDevice deletes the refused device of userID seen least
// recently, to keep the refused rows of a user bounded.
func (tx *Tx) DropOldestRefusedDevice(userID int64) error {
	_, err := tx.exec(`DELETE FROM user_devices WHERE id = (SELECT id FROM user_devices
		WHERE user_id = $1 AND refused = 1 ORDER BY last_fetch_at, id LIMIT 1)`, userID)
	return err
}

// InsertDevice adds a device with one fetch at at and sets d.ID.
func (tx *Tx) InsertDevice(d *Device) error {
	refused := 0
	if d.Refused {
		refused = 1
	}
	err := tx.queryRow(`INSERT INTO user_devices (user_id, hwid, name, os, os_version, model, user_agent,
		first_fetch_at, last_fetch_at, fetch_count, refused) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1, $9) RETURNING id`,
		d.UserID, d.HWID, d.Name, d.OS, d.OSVersion, d.Model, d.UserAgent, d.FirstFetch.Unix(), refused).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("registering a device of user %d: %w", d.UserID, err)
	}
	if d.Refused {
		return nil
	}
	return tx.syncDeviceIDs(d.UserID)
}

// SetDeviceRefused moves a device of userID in or out of the limit and
// counts one fetch of it at at.
func (tx *Tx) SetDeviceRefused(userID, id int64, refused bool, info DeviceInfo, at time.Time) error {
	r := 0
	if refused {
		r = 1
	}
	if err := affectedOne(tx.exec(`UPDATE user_devices SET refused = $1, last_fetch_at = $2, fetch_count = fetch_count + 1,
		os = $3, os_version = $4, model = $5, user_agent = $6 WHERE id = $7 AND user_id = $8`,
		r, at.Unix(), info.OS, info.OSVersion, info.Model, info.UserAgent, id, userID)); err != nil {
		return err
	}
	return tx.syncDeviceIDs(userID)
}

// DeviceFetch is the latest fetch of a device and how many fetches it
// stands for since the last write.
type DeviceFetch struct {
	DeviceID int64
	At       time.Time
	Count    int64
	Info     DeviceInfo
}

// TouchDevices records batched fetches of known devices. Fetches of
// devices removed meanwhile change nothing.
func (tx *Tx) TouchDevices(fetches []DeviceFetch) error {
	if len(fetches) == 0 {
		return nil
	}
	stmt, err := tx.tx.PrepareContext(tx.ctx, `UPDATE user_devices SET last_fetch_at = CASE WHEN last_fetch_at > $1 THEN last_fetch_at ELSE $1 END,
		fetch_count = fetch_count + $2, os = $3, os_version = $4, model = $5, user_agent = $6 WHERE id = $7`)
	if err != nil {
		return fmt.Errorf("recording %d device fetches: %w", len(fetches), err)
	}
	defer stmt.Close()
	for _, f := range fetches {
		if _, err := stmt.ExecContext(tx.ctx, f.At.Unix(), f.Count, f.Info.OS, f.Info.OSVersion, f.Info.Model,
			f.Info.UserAgent, f.DeviceID); err != nil {
			return fmt.Errorf("recording fetches of device %d: %w", f.DeviceID, err)
		}
	}
	return nil
}

// RenameDevice names a device of userID; ErrNotFound when it has no such device.
func (tx *Tx) RenameDevice(userID, id int64, name string) error {
	err := affectedOne(tx.exec(`UPDATE user_devices SET name = $1 WHERE id = $2 AND user_id = $3`, name, id, userID))
	if err != nil {
		return fmt.Errorf("renaming device %d: %w", id, err)
	}
	return nil
}

// DeleteDevice removes a device of userID, freeing its slot; ErrNotFound
// when it has no such device.
func (tx *Tx) DeleteDevice(userID, id int64) error {
	err := affectedOne(tx.exec(`DELETE FROM user_devices WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return fmt.Errorf("removing device %d: %w", id, err)
	}
	return tx.syncDeviceIDs(userID)
}

// syncDeviceIDs rewrites users.device_ids from the user's admitted
// devices: every change of the set calls it in its own transaction, so a
// user loaded for nodes carries its devices without another query.
func (tx *Tx) syncDeviceIDs(userID int64) error {
	ids, err := tx.queryIDs(`SELECT id FROM user_devices WHERE user_id = $1 AND refused = 0 ORDER BY id`, userID)
	if err != nil {
		return fmt.Errorf("listing device ids of user %d: %w", userID, err)
	}
	if _, err := tx.exec(`UPDATE users SET device_ids = $1 WHERE id = $2`, formatDeviceIDs(ids), userID); err != nil {
		return fmt.Errorf("storing device ids of user %d: %w", userID, err)
	}
	return nil
}

// formatDeviceIDs is users.device_ids of ids (ascending).
func formatDeviceIDs(ids []int64) string {
	var b []byte
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(b)
}

// parseDeviceIDs reads users.device_ids, ascending whatever order the
// migration's aggregate wrote.
func parseDeviceIDs(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	out := make([]int64, 0, strings.Count(s, ",")+1)
	for f := range strings.SplitSeq(s, ",") {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return out, nil
}

// intBool stores a boolean in an INTEGER column (both engines).
func intBool(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// intBoolOrNil stores a nullable boolean in an INTEGER column.
func intBoolOrNil(b *bool) any {
	if b == nil {
		return nil
	}
	return intBool(*b)
}

// LockUserDevicesMode is LockUserDevices that also says whether the user
// is in the credentials-per-device mode, read under the lock.
func (tx *Tx) LockUserDevicesMode(userID int64) (perDevice bool, err error) {
	q := `SELECT per_device FROM users WHERE id = $1`
	if tx.postgres() {
		q += ` FOR UPDATE`
	}
	var on int64
	err = tx.queryRow(q, userID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("user %d: %w", userID, errNotFound)
	}
	return on != 0, err
}

// SetUserRevision stamps a user with the revision of a change to it that
// the users row does not otherwise show (its device set), so read models
// that follow revisions reload it.
func (tx *Tx) SetUserRevision(userID, rev int64) error {
	return affectedOne(tx.exec(`UPDATE users SET revision = $1 WHERE id = $2`, rev, userID))
}

// SetPerDeviceDefault applies a new global default of the credentials-
// per-device mode to the users that follow it (per_device_credentials
// NULL) and whose effective mode differs, stamping them with rev. It
// returns how many users changed.
func (tx *Tx) SetPerDeviceDefault(on bool, rev int64) (int64, error) {
	res, err := tx.exec(`UPDATE users SET per_device = $1, revision = $2
		WHERE per_device_credentials IS NULL AND per_device <> $1`, intBool(on), rev)
	if err != nil {
		return 0, fmt.Errorf("applying the per-device default: %w", err)
	}
	return res.RowsAffected()
}

// EachUserOnNodesAtRevision calls fn, in id order, for every user on
// nodes (active, on_hold) stamped with rev: the users one change touched
// in bulk (a flip of the per-device default). fn must not use tx.
func (tx *Tx) EachUserOnNodesAtRevision(rev int64, fn func(*model.User) error) error {
	users, err := tx.collectUsers(`SELECT `+userColumns+userFrom+
		` WHERE u.revision = $1 AND u.status IN ($2, $3) ORDER BY u.id`,
		rev, string(model.StatusActive), string(model.StatusOnHold))
	if err != nil {
		return fmt.Errorf("reading the users of revision %d: %w", rev, err)
	}
	for i := range users {
		if err := fn(&users[i]); err != nil {
			return err
		}
	}
	return nil
}
