package render

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/outpost-panel/outpost/backend/model"
)

// Rule maps User-Agents to a format. Pattern is an RE2 regular expression
// matched against the User-Agent; the first rule that matches wins. With
// MinVersion set, the pattern's first capture group is a dotted version and
// the rule matches only when that version is at least MinVersion: clients
// learned to import Xray JSON in a given release.
type Rule struct {
	Pattern    string `json:"pattern"`
	Format     Format `json:"format"`
	MinVersion string `json:"min_version,omitempty"`
}

// DefaultRules is Marzban's order with the clients that came after it.
func DefaultRules() []Rule {
	return []Rule{
		{Pattern: `^([Cc]lash[-_ ]?[Vv]erge|[Cc]lash[-\.]?[Mm]eta|[Cc]lash[Xx][-_ ]?[Mm]eta|[Cc]lash[-_ ]?[Nn]yanpasu|[Ff][Ll][Cc]lash|[Mm]ihomo)`, Format: ClashMeta},
		{Pattern: `^([Cc]lash|[Ss]tash)`, Format: Clash},
		{Pattern: `^(SFA|SFI|SFM|SFT|[Kk]aring|[Hh]iddify)`, Format: SingBox},
		// Newer panels write `.*[Ss]ing[-b]?ox.*`, which misses "sing-box"
		// itself (the optional class takes one character of "-b").
		{Pattern: `[Ss]ing-?[Bb]ox`, Format: SingBox},
		{Pattern: `^(SS|SSR|SSD|SSS|Outline|Shadowsocks|SSconf)`, Format: Outline},
		{Pattern: `^v2rayN/(\d+(?:\.\d+)*)`, Format: V2RayJSON, MinVersion: "6.40"},
		{Pattern: `^v2rayNG/(\d+(?:\.\d+)*)`, Format: V2RayJSON, MinVersion: "1.8.29"},
		{Pattern: `^[Ss]treisand`, Format: V2RayJSON},
		{Pattern: `^Happ/(\d+(?:\.\d+)*)`, Format: V2RayJSON, MinVersion: "1.63.1"},
	}
}

// ValidateRules checks every rule: the pattern compiles, the format is
// known, a MinVersion is a dotted version and has a capture group to compare.
func ValidateRules(rules []Rule) error {
	_, err := compileRules(rules)
	return err
}

type compiledRule struct {
	re     *regexp.Regexp
	format Format
	min    []int // nil: no version condition
}

func compileRules(rules []Rule) ([]compiledRule, error) {
	var errs []error
	out := make([]compiledRule, 0, len(rules))
	for i, r := range rules {
		c := compiledRule{format: r.Format}
		if _, ok := ParseFormat(string(r.Format)); !ok {
			errs = append(errs, fmt.Errorf("rule %d: unknown format %q (one of v2ray, v2ray-json, clash, clash-meta, sing-box, outline)", i+1, r.Format))
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d: pattern %q: %v", i+1, r.Pattern, err))
		} else if r.Pattern == "" {
			errs = append(errs, fmt.Errorf("rule %d: empty pattern", i+1))
		}
		c.re = re
		if r.MinVersion != "" {
			v, ok := parseVersion(r.MinVersion)
			if !ok {
				errs = append(errs, fmt.Errorf("rule %d: min_version %q is not a dotted version like 1.8.29", i+1, r.MinVersion))
			}
			if re != nil && re.NumSubexp() < 1 {
				errs = append(errs, fmt.Errorf("rule %d: min_version needs a capture group in the pattern holding the version", i+1))
			}
			c.min = v
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(append([]error{model.ErrInvalid}, errs...)...)
	}
	return out, nil
}

// parseVersion reads "1.8.29" (up to 8 numbers).
func parseVersion(s string) ([]int, bool) {
	if s == "" {
		return nil, false
	}
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || len(v) == 8 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// versionAtLeast compares a dotted version with min without allocating;
// missing parts count as 0.
func versionAtLeast(s string, min []int) bool {
	for _, want := range min {
		part := s
		if i := strings.IndexByte(s, '.'); i >= 0 {
			part, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		got := 0
		for j := 0; j < len(part); j++ {
			c := part[j]
			if c < '0' || c > '9' {
				return false
			}
			if got > 1<<24 {
				return true // an absurd version is a new one
			}
			got = got*10 + int(c-'0')
		}
		if got != want {
			return got > want
		}
	}
	return true
}

// maxUserAgent bounds the work a hostile User-Agent can cause; every real
// client's fits in it.
const maxUserAgent = 512

// Selector picks a format from a User-Agent. It is safe for concurrent use.
type Selector struct {
	rules []compiledRule
}

// NewSelector compiles rules; see ValidateRules.
func NewSelector(rules []Rule) (*Selector, error) {
	c, err := compileRules(rules)
	if err != nil {
		return nil, fmt.Errorf("compiling subscription rules: %w", err)
	}
	return &Selector{rules: c}, nil
}

// Select returns the format of the first matching rule, V2Ray when none
// matches. A nil Selector uses no rules.
func (s *Selector) Select(userAgent string) Format {
	f, _ := s.Match(userAgent)
	return f
}

// Match is Select that also tells which rule chose the format: its index
// in the rules the Selector was built from, -1 when none matched (V2Ray).
func (s *Selector) Match(userAgent string) (Format, int) {
	if s == nil {
		return V2Ray, -1
	}
	if len(userAgent) > maxUserAgent {
		userAgent = userAgent[:maxUserAgent]
	}
	for i := range s.rules {
		r := &s.rules[i]
		if r.min == nil {
			if r.re.MatchString(userAgent) {
				return r.format, i
			}
			continue
		}
		m := r.re.FindStringSubmatchIndex(userAgent)
		if len(m) < 4 || m[2] < 0 {
			continue
		}
		if versionAtLeast(userAgent[m[2]:m[3]], r.min) {
			return r.format, i
		}
	}
	return V2Ray, -1
}
