package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// UserTemplate is Marzban's user template: defaults an admin applies when
// creating a user. Inbounds is protocol -> inbound tags.
type UserTemplate struct {
	ID             int64
	Name           string
	DataLimit      int64
	ExpireDuration int64
	UsernamePrefix *string
	UsernameSuffix *string
	Inbounds       map[string][]string
	// HWIDDeviceLimit is given to users created from the template: nil
	// leaves them on the global default, 0 is unlimited.
	HWIDDeviceLimit *int64
	// IPLimit is given to users made from the template: nil leaves them on
	// the global default, 0 is unlimited.
	IPLimit *int64
	// PerDeviceCredentials is given to users made from the template: nil
	// leaves them on the global default.
	PerDeviceCredentials *bool
}

const templateColumns = `id, name, data_limit, expire_duration, username_prefix, username_suffix, inbounds, hwid_device_limit, ip_limit, per_device_credentials`

func scanTemplate(row interface{ Scan(...any) error }) (*UserTemplate, error) {
	var (
		t        UserTemplate
		pre, suf sql.NullString
		inbounds string
	)
	if err := row.Scan(&t.ID, &t.Name, &t.DataLimit, &t.ExpireDuration, &pre, &suf, &inbounds, optInt64{&t.HWIDDeviceLimit}, optInt64{&t.IPLimit}, optBool{&t.PerDeviceCredentials}); err != nil {
		return nil, err
	}
	if pre.Valid {
		t.UsernamePrefix = &pre.String
	}
	if suf.Valid {
		t.UsernameSuffix = &suf.String
	}
	t.Inbounds = map[string][]string{}
	if err := json.Unmarshal([]byte(inbounds), &t.Inbounds); err != nil {
		return nil, fmt.Errorf("decoding inbounds of template %d: %w", t.ID, err)
	}
	return &t, nil
}

func templateInbounds(t *UserTemplate) (string, error) {
	in := t.Inbounds
	if in == nil {
		in = map[string][]string{}
	}
	data, err := json.Marshal(in)
	return string(data), err
}

// CreateTemplate inserts t and sets its ID; a taken name is ErrConflict.
func (tx *Tx) CreateTemplate(t *UserTemplate) error {
	inbounds, err := templateInbounds(t)
	if err != nil {
		return fmt.Errorf("encoding template inbounds: %w", err)
	}
	err = tx.stmtSavepoint(func() error {
		return tx.queryRow(`INSERT INTO user_templates (name, data_limit, expire_duration, username_prefix, username_suffix, inbounds, hwid_device_limit, ip_limit, per_device_credentials)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			t.Name, t.DataLimit, t.ExpireDuration, stringOrNil(t.UsernamePrefix), stringOrNil(t.UsernameSuffix), inbounds,
			int64OrNil(t.HWIDDeviceLimit), int64OrNil(t.IPLimit), intBoolOrNil(t.PerDeviceCredentials)).Scan(&t.ID)
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("template %q: %w", t.Name, errConflict)
	}
	if err != nil {
		return fmt.Errorf("creating template %q: %w", t.Name, err)
	}
	return nil
}

// TemplateByID returns one template or ErrNotFound.
func (tx *Tx) TemplateByID(id int64) (*UserTemplate, error) {
	t, err := scanTemplate(tx.queryRow(`SELECT `+templateColumns+` FROM user_templates WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("template %d: %w", id, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading template %d: %w", id, err)
	}
	return t, nil
}

// ListTemplates returns templates by id; limit 0 means all.
func (tx *Tx) ListTemplates(offset, limit int) ([]UserTemplate, error) {
	var a args
	q := `SELECT ` + templateColumns + ` FROM user_templates ORDER BY id`
	switch {
	case limit > 0:
		q += ` LIMIT ` + a.add(limit)
	case offset > 0:
		// Both engines need a LIMIT before OFFSET.
		q += ` LIMIT ` + a.add(int64(1<<62))
	}
	if offset > 0 {
		q += ` OFFSET ` + a.add(offset)
	}
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	defer rows.Close()
	out := []UserTemplate{}
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, fmt.Errorf("listing templates: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	return out, nil
}

// UpdateTemplate rewrites every field of t; ErrNotFound or ErrConflict.
func (tx *Tx) UpdateTemplate(t *UserTemplate) error {
	inbounds, err := templateInbounds(t)
	if err != nil {
		return fmt.Errorf("encoding template inbounds: %w", err)
	}
	err = tx.stmtSavepoint(func() error {
		return affectedOne(tx.exec(`UPDATE user_templates SET name = $1, data_limit = $2, expire_duration = $3,
			username_prefix = $4, username_suffix = $5, inbounds = $6, hwid_device_limit = $7, ip_limit = $8,
			per_device_credentials = $9 WHERE id = $10`,
			t.Name, t.DataLimit, t.ExpireDuration, stringOrNil(t.UsernamePrefix), stringOrNil(t.UsernameSuffix), inbounds,
			int64OrNil(t.HWIDDeviceLimit), int64OrNil(t.IPLimit), intBoolOrNil(t.PerDeviceCredentials), t.ID))
	})
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("template %q: %w", t.Name, errConflict)
	case errors.Is(err, errNotFound):
		return fmt.Errorf("template %d: %w", t.ID, errNotFound)
	case err != nil:
		return fmt.Errorf("updating template %d: %w", t.ID, err)
	}
	return nil
}

// DeleteTemplate deletes one template or returns ErrNotFound.
func (tx *Tx) DeleteTemplate(id int64) error {
	if err := affectedOne(tx.exec(`DELETE FROM user_templates WHERE id = $1`, id)); err != nil {
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("template %d: %w", id, errNotFound)
		}
		return fmt.Errorf("deleting template %d: %w", id, err)
	}
	return nil
}
