package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// ConfigHistoryKept is how many saved core configs the history keeps.
const ConfigHistoryKept = 50

// ConfigVersion is one saved core config; Data is left empty by listings.
type ConfigVersion = model.ConfigVersion

// AddConfigVersion records a saved core config and drops all but the
// newest ConfigHistoryKept.
func (tx *Tx) AddConfigVersion(admin string, data []byte, at time.Time) (int64, error) {
	sum := sha256.Sum256(data)
	var id int64
	err := tx.queryRow(`INSERT INTO core_config_history (admin, created_at, data, sha256) VALUES ($1, $2, $3, $4) RETURNING id`,
		admin, at.Unix(), data, hex.EncodeToString(sum[:])).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording core config history: %w", err)
	}
	if _, err := tx.exec(`DELETE FROM core_config_history WHERE id NOT IN
		(SELECT id FROM core_config_history ORDER BY id DESC LIMIT $1)`, ConfigHistoryKept); err != nil {
		return 0, fmt.Errorf("trimming core config history: %w", err)
	}
	return id, nil
}

// ConfigHistoryEmpty reports whether no config was ever recorded.
func (tx *Tx) ConfigHistoryEmpty() (bool, error) {
	var n int
	if err := tx.queryRow(`SELECT COUNT(*) FROM core_config_history`).Scan(&n); err != nil {
		return false, fmt.Errorf("counting core config history: %w", err)
	}
	return n == 0, nil
}

// ConfigHistory lists the saved configs, newest first, without their data.
func (tx *Tx) ConfigHistory() ([]ConfigVersion, error) {
	rows, err := tx.query(`SELECT id, admin, created_at, LENGTH(data), sha256 FROM core_config_history ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing core config history: %w", err)
	}
	defer rows.Close()
	out := []ConfigVersion{}
	for rows.Next() {
		var (
			v  ConfigVersion
			at int64
		)
		if err := rows.Scan(&v.ID, &v.Admin, &at, &v.Size, &v.SHA256); err != nil {
			return nil, fmt.Errorf("listing core config history: %w", err)
		}
		v.CreatedAt = time.Unix(at, 0).UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

// ConfigVersionByID loads one saved config with its data.
func (tx *Tx) ConfigVersionByID(id int64) (*ConfigVersion, error) {
	var (
		v  ConfigVersion
		at int64
	)
	err := tx.queryRow(`SELECT id, admin, created_at, data, sha256 FROM core_config_history WHERE id = $1`, id).
		Scan(&v.ID, &v.Admin, &at, &v.Data, &v.SHA256)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("core config version %d: %w", id, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading core config version %d: %w", id, err)
	}
	v.CreatedAt = time.Unix(at, 0).UTC()
	v.Size = int64(len(v.Data))
	return &v, nil
}
