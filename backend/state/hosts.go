package state

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// Host is one way to reach an inbound, as the API and the store carry it.
type Host = store.Host

// Limits on hosts: enough for any real deployment, small enough that one
// PUT cannot make every subscription fetch render thousands of links.
const (
	maxHostsPerInbound = 100
	maxHostsTotal      = 1000
	maxHostText        = 256  // remark, address, path, fragment
	maxHostList        = 1000 // sni, host: comma lists
	maxNoise           = 2048
)

var hostFingerprints = map[string]bool{
	"": true, "chrome": true, "firefox": true, "safari": true, "ios": true, "android": true,
	"edge": true, "360": true, "qq": true, "random": true, "randomized": true,
}

var hostALPN = map[string]bool{"h3": true, "h2": true, "http/1.1": true}

var (
	// fragment_setting: "length,interval,packets" as Xray's fragment takes
	// them, each a number or a range; packets may be "tlshello".
	fragmentRE = regexp.MustCompile(`^(\d{1,5}(-\d{1,5})?),(\d{1,5}(-\d{1,5})?),(tlshello|\d{1,3}(-\d{1,3})?)$`)
	// One noise_setting item: "type:packet[,delay]"; items are joined by "&".
	noiseItemRE = regexp.MustCompile(`^(rand|str|base64|hex):([^,&\s]{1,256})(,\d{1,5}(-\d{1,5})?)?$`)
	// pinned_peer_cert_sha256: comma list of hex SHA-256 digests (colons
	// between bytes allowed, as openssl prints them).
	pinnedRE = regexp.MustCompile(`^[0-9a-fA-F:]{64,95}$`)
)

// ValidateHosts checks every host of every list against the fields'
// rules and the inbound tags of the core config; the error names the first
// bad field as "hosts.<tag>[<i>].<field>: <why>".
func ValidateHosts(hosts map[string][]Host, knownTags map[string]string) error {
	tags := make([]string, 0, len(hosts))
	total := 0
	for tag, list := range hosts {
		tags = append(tags, tag)
		total += len(list)
	}
	sort.Strings(tags) // the first error is the same on every run
	if total > maxHostsTotal {
		return invalid("hosts: at most %d hosts in all", maxHostsTotal)
	}
	for _, tag := range tags {
		if _, ok := knownTags[tag]; !ok {
			return invalid("hosts: inbound %q not found in the core config", truncate(tag, 64))
		}
		list := hosts[tag]
		if len(list) > maxHostsPerInbound {
			return invalid("hosts.%s: at most %d hosts per inbound", tag, maxHostsPerInbound)
		}
		for i := range list {
			if err := validateHost(&list[i]); err != nil {
				return invalid("hosts.%s[%d].%s", tag, i, err.Error())
			}
		}
	}
	return nil
}

type fieldError struct{ field, why string }

func (e *fieldError) Error() string { return e.field + ": " + e.why }

func validateHost(h *Host) error {
	bad := func(field, why string) error { return &fieldError{field, why} }
	texts := []struct {
		field, v string
		max      int
	}{
		{"remark", h.Remark, maxHostText}, {"address", h.Address, maxHostText}, {"sni", h.SNI, maxHostList},
		{"host", h.Host, maxHostList}, {"path", h.Path, maxHostText}, {"alpn", h.ALPN, 64},
		{"fingerprint", h.Fingerprint, 32}, {"fragment_setting", h.FragmentSetting, maxHostText},
		{"noise_setting", h.NoiseSetting, maxNoise}, {"pinned_peer_cert_sha256", h.PinnedPeerCertSHA256, maxHostList},
		{"verify_peer_cert_by_name", h.VerifyPeerCertByName, maxHostText},
	}
	for _, t := range texts {
		if len(t.v) > t.max {
			return bad(t.field, fmt.Sprintf("at most %d bytes", t.max))
		}
		if !printable(t.v) {
			return bad(t.field, "must be valid UTF-8 without control characters")
		}
	}
	if strings.TrimSpace(h.Remark) == "" {
		return bad("remark", "required")
	}
	if strings.TrimSpace(h.Address) == "" {
		return bad("address", "required")
	}
	for _, f := range []struct{ field, v string }{{"address", h.Address}, {"sni", h.SNI}, {"host", h.Host}, {"verify_peer_cert_by_name", h.VerifyPeerCertByName}} {
		if err := validateNameList(f.v); err != "" {
			return bad(f.field, err)
		}
	}
	if h.Port != nil && (*h.Port < 1 || *h.Port > 65535) {
		return bad("port", "must be between 1 and 65535, or null for the inbound's port")
	}
	if strings.ContainsAny(h.Path, " \\") {
		return bad("path", "must not contain spaces or backslashes")
	}
	switch h.Security {
	case "":
		h.Security = sub.HostSecurityInboundDefault
	case sub.HostSecurityInboundDefault, sub.HostSecurityNone, sub.HostSecurityTLS:
	default:
		return bad("security", "must be inbound_default, none or tls")
	}
	if h.ALPN != "" {
		seen := map[string]bool{}
		for _, p := range strings.Split(h.ALPN, ",") {
			if !hostALPN[p] || seen[p] {
				return bad("alpn", "a comma list of distinct h3, h2, http/1.1")
			}
			seen[p] = true
		}
	}
	if !hostFingerprints[h.Fingerprint] {
		return bad("fingerprint", "one of chrome, firefox, safari, ios, android, edge, 360, qq, random, randomized")
	}
	if h.FragmentSetting != "" && !fragmentRE.MatchString(h.FragmentSetting) {
		return bad("fragment_setting", `"length,interval,packets" like "100-200,10-20,tlshello"`)
	}
	if h.NoiseSetting != "" {
		for _, item := range strings.Split(h.NoiseSetting, "&") {
			if !noiseItemRE.MatchString(item) {
				return bad("noise_setting", `"type:packet[,delay]" items joined by "&", type rand|str|base64|hex, like "rand:10-20,10-16"`)
			}
		}
	}
	if h.PinnedPeerCertSHA256 != "" {
		for _, p := range strings.Split(h.PinnedPeerCertSHA256, ",") {
			if !pinnedRE.MatchString(p) || len(strings.ReplaceAll(p, ":", "")) != 64 {
				return bad("pinned_peer_cert_sha256", "a comma list of hex SHA-256 digests")
			}
		}
	}
	return nil
}

// validateNameList checks a comma list of host names or addresses, where
// "*" and {VARIABLES} are allowed; it returns why it is bad, or "".
func validateNameList(s string) string {
	if s == "" {
		return ""
	}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return "empty entry in the comma list"
		}
		if strings.ContainsAny(e, " /\\@?#\"'<>`") {
			return fmt.Sprintf("%q is not a host name or address", truncate(e, 64))
		}
	}
	return ""
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Hosts returns the host list of every inbound of the core config, in the
// API's shape: an inbound without an explicit list shows the default host
// its links use ({SERVER_IP} is the panel's public address), so a client
// that reads, edits and writes back the whole dict keeps what it did not
// touch.
func (s *State) Hosts(ctx context.Context) (map[string][]Host, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	var stored map[string][]Host
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		stored, err = tx.Hosts()
		return err
	}); err != nil {
		return nil, fmt.Errorf("loading hosts: %w", err)
	}
	out := make(map[string][]Host, len(cfg.inbounds))
	for _, in := range cfg.inbounds {
		if !in.AcceptsUsers {
			continue
		}
		if list, ok := stored[in.Tag]; ok {
			out[in.Tag] = list
			continue
		}
		d := sub.DefaultHost(in.Tag, "{SERVER_IP}")
		out[in.Tag] = []Host{{Remark: d.Remark, Address: d.Address, Security: d.Security}}
	}
	return out, nil
}

// SetHosts replaces every explicit host list: each tag of hosts gets
// exactly its list (an empty one means no links for that inbound), every
// other inbound goes back to the default host. Hosts do not reach nodes,
// so no revision is taken; the hosts version tells subscription servers.
func (s *State) SetHosts(ctx context.Context, hosts map[string][]Host) error {
	cfg, err := s.core(ctx)
	if err != nil {
		return err
	}
	if err := ValidateHosts(hosts, cfg.tags); err != nil {
		return err
	}
	for tag, list := range hosts {
		if list == nil {
			hosts[tag] = []Host{}
		}
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		before, err := tx.Hosts()
		if err != nil {
			return err
		}
		if _, err := tx.ReplaceHosts(hosts); err != nil {
			return err
		}
		// By inbound tag: one changed list is one changed key.
		b, a := hostsAudit(before, hosts)
		return auditRow(tx, "hosts.set", "/api/hosts", 0, b, a)
	})
}

// DraftLinkHosts checks a draft of PUT /api/hosts exactly as SetHosts does
// and returns what links would be rendered from if it were saved: the core
// config's inbounds and the draft in the renderer's shape, where a tag the
// draft leaves out gets the default host (nil list) as after a save.
// Nothing is stored.
func (s *State) DraftLinkHosts(ctx context.Context, hosts map[string][]Host) ([]xrayconf.Inbound, map[string][]sub.Host, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := ValidateHosts(hosts, cfg.tags); err != nil {
		return nil, nil, err
	}
	// subHosts makes every list non-nil: a tag given [] or null gets no
	// links, as after a save.
	return cfg.inbounds, subHosts(hosts), nil
}

// subHosts is what the renderer takes.
func subHosts(stored map[string][]Host) map[string][]sub.Host {
	out := make(map[string][]sub.Host, len(stored))
	for tag, list := range stored {
		hs := make([]sub.Host, len(list))
		for i, h := range list {
			hs[i] = sub.Host{
				Remark: h.Remark, Address: h.Address, SNI: h.SNI, Host: h.Host, Path: h.Path,
				Security: h.Security, ALPN: h.ALPN, Fingerprint: h.Fingerprint, AllowInsecure: h.AllowInsecure,
				PinnedPeerCertSHA256: h.PinnedPeerCertSHA256, VerifyPeerCertByName: h.VerifyPeerCertByName,
				UseSNIAsHost: h.UseSNIAsHost, IsDisabled: h.IsDisabled, MuxEnable: h.MuxEnable,
				FragmentSetting: h.FragmentSetting, NoiseSetting: h.NoiseSetting, RandomUserAgent: h.RandomUserAgent,
			}
			if h.Port != nil {
				hs[i].Port = *h.Port
			}
		}
		out[tag] = hs
	}
	return out
}
