package change

import (
	"fmt"
	"testing"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// BenchmarkEncode10k is the outbox write of a bulk change (a review tick
// with 10,000 monthly resets): Merge's normalization next to the JSON it
// precedes.
func BenchmarkEncode10k(b *testing.B) {
	us := make([]protocol.User, 10_000)
	for i := range us {
		left := int64(i)
		us[i] = protocol.User{ID: int64(i), Email: fmt.Sprintf("%d.user%d", i, i), VLESS: &protocol.VLESS{ID: "11111111-1111-1111-1111-111111111111"}, BytesLeft: &left}
	}
	c := UsersUpserted(us)
	b.Run("merge", func(b *testing.B) {
		for b.Loop() {
			_ = Merge(c)
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Encode(1, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
