package mcast

import (
	"fmt"
	"net"
	"net/netip"
)

// srcOp is a source-specific operation: a join or leave of a group from one
// source, or a block or unblock of one source of an any-source group.
type srcOp int

const (
	srcJoin    srcOp = iota // join a source-specific group
	srcLeave                // leave it
	srcBlock                // block a source of an any-source group
	srcUnblock              // unblock it
)

func (op srcOp) String() string {
	switch op {
	case srcJoin:
		return "source-specific join"
	case srcLeave:
		return "source-specific leave"
	case srcBlock:
		return "source block"
	}
	return "source unblock"
}

// srcPath says who does an OS's source operations.
type srcPath int

const (
	srcNone    srcPath = iota // nobody: ErrNotSupported
	srcXNet                   // golang.org/x/net (MCAST_JOIN_SOURCE_GROUP and kin)
	srcWinsock                // mcast, with Windows' own options (winsock.go)
)

// sourcePaths holds each OS's source path: x/net has the source options on
// Linux, macOS and FreeBSD only (its sys_ssmreq.go), and none on Windows,
// where mcast sets them itself. Other OSes have none.
var sourcePaths = map[string]srcPath{
	"linux":   srcXNet,
	"darwin":  srcXNet,
	"freebsd": srcXNet,
	"windows": srcWinsock,
}

// sourceOp does a source operation by the running OS's path. Where there is
// none it returns an error that wraps ErrNotSupported, rather than x/net's
// "not implemented".
func (c *Conn) sourceOp(op srcOp, ifi *net.Interface, group, source netip.Addr) error {
	return c.sourceOpOn(goos, op, ifi, group, source)
}

// sourceOpOn is sourceOp by the path of goos: a test on Linux takes the
// path of an OS that has none.
func (c *Conn) sourceOpOn(goos string, op srcOp, ifi *net.Interface, group, source netip.Addr) error {
	switch sourcePaths[goos] {
	case srcWinsock:
		return c.winsockSource(op, ifi, group, source)
	case srcXNet:
	default:
		return fmt.Errorf("%s on %s: %w", op, goos, ErrNotSupported)
	}
	g := &net.UDPAddr{IP: group.AsSlice()}
	s := &net.UDPAddr{IP: source.AsSlice()}
	switch {
	case c.ipv6 && op == srcJoin:
		return c.p6.JoinSourceSpecificGroup(ifi, g, s)
	case c.ipv6 && op == srcLeave:
		return c.p6.LeaveSourceSpecificGroup(ifi, g, s)
	case c.ipv6 && op == srcBlock:
		return c.p6.ExcludeSourceSpecificGroup(ifi, g, s)
	case c.ipv6:
		return c.p6.IncludeSourceSpecificGroup(ifi, g, s)
	case op == srcJoin:
		return c.p4.JoinSourceSpecificGroup(ifi, g, s)
	case op == srcLeave:
		return c.p4.LeaveSourceSpecificGroup(ifi, g, s)
	case op == srcBlock:
		return c.p4.ExcludeSourceSpecificGroup(ifi, g, s)
	}
	return c.p4.IncludeSourceSpecificGroup(ifi, g, s)
}
