package mcast

import (
	"encoding/binary"
	"net/netip"
)

// Windows' source-specific multicast options, which golang.org/x/sys/windows
// does not define (and golang.org/x/net does not use: it joins only
// any-source groups on Windows). The values are those of the Windows SDK's
// ws2ipdef.h; this file is compiled on every OS so that winsock_test.go
// checks them, and the requests' layouts, everywhere.
const (
	// Level IPPROTO_IP, with an IP_MREQ_SOURCE.
	winIPAddSourceMembership  = 15 // IP_ADD_SOURCE_MEMBERSHIP: join a group from one source
	winIPDropSourceMembership = 16 // IP_DROP_SOURCE_MEMBERSHIP: leave it
	winIPBlockSource          = 17 // IP_BLOCK_SOURCE: block a source of an any-source group
	winIPUnblockSource        = 18 // IP_UNBLOCK_SOURCE: unblock it

	// The protocol-independent options of RFC 3678 (Windows Vista and
	// later), with a GROUP_SOURCE_REQ; mcast uses them at level
	// IPPROTO_IPV6.
	winMcastBlockSource       = 43 // MCAST_BLOCK_SOURCE
	winMcastUnblockSource     = 44 // MCAST_UNBLOCK_SOURCE
	winMcastJoinSourceGroup   = 45 // MCAST_JOIN_SOURCE_GROUP
	winMcastLeaveSourceGroup  = 46 // MCAST_LEAVE_SOURCE_GROUP
	winAFInet6                = 23 // AF_INET6 (Linux's is 10)
	winSizeofGroupSourceReq   = 264
	winSizeofSockaddrStorage  = 128
	winGroupSourceReqGroupOff = 8 // gsr_group: after the ULONG, aligned to SOCKADDR_STORAGE's __int64
)

// winSourceRequest returns the level, the option and the request of a
// source operation on Windows, for an interface index (0: the default
// multicast interface).
//
// IPv4 takes IP_MREQ_SOURCE (ws2ipdef.h): three IN_ADDRs, group, source,
// interface, in this order (not the order of Linux's struct ip_mreq_source,
// which puts the interface second); the interface is an address, or an
// index written as an address in 0.0.0.0/8 in network byte order ("an index
// of 1 is the address 0.0.0.1").
//
// IPv6 takes GROUP_SOURCE_REQ { ULONG gsr_interface; SOCKADDR_STORAGE
// gsr_group; SOCKADDR_STORAGE gsr_source; }: 264 bytes, the interface index
// at 0, the group's SOCKADDR_IN6 at 8 and the source's at 136. A
// SOCKADDR_IN6 is { ADDRESS_FAMILY sin6_family (23); USHORT sin6_port;
// ULONG sin6_flowinfo; IN6_ADDR sin6_addr; ULONG sin6_scope_id; }.
func winSourceRequest(op srcOp, group, source netip.Addr, index int) (level, name int, req []byte) {
	if group.Is4() {
		req = make([]byte, 12)
		g, s := group.As4(), source.As4()
		copy(req, g[:])
		copy(req[4:], s[:])
		binary.BigEndian.PutUint32(req[8:], uint32(index))
		name = [...]int{winIPAddSourceMembership, winIPDropSourceMembership, winIPBlockSource, winIPUnblockSource}[op]
		return winIPProtoIP, name, req
	}
	req = make([]byte, winSizeofGroupSourceReq)
	binary.LittleEndian.PutUint32(req, uint32(index))
	putWinSockaddrIn6(req[winGroupSourceReqGroupOff:], group)
	putWinSockaddrIn6(req[winGroupSourceReqGroupOff+winSizeofSockaddrStorage:], source)
	name = [...]int{winMcastJoinSourceGroup, winMcastLeaveSourceGroup, winMcastBlockSource, winMcastUnblockSource}[op]
	return winIPProtoIPv6, name, req
}

// putWinSockaddrIn6 writes a as a Windows SOCKADDR_IN6 with port 0.
func putWinSockaddrIn6(b []byte, a netip.Addr) {
	binary.LittleEndian.PutUint16(b, winAFInet6)
	a16 := a.As16()
	copy(b[8:24], a16[:])
}
