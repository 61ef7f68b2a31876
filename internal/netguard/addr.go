// Package netguard builds HTTP clients that refuse to connect to internal
// addresses, so that a configured webhook URL cannot be used to reach
// services behind the firewall (server-side request forgery).
//
// The check runs at dial time on every address the host name resolves
// to, and the connection is made to the checked address, so a DNS answer
// that changes between check and use (DNS rebinding) cannot pass. It
// refuses loopback, private, link-local, shared (CGNAT), unspecified,
// multicast, broadcast and reserved addresses, their IPv4-mapped and
// NAT64 forms, and the cloud metadata endpoints, unless an allow-list of
// prefixes names them. Redirects are re-checked by the same dialer, are
// followed a bounded number of times, and never from https to http.
package netguard

import (
	"fmt"
	"net/netip"
)

// Reasons an address is refused, as they appear in errors.
const (
	ReasonLoopback    = "loopback address"
	ReasonPrivate     = "private address"
	ReasonLinkLocal   = "link-local address"
	ReasonMetadata    = "cloud metadata address"
	ReasonShared      = "shared address space (carrier-grade NAT)"
	ReasonUnspecified = "unspecified address"
	ReasonThisNetwork = "this-network address"
	ReasonMulticast   = "multicast address"
	ReasonBroadcast   = "broadcast address"
	ReasonReserved    = "reserved address"
	ReasonSiteLocal   = "site-local address"
	ReasonCompatible  = "IPv4-compatible address"
)

// metadata lists the cloud instance metadata endpoints: AWS, GCP and
// Azure use 169.254.169.254 (GCP's metadata.google.internal resolves to
// it), AWS Nitro also serves fd00:ec2::254, Alibaba 100.100.100.200.
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

type denyRange struct {
	prefix netip.Prefix
	reason string
}

// denied lists the refused IPv4 ranges, then the IPv6 ones. IPv4-mapped
// (::ffff:0:0/96) and NAT64 (64:ff9b::/96, 64:ff9b:1::/48) addresses and
// 6to4 (2002::/16) addresses are checked by the IPv4 address they carry.
var denied = []denyRange{
	{netip.MustParsePrefix("0.0.0.0/32"), ReasonUnspecified},
	{netip.MustParsePrefix("0.0.0.0/8"), ReasonThisNetwork},
	{netip.MustParsePrefix("10.0.0.0/8"), ReasonPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), ReasonShared},
	{netip.MustParsePrefix("127.0.0.0/8"), ReasonLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), ReasonLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), ReasonPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), ReasonReserved},
	{netip.MustParsePrefix("192.168.0.0/16"), ReasonPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), ReasonReserved},
	{netip.MustParsePrefix("224.0.0.0/4"), ReasonMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), ReasonBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), ReasonReserved},

	{netip.MustParsePrefix("::/128"), ReasonUnspecified},
	{netip.MustParsePrefix("::1/128"), ReasonLoopback},
	{netip.MustParsePrefix("::/96"), ReasonCompatible},
	{netip.MustParsePrefix("100::/64"), ReasonReserved}, // discard-only
	{netip.MustParsePrefix("fc00::/7"), ReasonPrivate},
	{netip.MustParsePrefix("fe80::/10"), ReasonLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), ReasonSiteLocal},
	{netip.MustParsePrefix("ff00::/8"), ReasonMulticast},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	nat64Loc  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Classify returns why addr is refused by default, or "" when it is a
// public address. An IPv6 address that carries an IPv4 address
// (IPv4-mapped, NAT64, 6to4) is judged by the IPv4 address.
func Classify(addr netip.Addr) string {
	addr = addr.WithZone("")
	for _, m := range metadata {
		if addr == m {
			return ReasonMetadata
		}
	}
	if !addr.IsValid() {
		return ReasonUnspecified
	}
	if v4, ok := embeddedV4(addr); ok {
		if r := Classify(v4); r != "" {
			return r
		}
		if addr.Is4In6() {
			return ""
		}
	}
	for _, d := range denied {
		if d.prefix.Contains(addr) {
			return d.reason
		}
	}
	return ""
}

// embeddedV4 returns the IPv4 address an IPv6 address carries.
func embeddedV4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case addr.Is4In6():
		return addr.Unmap(), true
	case nat64.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case nat64Loc.Contains(addr):
		// RFC 8215 local-use prefix; the common /96 layout.
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// Policy decides which addresses may be dialled.
type Policy struct {
	// Allow lists prefixes that may be dialled although Classify refuses
	// them. A cloud metadata address is allowed only by a prefix that
	// names it alone (a /32 or /128), so that allowing a whole link-local
	// or private range does not also open the metadata endpoint.
	Allow []netip.Prefix
	// Setting names the configuration key that holds Allow, for error
	// messages (default "notify.allow_private_targets").
	Setting string
}

// Check returns a *DeniedError when addr may not be dialled for host.
func (p *Policy) Check(host string, addr netip.Addr) error {
	reason := Classify(addr)
	if reason == "" || p.allowed(addr, reason) {
		return nil
	}
	setting := p.Setting
	if setting == "" {
		setting = "notify.allow_private_targets"
	}
	return &DeniedError{Host: host, Addr: addr.WithZone(""), Reason: reason, Setting: setting}
}

func (p *Policy) allowed(addr netip.Addr, reason string) bool {
	addr = addr.WithZone("")
	forms := []netip.Addr{addr}
	if v4, ok := embeddedV4(addr); ok {
		forms = append(forms, v4)
	}
	for _, pr := range p.Allow {
		for _, a := range forms {
			if !pr.Contains(a) {
				continue
			}
			if reason != ReasonMetadata || pr.IsSingleIP() {
				return true
			}
		}
	}
	return false
}

// DeniedError says that a host resolved to an address that may not be
// dialled. It names the host and the address, never a URL's path or
// query, which may carry a token.
type DeniedError struct {
	Host    string
	Addr    netip.Addr
	Reason  string
	Setting string
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *DeniedError) Is(target error) bool { return target == ErrRefused }

func (e *DeniedError) Error() string {
	target := e.Addr.String()
	if e.Addr.Is6() && !e.Addr.Is4In6() {
		target = "[" + target + "]"
	}
	name := ""
	if e.Host != "" && e.Host != e.Addr.String() {
		name = " for host " + e.Host
	}
	hint := fmt.Sprintf("%s/%d", e.Addr.String(), e.Addr.BitLen())
	return fmt.Sprintf("refusing to connect to %s (%s)%s; add %s to %s to allow it",
		target, e.Reason, name, hint, e.Setting)
}
