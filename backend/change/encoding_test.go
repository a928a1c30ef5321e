package change

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

func TestEncodeDecode(t *testing.T) {
	left := int64(5)
	u := usr("1.a", 7)
	u.BytesLeft = &left
	for _, c := range []Change{
		UserUpserted(u),
		UserRemoved("2.b"),
		ConfigReplaced([]byte(`{"inbounds":[]}`)),
		{Config: []byte(`{"a":1}`), Upserts: []protocol.User{u}, Removes: []string{"3.c"}},
	} {
		raw, err := Encode(42, c)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			V   int   `json:"v"`
			Rev int64 `json:"revision"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.V != Version || v.Rev != 42 {
			t.Fatalf("%s: version %d, revision %d, err %v; want %d, 42", raw, v.V, v.Rev, err, Version)
		}
		got, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip of %+v gave %+v", c, got)
		}
	}
}

// TestDecodeReadsOldRows: databases and Redis streams written before the
// outbox had its own encoding hold protocol.Delta JSON; they decode to the
// same change. These rows are verbatim what the old state.change wrote.
func TestDecodeReadsOldRows(t *testing.T) {
	left := int64(0)
	for _, tc := range []struct {
		row  string
		want Change
	}{
		{`{"from_revision":0,"revision":12,"state_hash":"","upserts":[{"id":3,"email":"3.c","vless":{"id":"11111111-1111-1111-1111-111111111111"},"expire":99,"bytes_left":0}]}`,
			Change{Upserts: []protocol.User{{ID: 3, Email: "3.c", VLESS: &protocol.VLESS{ID: "11111111-1111-1111-1111-111111111111"}, Expire: 99, BytesLeft: &left}}}},
		{`{"from_revision":0,"revision":13,"state_hash":"","removes":["3.c","4.d"]}`,
			Change{Removes: []string{"3.c", "4.d"}}},
		{`{"from_revision":0,"revision":14,"state_hash":"","config":{"inbounds":[]}}`,
			Change{Config: json.RawMessage(`{"inbounds":[]}`)}},
	} {
		got, err := Decode([]byte(tc.row))
		if err != nil {
			t.Fatalf("%s: %v", tc.row, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s decoded to %+v, want %+v", tc.row, got, tc.want)
		}
	}
}

// TestOldReadersReadNewRows: during a rolling upgrade a replica that
// predates this encoding reads new rows from the shared outbox and feed as
// protocol.Delta; it must see the same change, not an empty one.
func TestOldReadersReadNewRows(t *testing.T) {
	c := Change{Config: []byte(`{"a":1}`), Upserts: []protocol.User{usr("1.a", 1)}, Removes: []string{"2.b"}}
	raw, err := Encode(7, c)
	if err != nil {
		t.Fatal(err)
	}
	var old protocol.Delta
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	if got := (Change{Config: old.Config, Upserts: old.Upserts, Removes: old.Removes}); !reflect.DeepEqual(got, c) || old.Revision != 7 {
		t.Fatalf("an old replica reads %s as %+v, want %+v", raw, got, c)
	}
}

func TestDecodeRefusesNewerAndBroken(t *testing.T) {
	if _, err := Decode([]byte(`{"v":99,"upserts":[]}`)); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("a newer version: %v; want ErrUnknownVersion", err)
	}
	if _, err := Decode([]byte(`{"v":1,"upserts":`)); err == nil {
		t.Fatal("a truncated row decoded")
	}
	if c, err := Decode([]byte(`{"v":1,"config":null}`)); err != nil || c.Config != nil {
		t.Fatalf("config null: %+v %v; want no config", c, err)
	}
}
