package agent

import (
	"errors"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// rotation picks the panel address of the next dial and how long to wait
// before it. With several addresses (replicas of one panel) a node whose
// panel is unreachable tries the next one at once; only after a whole
// round of addresses failed does it wait, with the capped, jittered
// backoff. A panel that drains (close code move) sends the node to the
// next address at once. The node keeps its applied revision and hash
// across addresses as across reconnects, so a move costs a delta at most.
type rotation struct {
	n      int // number of addresses
	cur    int // index of the address of the next dial
	failed int // sessions ended, in a row, since the last full round or move
	b      *backoff
}

func newRotation(n int, b *backoff) *rotation { return &rotation{n: max(n, 1), b: b} }

// stableSession is how long a welcomed session must have lasted for its
// end to start a fresh round of addresses. Sessions that end soon after
// welcome (a panel that keeps refusing something) still count within the
// round, so two replicas cannot bounce a node between them without a wait.
const stableSession = 10 * time.Second

// next is called when a session on address cur ended: welcomed says it got
// as far as welcome, stable that it then lasted stableSession, err why it
// ended. It returns the wait before the next dial, whose address is then
// r.cur.
func (r *rotation) next(welcomed, stable bool, err error) time.Duration {
	switch {
	case isFenced(err):
		// Another agent holds this token: back off hard, on any replica.
		r.failed = 0
		return r.b.next(false, true)
	case isMove(err):
		// The panel asked to move (it is going away): the next address,
		// now, and a fresh backoff for whatever follows.
		r.b.reset()
		r.failed = 0
		r.cur = (r.cur + 1) % r.n
		return 0
	}
	if welcomed {
		r.b.reset()
	}
	if stable {
		r.failed = 0 // what failed before this session is old news
	}
	r.failed++
	r.cur = (r.cur + 1) % r.n
	if r.failed < r.n {
		return 0 // another address not tried in this round: at once
	}
	r.failed = 0
	return r.b.next(false, false)
}

// isMove reports whether the panel ended the session asking the node to
// redial at once (it drains for a restart).
func isMove(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == protocol.ErrCodeMove
}
