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

// DefaultRules are Marzban's rules with the clients that came after it.
// Like Marzban, they send no client Xray JSON: v2rayN, v2rayNG, Streisand
// and Happ get base64 share links unless a CustomJSON switch sends them
// JSON (see Selector.WithCustomJSON), so clients moving from Marzban keep
// the format they had.
func DefaultRules() []Rule {
	return []Rule{
		{Pattern: `^([Cc]lash[-_ ]?[Vv]erge|[Cc]lash[-\.]?[Mm]eta|[Cc]lash[Xx][-_ ]?[Mm]eta|[Cc]lash[-_ ]?[Nn]yanpasu|[Ff][Ll][Cc]lash|[Mm]ihomo)`, Format: ClashMeta},
		{Pattern: `^([Cc]lash|[Ss]tash)`, Format: Clash},
		{Pattern: `^(SFA|SFI|SFM|SFT|[Kk]aring|[Hh]iddify)`, Format: SingBox},
		// Newer panels write `.*[Ss]ing[-b]?ox.*`, which misses "sing-box"
		// itself (the optional class takes one character of "-b").
		{Pattern: `[Ss]ing-?[Bb]ox`, Format: SingBox},
		{Pattern: `^(SS|SSR|SSD|SSS|Outline|Shadowsocks|SSconf)`, Format: Outline},
	}
}

// CustomJSON are Marzban's USE_CUSTOM_JSON_* switches: each sends one
// client Xray JSON (v2ray-json) from the version that imports it, and
// Default sends it to all four. Off (Marzban's default), those clients get
// whatever the rules give them, base64 links with the default rules.
type CustomJSON struct {
	Default   bool `json:"use_custom_json_default"`
	V2RayN    bool `json:"use_custom_json_for_v2rayn"`
	V2RayNG   bool `json:"use_custom_json_for_v2rayng"`
	Streisand bool `json:"use_custom_json_for_streisand"`
	Happ      bool `json:"use_custom_json_for_happ"`
}

// CustomJSONVars are the switches' environment variable names (Marzban's),
// in the order of CustomJSON's fields.
var CustomJSONVars = []string{
	"USE_CUSTOM_JSON_DEFAULT", "USE_CUSTOM_JSON_FOR_V2RAYN", "USE_CUSTOM_JSON_FOR_V2RAYNG",
	"USE_CUSTOM_JSON_FOR_STREISAND", "USE_CUSTOM_JSON_FOR_HAPP",
}

// Switch is the field of the variable name, nil for an unknown name.
func (c *CustomJSON) Switch(name string) *bool {
	switch name {
	case "USE_CUSTOM_JSON_DEFAULT":
		return &c.Default
	case "USE_CUSTOM_JSON_FOR_V2RAYN":
		return &c.V2RayN
	case "USE_CUSTOM_JSON_FOR_V2RAYNG":
		return &c.V2RayNG
	case "USE_CUSTOM_JSON_FOR_STREISAND":
		return &c.Streisand
	case "USE_CUSTOM_JSON_FOR_HAPP":
		return &c.Happ
	}
	return nil
}

// jsonClients are the clients the switches cover: Marzban's patterns and
// the first version of each that imports Xray JSON (older ones get links).
var jsonClients = []struct {
	name string // the client's own switch
	rule Rule
}{
	{"USE_CUSTOM_JSON_FOR_V2RAYN", Rule{Pattern: `^v2rayN/(\d+(?:\.\d+)*)`, Format: V2RayJSON, MinVersion: "6.40"}},
	{"USE_CUSTOM_JSON_FOR_V2RAYNG", Rule{Pattern: `^v2rayNG/(\d+(?:\.\d+)*)`, Format: V2RayJSON, MinVersion: "1.8.29"}},
	{"USE_CUSTOM_JSON_FOR_STREISAND", Rule{Pattern: `^[Ss]treisand`, Format: V2RayJSON}},
	{"USE_CUSTOM_JSON_FOR_HAPP", Rule{Pattern: `^Happ/(\d+(?:\.\d+)*)`, Format: V2RayJSON, MinVersion: "1.63.1"}},
}

// compiledJSONClients are jsonClients compiled once.
var compiledJSONClients = func() []compiledRule {
	rules := make([]Rule, len(jsonClients))
	for i, c := range jsonClients {
		rules[i] = c.rule
	}
	c, err := compileRules(rules)
	if err != nil {
		panic(err)
	}
	return c
}()

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
	// json holds, per jsonClients entry, whether its switch is on.
	json [4]bool
}

// NewSelector compiles rules; see ValidateRules.
func NewSelector(rules []Rule) (*Selector, error) {
	c, err := compileRules(rules)
	if err != nil {
		return nil, fmt.Errorf("compiling subscription rules: %w", err)
	}
	return &Selector{rules: c}, nil
}

// WithCustomJSON is a copy of s that, before its rules, sends each client
// whose switch (or Default) is on Xray JSON, as Marzban does: the switches
// work whatever the rules say, and rules still decide for clients whose
// switch is off.
func (s *Selector) WithCustomJSON(c CustomJSON) *Selector {
	out := &Selector{}
	if s != nil {
		out.rules = s.rules
	}
	on := [4]bool{c.V2RayN, c.V2RayNG, c.Streisand, c.Happ}
	for i := range on {
		out.json[i] = c.Default || on[i]
	}
	return out
}

// Select returns the format of the first matching rule, V2Ray when none
// matches. A nil Selector uses no rules.
func (s *Selector) Select(userAgent string) Format {
	return s.Explain(userAgent).Format
}

// Match is Select that also tells which rule chose the format: its index
// in the rules the Selector was built from, -1 when none did (no rule
// matched, or a CustomJSON switch decided).
func (s *Selector) Match(userAgent string) (Format, int) {
	d := s.Explain(userAgent)
	return d.Format, d.Rule
}

// Decision is why a User-Agent gets its format.
type Decision struct {
	Format Format
	// Rule is the index of the rule that chose Format; -1 when none did.
	Rule int
	// Switch names the CustomJSON switch that chose Format (the client's
	// own, USE_CUSTOM_JSON_FOR_*, also when Default turned it on); empty
	// when none did.
	Switch string
}

// Explain picks the format of userAgent and tells what chose it.
func (s *Selector) Explain(userAgent string) Decision {
	if s == nil {
		return Decision{Format: V2Ray, Rule: -1}
	}
	if len(userAgent) > maxUserAgent {
		userAgent = userAgent[:maxUserAgent]
	}
	for i, on := range s.json {
		if on && compiledJSONClients[i].matches(userAgent) {
			return Decision{Format: V2RayJSON, Rule: -1, Switch: jsonClients[i].name}
		}
	}
	for i := range s.rules {
		if s.rules[i].matches(userAgent) {
			return Decision{Format: s.rules[i].format, Rule: i}
		}
	}
	return Decision{Format: V2Ray, Rule: -1}
}

// matches tells whether the rule takes userAgent (already cut to
// maxUserAgent).
func (r *compiledRule) matches(userAgent string) bool {
	if r.min == nil {
		return r.re.MatchString(userAgent)
	}
	m := r.re.FindStringSubmatchIndex(userAgent)
	if len(m) < 4 || m[2] < 0 {
		return false
	}
	return versionAtLeast(userAgent[m[2]:m[3]], r.min)
}
