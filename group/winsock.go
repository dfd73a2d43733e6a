package group

import (
	"encoding/binary"
	"net/netip"
)

// Socket options of Windows for source-specific IPv4 multicast, which
// golang.org/x/sys/windows does not define (and golang.org/x/net/ipv4 does
// not use: it joins any-source groups only on Windows). The values are
// those of the Windows SDK, ws2ipdef.h, for level IPPROTO_IP; this file is
// compiled on every OS so that winsock_test.go checks them everywhere.
const (
	winIPAddSourceMembership  = 15 // IP_ADD_SOURCE_MEMBERSHIP: join a group from one source
	winIPDropSourceMembership = 16 // IP_DROP_SOURCE_MEMBERSHIP: leave it
	winIPBlockSource          = 17 // IP_BLOCK_SOURCE: block a source of an any-source group
	winIPUnblockSource        = 18 // IP_UNBLOCK_SOURCE: unblock it
)

// winIPMreqSource is IP_MREQ_SOURCE of ws2ipdef.h: three IN_ADDRs, in this
// order (not the order of Linux's struct ip_mreq_source, which puts the
// interface second).
type winIPMreqSource struct {
	Multiaddr  [4]byte // the group
	Sourceaddr [4]byte // the source
	Interface  [4]byte // the interface: an address, or an index as 0.0.0.index
}

// newWinIPMreqSource fills an IP_MREQ_SOURCE. Windows takes an
// interface index in imr_interface written as an address in 0.0.0.0/8, in
// network byte order ("an index of 1 is the address 0.0.0.1"); 0 means the
// default multicast interface.
func newWinIPMreqSource(group, source netip.Addr, index int) winIPMreqSource {
	var r winIPMreqSource
	r.Multiaddr = group.As4()
	r.Sourceaddr = source.As4()
	binary.BigEndian.PutUint32(r.Interface[:], uint32(index))
	return r
}

// winSourceOption returns the option of a source operation.
func winSourceOption(op srcOp) int {
	switch op {
	case srcJoin:
		return winIPAddSourceMembership
	case srcLeave:
		return winIPDropSourceMembership
	case srcBlock:
		return winIPBlockSource
	}
	return winIPUnblockSource
}
