package mcast

import (
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/windows"
)

// winsockSource does a source operation with Windows' own options
// (winSourceRequest): IP_ADD_SOURCE_MEMBERSHIP and its kin for IPv4,
// MCAST_JOIN_SOURCE_GROUP and its kin for IPv6.
func (c *Conn) winsockSource(op srcOp, ifi *net.Interface, group, source netip.Addr) error {
	index := 0
	if ifi != nil {
		index = ifi.Index
	}
	level, name, req := winSourceRequest(op, group, source, index)
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		serr = windows.Setsockopt(windows.Handle(fd), int32(level), int32(name), &req[0], int32(len(req)))
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt", serr)
	}
	return nil
}

// The SDK values that winsock.go defines are x/sys's where it has them.
const (
	_ = uint(windows.AF_INET6 - winAFInet6)
	_ = uint(winAFInet6 - windows.AF_INET6)
	_ = uint(windows.IPPROTO_IP - winIPProtoIP)
	_ = uint(winIPProtoIP - windows.IPPROTO_IP)
)
