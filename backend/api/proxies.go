package api

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ParseTrustedProxies reads --trusted-proxies entries: addresses
// ("10.0.0.1") or CIDRs ("10.0.0.0/8", "fd00::/8"). Config validation and
// New share it, so what starts is what was checked.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR", e)
			}
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR", e)
		}
		a = a.Unmap()
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return prefixes, nil
}

// proxyTrust says which peers' X-Forwarded-* headers are believed.
type proxyTrust []netip.Prefix

func (t proxyTrust) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fiberList is the list Fiber's own proxy check takes, which governs
// c.Hostname() and c.Protocol() (X-Forwarded-Host/Proto): single addresses
// as addresses, ranges as CIDRs.
func (t proxyTrust) fiberList() []string {
	list := make([]string, 0, len(t))
	for _, p := range t {
		if p.IsSingleIP() {
			list = append(list, p.Addr().String())
		} else {
			list = append(list, p.String())
		}
	}
	return list
}

// clientIP is the address a request comes from. The peer is the client
// unless it is a trusted proxy; then X-Forwarded-For is read from the right
// (each proxy appends the address it heard from), skipping trusted proxies,
// and the first address no trusted proxy vouches for is the client. The
// left end of the header is whatever the client chose to send, so it is
// never believed on its own.
func (s *server) clientIP(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if !s.proxies.trusts(peer) {
		return peer
	}
	hops := strings.Split(string(c.Request().Header.Peek(fiber.HeaderXForwardedFor)), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			ap, perr := netip.ParseAddrPort(hop)
			if perr != nil {
				// Garbage past a trusted proxy: the proxy is the last
				// address anybody we trust vouches for.
				return peer
			}
			a = ap.Addr()
		}
		a = a.Unmap()
		if !s.proxies.trusts(a) {
			return a
		}
		peer = a
	}
	return peer
}

// rateAddress is the part of a client address that login limits count:
// the address itself for IPv4, its /64 for IPv6, since one subscriber
// holds a whole /64 and could otherwise take a fresh address per guess.
func rateAddress(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
