package change

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Version is the outbox encoding Encode writes. Bump it on any change a
// reader of the previous version would misread, and teach Decode the old
// one: outbox rows and feed entries outlive the process that wrote them.
//
// History:
//
//	0 (before 2026-12): no "v"; the row was a protocol.Delta in JSON (its
//	  from_revision and state_hash unset, revision the row's own).
//	1 (2026-12-06): {"v":1,"revision":R,"config":...,"upserts":[...],
//	  "removes":[...]}; users in protocol.User's JSON; revision is the
//	  row's own, repeated so a row read alone says where it belongs.
//
// Version 1 keeps version 0's field names on purpose: during a rolling
// upgrade an older replica reads the rows a newer one wrote from the same
// Redis stream and database, and it decodes them as a protocol.Delta,
// ignoring "v". A version that renames fields must wait until no replica
// older than version 1's decoder runs.
const Version = 1

// ErrUnknownVersion is a row written by a newer panel than this one.
var ErrUnknownVersion = errors.New("change encoded by a newer panel")

type record struct {
	V        int             `json:"v"`
	Revision int64           `json:"revision,omitempty"`
	Config   json.RawMessage `json:"config,omitempty"`
	Upserts  []protocol.User `json:"upserts,omitempty"`
	Removes  []string        `json:"removes,omitempty"`
}

// Encode is the outbox (and feed) encoding of c, made at revision rev.
func Encode(rev int64, c Change) ([]byte, error) {
	return json.Marshal(record{V: Version, Revision: rev, Config: c.Config, Upserts: c.Upserts, Removes: c.Removes})
}

// Decode reads a change written by Encode, or by a panel that stored
// protocol.Delta JSON (version 0).
func Decode(data []byte) (Change, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return Change{}, fmt.Errorf("decoding change: %w", err)
	}
	switch r.V {
	case 0, 1:
		// Version 0's protocol.Delta has the same three fields under the
		// same names; its revision and hash are the row's, not the change's.
	default:
		return Change{}, fmt.Errorf("change version %d (this panel reads up to %d): %w", r.V, Version, ErrUnknownVersion)
	}
	if string(r.Config) == "null" {
		r.Config = nil
	}
	return Change{Config: r.Config, Upserts: r.Upserts, Removes: r.Removes}, nil
}
