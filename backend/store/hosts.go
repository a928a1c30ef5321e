package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// Host is one stored way to reach an inbound (Marzban's ProxyHost); each
// becomes one link. JSON names are Marzban's.
type Host struct {
	Remark               string `json:"remark"`
	Address              string `json:"address"`
	Port                 *int   `json:"port" limit:"port"` // nil: the inbound's port
	SNI                  string `json:"sni"`
	Host                 string `json:"host"`
	Path                 string `json:"path"`
	Security             string `json:"security"`
	ALPN                 string `json:"alpn"`
	Fingerprint          string `json:"fingerprint"`
	AllowInsecure        bool   `json:"allowinsecure"`
	IsDisabled           bool   `json:"is_disabled"`
	MuxEnable            bool   `json:"mux_enable"`
	FragmentSetting      string `json:"fragment_setting"`
	NoiseSetting         string `json:"noise_setting"`
	RandomUserAgent      bool   `json:"random_user_agent"`
	UseSNIAsHost         bool   `json:"use_sni_as_host"`
	PinnedPeerCertSHA256 string `json:"pinned_peer_cert_sha256"`
	VerifyPeerCertByName string `json:"verify_peer_cert_by_name"`
}

const hostColumns = `inbound_tag, remark, address, port, sni, host, path, security, alpn, fingerprint,
	allowinsecure, is_disabled, mux_enable, fragment_setting, noise_setting, random_user_agent,
	use_sni_as_host, pinned_peer_cert_sha256, verify_peer_cert_by_name`

// Hosts returns every explicit host list by inbound tag, each in its
// order. A tag whose list was set empty is present with an empty slice; a
// tag never set is absent.
func (tx *Tx) Hosts() (map[string][]Host, error) {
	out := map[string][]Host{}
	rows, err := tx.query(`SELECT inbound_tag FROM host_lists`)
	if err != nil {
		return nil, fmt.Errorf("reading host lists: %w", err)
	}
	for rows.Next() {
		var tag string
		if err := rows.Scan(&tag); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading host lists: %w", err)
		}
		out[tag] = []Host{}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("reading host lists: %w", err)
	}
	rows, err = tx.query(`SELECT ` + hostColumns + ` FROM hosts ORDER BY inbound_tag, position`)
	if err != nil {
		return nil, fmt.Errorf("reading hosts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			tag  string
			h    Host
			port sql.NullInt64
		)
		if err := rows.Scan(&tag, &h.Remark, &h.Address, &port, &h.SNI, &h.Host, &h.Path, &h.Security,
			&h.ALPN, &h.Fingerprint, &h.AllowInsecure, &h.IsDisabled, &h.MuxEnable, &h.FragmentSetting,
			&h.NoiseSetting, &h.RandomUserAgent, &h.UseSNIAsHost, &h.PinnedPeerCertSHA256,
			&h.VerifyPeerCertByName); err != nil {
			return nil, fmt.Errorf("reading hosts: %w", err)
		}
		if port.Valid {
			p := int(port.Int64)
			h.Port = &p
		}
		out[tag] = append(out[tag], h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading hosts: %w", err)
	}
	return out, nil
}

// ReplaceHosts makes hosts the whole set of explicit host lists and bumps
// the hosts version. Validation is the caller's.
func (tx *Tx) ReplaceHosts(hosts map[string][]Host) (version int64, err error) {
	if _, err := tx.exec(`DELETE FROM hosts`); err != nil {
		return 0, fmt.Errorf("replacing hosts: %w", err)
	}
	if _, err := tx.exec(`DELETE FROM host_lists`); err != nil {
		return 0, fmt.Errorf("replacing hosts: %w", err)
	}
	tags := make([]string, 0, len(hosts))
	for tag := range hosts {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	for _, tag := range tags {
		if _, err := tx.exec(`INSERT INTO host_lists (inbound_tag) VALUES ($1)`, tag); err != nil {
			return 0, fmt.Errorf("storing host list %q: %w", tag, err)
		}
		for i, h := range hosts[tag] {
			var port any
			if h.Port != nil {
				port = *h.Port
			}
			if _, err := tx.exec(`INSERT INTO hosts (`+hostColumns+`, position) VALUES
				($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
				tag, h.Remark, h.Address, port, h.SNI, h.Host, h.Path, h.Security, h.ALPN, h.Fingerprint,
				h.AllowInsecure, h.IsDisabled, h.MuxEnable, h.FragmentSetting, h.NoiseSetting,
				h.RandomUserAgent, h.UseSNIAsHost, h.PinnedPeerCertSHA256, h.VerifyPeerCertByName, i); err != nil {
				return 0, fmt.Errorf("storing host %d of %q: %w", i, tag, err)
			}
		}
	}
	if err := tx.queryRow(`UPDATE sub_versions SET hosts = hosts + 1 WHERE id = 1 RETURNING hosts`).Scan(&version); err != nil {
		return 0, fmt.Errorf("bumping hosts version: %w", err)
	}
	return version, nil
}

// SubVersions are the counters that version what subscription servers cache.
type SubVersions = model.SubVersions

// SubVersions reads the current counters.
func (tx *Tx) SubVersions() (SubVersions, error) {
	var v SubVersions
	err := tx.queryRow(`SELECT COALESCE((SELECT revision FROM core_config WHERE id = 1), 0), hosts, settings
		FROM sub_versions WHERE id = 1`).Scan(&v.Config, &v.Hosts, &v.Settings)
	if err != nil {
		return v, fmt.Errorf("reading subscription versions: %w", err)
	}
	return v, nil
}

// subscriptionSettingsKey is the settings row holding the subscription
// settings JSON.
const subscriptionSettingsKey = "subscription"

// SubscriptionSettings returns the stored subscription settings JSON; ok is
// false when none were ever stored.
func (tx *Tx) SubscriptionSettings() (data string, ok bool, err error) {
	return tx.Setting(subscriptionSettingsKey)
}

// SetSubscriptionSettings stores the subscription settings JSON and bumps
// their version.
func (tx *Tx) SetSubscriptionSettings(data string) (version int64, err error) {
	if err := tx.SetSetting(subscriptionSettingsKey, data); err != nil {
		return 0, err
	}
	if err := tx.queryRow(`UPDATE sub_versions SET settings = settings + 1 WHERE id = 1 RETURNING settings`).Scan(&version); err != nil {
		return 0, fmt.Errorf("bumping subscription settings version: %w", err)
	}
	return version, nil
}

const subscriptionUserQuery = `SELECT ` + userColumns + `,
	COALESCE((SELECT revision FROM core_config WHERE id = 1), 0), sv.hosts, sv.settings` + userFrom + `
	CROSS JOIN sub_versions sv WHERE lower(u.username) = lower($1) AND sv.id = 1`

// SubscriptionUser loads a user by username (any letter case) together
// with the subscription versions, in one query: the only database round
// trip a subscription fetch needs when everything else is cached.
func (tx *Tx) SubscriptionUser(username string) (*model.User, SubVersions, error) {
	return scanSubscriptionUser(tx.queryRow(subscriptionUserQuery, username), username)
}

func scanSubscriptionUser(row *sql.Row, username string) (*model.User, SubVersions, error) {
	var (
		u  model.User
		us userScan
		v  SubVersions
	)
	err := row.Scan(append(us.targets(&u), &v.Config, &v.Hosts, &v.Settings)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, v, fmt.Errorf("user %q: %w", username, errNotFound)
	}
	if err != nil {
		return nil, v, fmt.Errorf("loading subscription of %q: %w", username, err)
	}
	if err := us.decode(&u); err != nil {
		return nil, v, err
	}
	return &u, v, nil
}

// subscriptionHotQuery reads only what a subscription body and its headers
// need, from one table plus the counters. The SQLite driver prepares every
// statement anew on each run, so the statement's size is the cost: no
// admin join, no columns the body never shows.
const subscriptionHotQuery = `SELECT id, username, status, proxies, excluded_inbounds, expire, data_limit,
	(SELECT used_traffic FROM user_traffic WHERE user_id = users.id), created_at, sub_revoked_at, on_hold_expire_duration,
	hwid_device_limit, per_device, (SELECT revision FROM core_config WHERE id = 1), (SELECT hosts FROM sub_versions WHERE id = 1),
	(SELECT settings FROM sub_versions WHERE id = 1)
	FROM users WHERE lower(username) = lower($1)`

// SubscriptionLookup runs the subscription fetch's one query outside an
// explicit transaction (one statement reads one consistent snapshot),
// sparing a BEGIN/COMMIT pair per fetch.
type SubscriptionLookup struct {
	s *Store
}

// SubscriptionLookup returns the hot-path lookup.
func (s *Store) SubscriptionLookup() *SubscriptionLookup { return &SubscriptionLookup{s: s} }

// User loads the fields of a user that a subscription renders from (id,
// username, status, proxies, excluded inbounds, expire, data_limit,
// used_traffic, created_at, sub_revoked_at, on_hold_expire_duration,
// hwid_device_limit, per_device) and
// the subscription versions. Use Tx.SubscriptionUser for the whole user.
func (l *SubscriptionLookup) User(ctx context.Context, username string) (u *model.User, v SubVersions, err error) {
	err = l.s.retry(ctx, func() error {
		var (
			us          userScan
			cfg         sql.NullInt64
			user        model.User
			hosts, sets sql.NullInt64
			perDevice   int64
		)
		err := l.s.read.QueryRowContext(ctx, subscriptionHotQuery, username).Scan(&user.ID, &user.Username, &user.Status,
			&us.proxies, &us.excluded, &user.Expire, &user.DataLimit, &user.UsedTraffic, reqTime{&user.CreatedAt},
			optTime{&user.SubRevokedAt}, &user.OnHoldExpireDuration, optInt64{&user.HWIDDeviceLimit}, &perDevice, &cfg, &hosts, &sets)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %q: %w", username, errNotFound)
		}
		if err != nil {
			return fmt.Errorf("loading subscription of %q: %w", username, err)
		}
		if err := us.decode(&user); err != nil {
			return err
		}
		user.PerDevice = perDevice != 0
		u, v = &user, SubVersions{Config: cfg.Int64, Hosts: hosts.Int64, Settings: sets.Int64}
		return nil
	})
	return u, v, err
}

// SubscriptionFetch is one client's latest fetch of a user's subscription.
type SubscriptionFetch struct {
	UserID    int64
	At        time.Time
	UserAgent string
}

// TouchSubscriptions records many fetches in one statement per chunk. A
// fetch older than what is stored (another replica recorded a newer one)
// is skipped; fetches of deleted users are ignored.
func (tx *Tx) TouchSubscriptions(fetches []SubscriptionFetch) error {
	if len(fetches) == 0 {
		return nil
	}
	if tx.postgres() {
		ids := make([]int64, len(fetches))
		ats := make([]int64, len(fetches))
		uas := make([]string, len(fetches))
		for i, f := range fetches {
			ids[i], ats[i], uas[i] = f.UserID, f.At.Unix(), f.UserAgent
		}
		_, err := tx.exec(`UPDATE users u SET sub_updated_at = v.at, sub_last_user_agent = v.ua
			FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS v(id, at, ua)
			WHERE u.id = v.id AND (u.sub_updated_at IS NULL OR u.sub_updated_at <= v.at)`, ids, ats, uas)
		if err != nil {
			return fmt.Errorf("recording %d subscription fetches: %w", len(fetches), err)
		}
		return nil
	}
	stmt, err := tx.tx.PrepareContext(tx.ctx, `UPDATE users SET sub_updated_at = $1, sub_last_user_agent = $2
		WHERE id = $3 AND (sub_updated_at IS NULL OR sub_updated_at <= $1)`)
	if err != nil {
		return fmt.Errorf("recording %d subscription fetches: %w", len(fetches), err)
	}
	defer stmt.Close()
	for _, f := range fetches {
		if _, err := stmt.ExecContext(tx.ctx, f.At.Unix(), f.UserAgent, f.UserID); err != nil {
			return fmt.Errorf("recording subscription fetch of user %d: %w", f.UserID, err)
		}
	}
	return nil
}
