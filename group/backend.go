package group

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/internal/sockerr"
	"github.com/sharecast/sharecast/mcast"
)

// backend is what a Set asks of the kernel. connBackend is the real one,
// over an *mcast.Conn; tests give a fake.
type backend interface {
	// join and leave a membership; source is the zero Addr for any-source.
	join(ifi *net.Interface, group, source netip.Addr) error
	leave(ifi *net.Interface, group, source netip.Addr) error
	// block or unblock a source of an any-source membership.
	block(ifi *net.Interface, group, source netip.Addr, on bool) error
	// rejoin joins again a membership that the socket has, after its
	// interface came back; one the kernel still holds is no error.
	rejoin(ifi *net.Interface, group, source netip.Addr) error
	// purge leaves group on ifi as a whole, at the socket, whatever the
	// Conn's membership set says: see Set.release.
	purge(ifi *net.Interface, group netip.Addr) error
	// held reports whether the kernel lists group on interface index
	// (known is false where the OS does not say).
	held(index int, group netip.Addr) (held, known bool)
	// memberships counts the socket's (group, interface) memberships and
	// the sources of (group, index), for the messages of limit errors.
	memberships(group netip.Addr, index int) (groups, sources int)
	ipv6() bool
	port() uint16
}

// connBackend joins through mcast.Conn, which joins through x/net (and on
// Windows sets the source options that x/net lacks itself) and keeps the
// socket's membership set for its destination filter.
type connBackend struct {
	c *mcast.Conn
}

func (b connBackend) join(ifi *net.Interface, group, source netip.Addr) error {
	if source.IsValid() {
		return b.c.JoinSourceSpecificGroup(ifi, group, source)
	}
	return b.c.JoinGroup(ifi, group)
}

func (b connBackend) leave(ifi *net.Interface, group, source netip.Addr) error {
	if source.IsValid() {
		return b.c.LeaveSourceSpecificGroup(ifi, group, source)
	}
	return b.c.LeaveGroup(ifi, group)
}

func (b connBackend) block(ifi *net.Interface, group, source netip.Addr, on bool) error {
	if on {
		return b.c.ExcludeSource(ifi, group, source)
	}
	return b.c.IncludeSource(ifi, group, source)
}

func (b connBackend) rejoin(ifi *net.Interface, group, source netip.Addr) error {
	m := mcast.Membership{Group: group, Source: source}
	if ifi != nil {
		m.IfIndex = ifi.Index
	}
	err := b.c.Rejoin(ifi, m)
	// Linux refuses a source-specific join of a source that the socket
	// has already with EADDRNOTAVAIL (ip_mc_source, ip6_mc_source), where
	// any-source joins say EADDRINUSE, which Rejoin takes for success.
	// Whether the interface still holds the group is checked after.
	if err != nil && source.IsValid() && sockerr.Is(err, sockerr.AddrNotAvail) {
		return nil
	}
	return err
}

func (b connBackend) purge(ifi *net.Interface, group netip.Addr) error {
	g := &net.UDPAddr{IP: group.AsSlice()}
	if b.c.IPv6() {
		return ipv6.NewPacketConn(b.c.UDPConn()).LeaveGroup(ifi, g)
	}
	return ipv4.NewPacketConn(b.c.UDPConn()).LeaveGroup(ifi, g)
}

func (b connBackend) held(index int, group netip.Addr) (bool, bool) {
	return kernelHolds(group.Is6(), index, group)
}

func (b connBackend) memberships(group netip.Addr, index int) (groups, sources int) {
	type gi struct {
		g netip.Addr
		i int
	}
	seen := make(map[gi]struct{})
	for _, m := range b.c.Memberships() {
		seen[gi{m.Group, m.IfIndex}] = struct{}{}
		if m.Group == group && m.IfIndex == index && m.Source.IsValid() {
			sources++
		}
	}
	for _, m := range b.c.Blocked() {
		if m.Group == group && m.IfIndex == index {
			sources++
		}
	}
	return len(seen), sources
}

func (b connBackend) ipv6() bool   { return b.c.IPv6() }
func (b connBackend) port() uint16 { return b.c.LocalAddr().Port() }
