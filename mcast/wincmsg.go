package mcast

import (
	"encoding/binary"
	"net/netip"
)

// Windows' control messages, as WSARecvMsg (which Go's ReadMsgUDP calls on
// Windows) leaves them in WSAMSG.Control. x/net parses no control messages
// on Windows, so mcast does; this file is compiled on every OS, so that its
// tests feed it Windows-layout bytes on Linux.
//
// The values are those of the Windows SDK (ws2def.h, ws2ipdef.h):
//
//	IPPROTO_IP 0, IPPROTO_IPV6 41, IP_PKTINFO 19, IPV6_PKTINFO 19
//	typedef struct _WSACMSGHDR { SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type; } WSACMSGHDR;
//	typedef struct in_pktinfo { IN_ADDR ipi_addr; ULONG ipi_ifindex; } IN_PKTINFO;
//	typedef struct in6_pktinfo { IN6_ADDR ipi6_addr; ULONG ipi6_ifindex; } IN6_PKTINFO;
//
// The header is aligned to SIZE_T (WSA_CMSGHDR_ALIGN) and the data to
// MAX_NATURAL_ALIGNMENT (8 on 64-bit Windows, 4 on 32-bit): both are the
// pointer size, the word of parseWinControl.
const (
	winIPProtoIP   = 0  // IPPROTO_IP
	winIPProtoIPv6 = 41 // IPPROTO_IPV6
	winIPPktInfo   = 19 // IP_PKTINFO, option and control message type
	winIPv6PktInfo = 19 // IPV6_PKTINFO, option and control message type

	winInPktInfoSize  = 8  // sizeof(IN_PKTINFO)
	winIn6PktInfoSize = 20 // sizeof(IN6_PKTINFO)
)

// winOOBSize is the control-message space a Windows read gives: one
// IN6_PKTINFO (the larger) behind a 16-byte header, 40 bytes with its
// padding, with room to spare.
const winOOBSize = 128

// pktInfo is what a datagram's control messages say about where it went.
type pktInfo struct {
	dst     netip.Addr
	ifindex int
}

// parseWinControl reads the IP_PKTINFO and IPV6_PKTINFO control messages
// in b, laid out as Windows lays out WSACMSGHDRs for a pointer size of word
// bytes (8 or 4), into m, and skips the others. It never reads past b and
// allocates nothing; a malformed message stops the parse with
// errBadControl, keeping what was read before it.
func parseWinControl(b []byte, word int, m *pktInfo) error {
	hdr := 2*4 + word // SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type
	align := func(n int) int { return (n + word - 1) &^ (word - 1) }
	data := align(hdr) // WSA_CMSG_DATA: the data after the aligned header
	for len(b) > 0 {
		if len(b) < hdr {
			return errBadControl
		}
		var l uint64
		if word == 8 {
			l = binary.LittleEndian.Uint64(b)
		} else {
			l = uint64(binary.LittleEndian.Uint32(b))
		}
		if l < uint64(data) || l > uint64(len(b)) {
			return errBadControl
		}
		level := int32(binary.LittleEndian.Uint32(b[word:]))
		typ := int32(binary.LittleEndian.Uint32(b[word+4:]))
		d := b[data:l]
		switch {
		case level == winIPProtoIP && typ == winIPPktInfo:
			if len(d) < winInPktInfoSize {
				return errBadControl
			}
			m.dst = netip.AddrFrom4([4]byte(d[:4]))
			m.ifindex = int(binary.LittleEndian.Uint32(d[4:]))
		case level == winIPProtoIPv6 && typ == winIPv6PktInfo:
			if len(d) < winIn6PktInfoSize {
				return errBadControl
			}
			m.dst = netip.AddrFrom16([16]byte(d[:16])).Unmap()
			m.ifindex = int(binary.LittleEndian.Uint32(d[16:]))
		}
		next := align(int(l)) // WSA_CMSGHDR_ALIGN(cmsg_len)
		if next >= len(b) {
			return nil
		}
		b = b[next:]
	}
	return nil
}
