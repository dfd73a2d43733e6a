//go:build !windows

package mcast

import (
	"net"
	"net/netip"
)

// winsockSource is Windows' own source path, which no other OS takes
// (sourcePaths).
func (c *Conn) winsockSource(op srcOp, ifi *net.Interface, group, source netip.Addr) error {
	return notSupported(op.String() + " through Windows' options")
}
