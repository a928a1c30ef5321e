package agent

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// Xray's log lines reach the panel only while it asks for them (an admin
// watches the logs). The tap Xray calls never blocks: a line that finds the
// queue full is counted as dropped and thrown away, and so is a batch the
// session's send queue has no room for.
const (
	logQueue      = 4096
	logBatch      = 256
	logsPerSecond = 2000 // lines sent at most; the rest are counted as dropped
)

type logStream struct {
	on      atomic.Bool
	lines   chan string
	dropped atomic.Int64
}

func newLogStream() *logStream {
	ls := &logStream{lines: make(chan string, logQueue)}
	xraycore.SetLogTap(ls.tap)
	return ls
}

func (ls *logStream) tap(line fmt.Stringer) {
	if !ls.on.Load() {
		return
	}
	l := time.Now().UTC().Format("2006/01/02 15:04:05.000000 ") + line.String()
	if len(l) > protocol.MaxLogLineBytes {
		l = l[:protocol.MaxLogLineBytes] // the panel refuses longer lines
	}
	select {
	case ls.lines <- l:
	default:
		ls.dropped.Add(1)
	}
}

// set turns the stream on or off; off empties the queue.
func (ls *logStream) set(on bool) {
	ls.on.Store(on)
	if !on {
		for {
			select {
			case <-ls.lines:
			default:
				ls.dropped.Store(0)
				return
			}
		}
	}
}

// batch takes what is queued, up to logBatch lines, without waiting.
func (ls *logStream) batch(first string) *protocol.LogLines {
	b := &protocol.LogLines{Lines: append(make([]string, 0, 16), first)}
	for len(b.Lines) < logBatch {
		select {
		case l := <-ls.lines:
			b.Lines = append(b.Lines, l)
		default:
			b.Dropped = ls.dropped.Swap(0)
			return b
		}
	}
	b.Dropped = ls.dropped.Swap(0)
	return b
}
