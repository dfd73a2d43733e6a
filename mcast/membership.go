package mcast

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"

	"github.com/sharecast/sharecast/internal/sockerr"
)

// Membership is one group membership of a socket: a group joined on an
// interface, from any source (Source is the zero Addr) or from one source
// (source-specific multicast, RFC 4607).
type Membership struct {
	Group   netip.Addr
	Source  netip.Addr // zero for any-source
	IfIndex int        // 0: the interface the kernel chose
}

// String formats m as group[@source][%ifindex].
func (m Membership) String() string {
	s := m.Group.String()
	if m.Source.IsValid() {
		s += "@" + m.Source.String()
	}
	if m.IfIndex != 0 {
		s += fmt.Sprintf("%%%d", m.IfIndex)
	}
	return s
}

// JoinGroup joins group on ifi (nil: the interface the kernel chooses by
// its routing table) for datagrams from any source (IGMP, RFC 1112 and 3376;
// MLD, RFC 3810). Joining a membership the socket already has does nothing.
func (c *Conn) JoinGroup(ifi *net.Interface, group netip.Addr) error {
	return c.join(ifi, group, netip.Addr{})
}

// JoinSourceSpecificGroup joins group on ifi for datagrams from source only
// (IGMPv3, MLDv2; RFC 4607). Joining a membership the socket already has
// does nothing.
func (c *Conn) JoinSourceSpecificGroup(ifi *net.Interface, group, source netip.Addr) error {
	if !source.IsValid() {
		return fmt.Errorf("mcast: join %s: source-specific join without a source: %w", group, ErrInvalidConfig)
	}
	return c.join(ifi, group, source)
}

// LeaveGroup leaves an any-source membership. Leaving one the socket does
// not have does nothing.
func (c *Conn) LeaveGroup(ifi *net.Interface, group netip.Addr) error {
	return c.leave(ifi, group, netip.Addr{})
}

// LeaveSourceSpecificGroup leaves a source-specific membership. Leaving one
// the socket does not have does nothing.
func (c *Conn) LeaveSourceSpecificGroup(ifi *net.Interface, group, source netip.Addr) error {
	return c.leave(ifi, group, source)
}

// ExcludeSource blocks datagrams from source on an any-source membership of
// group on ifi (MCAST_BLOCK_SOURCE, RFC 3678). Blocking a blocked source does
// nothing.
func (c *Conn) ExcludeSource(ifi *net.Interface, group, source netip.Addr) error {
	m, err := c.membership(ifi, group, source)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.blocked[m]; ok {
		return nil
	}
	if err := c.sysSource(true, ifi, group, source); err != nil {
		return &OpError{Op: "block", Membership: m, Err: err}
	}
	c.blocked[m] = struct{}{}
	return nil
}

// IncludeSource unblocks a source that ExcludeSource blocked.
func (c *Conn) IncludeSource(ifi *net.Interface, group, source netip.Addr) error {
	m, err := c.membership(ifi, group, source)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.blocked[m]; !ok {
		return nil
	}
	if err := c.sysSource(false, ifi, group, source); err != nil {
		return &OpError{Op: "unblock", Membership: m, Err: err}
	}
	delete(c.blocked, m)
	return nil
}

// Memberships returns the socket's memberships, sorted.
func (c *Conn) Memberships() []Membership {
	c.mu.Lock()
	ms := slices.Collect(maps.Keys(c.members))
	c.mu.Unlock()
	slices.SortFunc(ms, compareMembership)
	return ms
}

// Blocked returns the sources blocked with ExcludeSource, sorted.
func (c *Conn) Blocked() []Membership {
	c.mu.Lock()
	ms := slices.Collect(maps.Keys(c.blocked))
	c.mu.Unlock()
	slices.SortFunc(ms, compareMembership)
	return ms
}

func compareMembership(a, b Membership) int {
	if r := a.Group.Compare(b.Group); r != 0 {
		return r
	}
	if r := a.Source.Compare(b.Source); r != 0 {
		return r
	}
	return a.IfIndex - b.IfIndex
}

// Rejoin joins m again in the kernel, without changing the socket's
// membership set: for package group, after an interface came back. A
// membership that the kernel still holds counts as joined: EADDRINUSE, or
// for a source-specific one EADDRNOTAVAIL, which Linux returns when the
// source is already in the socket's filter.
func (c *Conn) Rejoin(ifi *net.Interface, m Membership) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.members[m]; !ok {
		return fmt.Errorf("mcast: rejoin %s: not a membership of this socket: %w", m, ErrInvalidConfig)
	}
	err := c.sysJoin(true, ifi, m.Group, m.Source)
	if err != nil && !sockerr.Is(err, sockerr.AddrInUse) &&
		!(m.Source.IsValid() && sockerr.Is(err, sockerr.AddrNotAvail)) {
		return &OpError{Op: "rejoin", Membership: m, Err: err}
	}
	return nil
}

func (c *Conn) membership(ifi *net.Interface, group, source netip.Addr) (Membership, error) {
	group = group.Unmap()
	source = source.Unmap()
	m := Membership{Group: group, Source: source}
	if ifi != nil {
		m.IfIndex = ifi.Index
	}
	if !group.IsValid() || !group.IsMulticast() {
		return m, fmt.Errorf("mcast: group %s: %w", group, ErrNotMulticast)
	}
	if group.Is6() != c.ipv6 {
		return m, fmt.Errorf("mcast: group %s on a %s socket: %w", group, c.family(), ErrInvalidConfig)
	}
	if source.IsValid() && (source.Is6() != c.ipv6 || source.IsMulticast() || source.IsUnspecified()) {
		return m, fmt.Errorf("mcast: source %s for group %s: %w", source, group, ErrInvalidConfig)
	}
	return m, nil
}

func (c *Conn) family() string {
	if c.ipv6 {
		return "udp6"
	}
	return "udp4"
}

func (c *Conn) join(ifi *net.Interface, group, source netip.Addr) error {
	m, err := c.membership(ifi, group, source)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.members[m]; ok {
		return nil
	}
	if err := c.sysJoin(true, ifi, m.Group, m.Source); err != nil {
		return &OpError{Op: "join", Membership: m, Err: err}
	}
	c.members[m] = struct{}{}
	c.updateGroups()
	return nil
}

func (c *Conn) leave(ifi *net.Interface, group, source netip.Addr) error {
	m, err := c.membership(ifi, group, source)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.members[m]; !ok {
		return nil
	}
	err = c.sysJoin(false, ifi, m.Group, m.Source)
	// The kernel may have dropped the membership already (its interface
	// went away); the socket no longer has it either way.
	delete(c.members, m)
	for b := range c.blocked {
		if b.Group == m.Group && b.IfIndex == m.IfIndex {
			delete(c.blocked, b)
		}
	}
	c.updateGroups()
	if err != nil && !sockerr.Is(err, sockerr.AddrNotAvail) && !sockerr.Is(err, sockerr.NoDevice) {
		return &OpError{Op: "leave", Membership: m, Err: err}
	}
	return nil
}

// sysJoin joins or leaves through x/net, which picks each OS's request
// structure (ip_mreqn, group_req), and a source-specific membership through
// sourceOp.
func (c *Conn) sysJoin(join bool, ifi *net.Interface, group, source netip.Addr) error {
	if source.IsValid() {
		op := srcLeave
		if join {
			op = srcJoin
		}
		return c.sourceOp(op, ifi, group, source)
	}
	g := &net.UDPAddr{IP: group.AsSlice()}
	switch {
	case c.ipv6 && join:
		return c.p6.JoinGroup(ifi, g)
	case c.ipv6:
		return c.p6.LeaveGroup(ifi, g)
	case join:
		return c.p4.JoinGroup(ifi, g)
	default:
		return c.p4.LeaveGroup(ifi, g)
	}
}

func (c *Conn) sysSource(block bool, ifi *net.Interface, group, source netip.Addr) error {
	if block {
		return c.sourceOp(srcBlock, ifi, group, source)
	}
	return c.sourceOp(srcUnblock, ifi, group, source)
}

// OpError is the error of a membership operation. It names the membership
// and unwraps to the cause (a syscall error, or an error of package x/net).
type OpError struct {
	Op         string // "join", "leave", "rejoin", "block", "unblock"
	Membership Membership
	Err        error
}

func (e *OpError) Error() string {
	return "mcast: " + e.Op + " " + e.Membership.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the cause is a timeout, so that *OpError
// satisfies net.Error.
func (e *OpError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// Temporary is part of net.Error; it reports false, as every membership
// error needs a change of state (or of arguments) to go away.
func (e *OpError) Temporary() bool { return false }

var _ net.Error = (*OpError)(nil)
