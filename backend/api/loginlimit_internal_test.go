package api

import (
	"fmt"
	"testing"
	"time"
)

// The tracked names are bounded: past the cap the least recently failed
// name is dropped, and a name not failing for nameForget is forgotten.
func TestNameLimiterBounded(t *testing.T) {
	l := newNameLimiter(3)
	now := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		for range nameFreeFailures + 1 {
			l.fail(fmt.Sprintf("name%d", i), now)
		}
	}
	if l.len() != 3 {
		t.Fatalf("tracking %d names, cap 3", l.len())
	}
	if l.blockedFor("name0", now) != 0 || l.blockedFor("NAME9", now) == 0 {
		t.Fatal("the oldest name kept or the newest dropped")
	}
	if d := l.blockedFor("name9", now.Add(nameForget)); d != 0 || l.len() != 2 {
		t.Fatalf("stale name still blocked %v / tracked (%d names)", d, l.len())
	}
}
