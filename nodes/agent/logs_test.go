package agent

import (
	"strings"
	"testing"
)

// TestLogStream: the tap never blocks; what does not fit is counted, and
// the count reaches the panel with the next batch; off empties the queue
// and stops the tap.
func TestLogStream(t *testing.T) {
	ls := &logStream{lines: make(chan string, logQueue)}
	ls.tap(text("ignored while off"))
	if len(ls.lines) != 0 {
		t.Fatal("the tap queued a line while off")
	}
	ls.set(true)
	for i := range logQueue + 10 {
		ls.tap(text("line " + strings.Repeat("x", i%3)))
	}
	if got := ls.dropped.Load(); got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
	first := <-ls.lines
	b := ls.batch(first)
	if len(b.Lines) != logBatch || b.Dropped != 10 || !strings.Contains(b.Lines[0], " line") {
		t.Fatalf("batch of %d lines, dropped %d, first %q", len(b.Lines), b.Dropped, b.Lines[0])
	}
	if b2 := ls.batch(<-ls.lines); b2.Dropped != 0 {
		t.Fatalf("dropped counted twice: %d", b2.Dropped)
	}
	ls.set(false)
	if len(ls.lines) != 0 {
		t.Fatalf("%d lines left after off", len(ls.lines))
	}
}

type text string

func (t text) String() string { return string(t) }
