package hub

import (
	"context"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// Usage group commit (issue 12). A thousand nodes each send a usage batch
// every interval, and each batch was a SQLite transaction of its own on
// the writer the API's changes wait for (pprof: 40 % of the panel's CPU
// at 1,000 nodes). Sessions now hand their batches to one committer, which
// records everything queued while its previous commit ran in one
// transaction (state.ApplyUsageMany: every batch still fenced and
// sequence-checked on its own) and only then answers each session, which
// sends usage_ack as before: a batch is committed before it is acked, so
// the accounting stays exact. An idle panel commits a lone batch at once.

// usageGroupMax bounds the batches one transaction records.
const usageGroupMax = 500

type usageReq struct {
	b   model.UsageBatch
	res chan model.UsageResult // buffered: the committer never waits on a session
}

// usageCommitTimeout bounds one group commit.
const usageCommitTimeout = time.Minute

// runUsage commits queued usage batches until ctx ends. A commit under
// way when ctx ends (the panel draining) still completes: its batches'
// sessions are being moved, and a batch counted but not acked is only
// resent and counted once, while a failed one would end the session with
// an error instead of the move.
func (h *Hub) runUsage(ctx context.Context) {
	defer close(h.usageStopped)
	group := make([]*usageReq, 0, usageGroupMax)
	bs := make([]model.UsageBatch, 0, usageGroupMax)
	for {
		group, bs = group[:0], bs[:0]
		select {
		case <-ctx.Done():
			return
		case r := <-h.usageq:
			group = append(group, r)
		}
	more:
		for len(group) < usageGroupMax {
			select {
			case r := <-h.usageq:
				group = append(group, r)
			default:
				break more
			}
		}
		for _, r := range group {
			bs = append(bs, r.b)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), usageCommitTimeout)
		for i, res := range h.st.ApplyUsageMany(cctx, bs) {
			group[i].res <- res
		}
		cancel()
	}
}

// applyUsage has the committer record b and waits for its result; ok is
// false if the session ended or the hub stopped first (the node resends
// the batch).
func (s *session) applyUsage(b model.UsageBatch) (res model.UsageResult, ok bool) {
	r := &usageReq{b: b, res: make(chan model.UsageResult, 1)}
	select {
	case s.h.usageq <- r:
	case <-s.done:
		return res, false
	case <-s.h.usageStopped:
		return res, false
	}
	select {
	case res = <-r.res:
		return res, true
	case <-s.done:
		return res, false
	case <-s.h.usageStopped:
		return res, false
	}
}
