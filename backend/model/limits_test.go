package model

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestSaturatingArithmetic(t *testing.T) {
	for _, c := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64},
		{math.MaxInt64, math.MinInt64, -1},
	} {
		if got := SatAdd(c.a, c.b); got != c.want {
			t.Errorf("SatAdd(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	now := time.Unix(1_800_000_000, 0)
	if got := ExpireAfter(now, math.MaxInt64); got != MaxExpire {
		t.Errorf("ExpireAfter(now, 2^63-1) = %d, want MaxExpire", got)
	}
	if got := ExpireAfter(now, 60); got != 1_800_000_060 {
		t.Errorf("ExpireAfter(now, 60) = %d", got)
	}
	if got := ClampBytes(-1); got != 0 {
		t.Errorf("ClampBytes(-1) = %d", got)
	}
}

func TestCheckText(t *testing.T) {
	for s, ok := range map[string]bool{
		"plain": true, "tab\tnew\nline\r": true, "ünïcode ✓": true,
		"nul\x00": false, "bell\x07": false, "esc\x1b[0m": false, "del\x7f": false,
	} {
		err := CheckText("note", s)
		if (err == nil) != ok {
			t.Errorf("CheckText(%q) = %v, want ok=%v", s, err, ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckText(%q): %v does not wrap ErrInvalid", s, err)
		}
	}
}

func TestSaneUser(t *testing.T) {
	days := int64(MaxAutoDeleteDays + 1)
	for name, u := range map[string]User{
		"expire":      {Expire: MaxExpire + 1},
		"hold":        {OnHoldExpireDuration: math.MaxInt64},
		"limit":       {DataLimit: -1},
		"auto delete": {AutoDeleteInDays: &days},
		"plan":        {NextPlan: &NextPlan{Expire: math.MaxInt64}},
	} {
		if SaneUser(&u) == nil {
			t.Errorf("%s: out of range but sane", name)
		}
	}
	if err := SaneUser(&User{Expire: MaxExpire, DataLimit: MaxBytes, NextPlan: &NextPlan{}}); err != nil {
		t.Errorf("bounds themselves refused: %v", err)
	}
}
