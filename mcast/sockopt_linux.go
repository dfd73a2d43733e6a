package mcast

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const goos = "linux"

// sysOpt maps an option name to Linux's level and number.
func sysOpt(id optID) (level, name int, ok bool) {
	switch id {
	case optReuseAddr:
		return unix.SOL_SOCKET, unix.SO_REUSEADDR, true
	case optReusePort:
		return unix.SOL_SOCKET, unix.SO_REUSEPORT, true
	case optMulticastAll4:
		return unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, true
	case optMulticastAll6:
		return unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, true
	case optPktInfo4:
		return unix.IPPROTO_IP, unix.IP_PKTINFO, true
	case optPktInfo6:
		return unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, true
	case optTimestampNS:
		return unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, true
	case optRxqOvfl:
		return unix.SOL_SOCKET, unix.SO_RXQ_OVFL, true
	case optRecvTTL4:
		return unix.IPPROTO_IP, unix.IP_RECVTTL, true
	case optRecvHopLimit6:
		return unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, true
	}
	return 0, 0, false
}

const (
	solSocket   = unix.SOL_SOCKET
	soRcvbuf    = unix.SO_RCVBUF
	soRcvbufMax = unix.SO_RCVBUFFORCE // ignores net.core.rmem_max; needs CAP_NET_ADMIN
)

// skMeminfoDrops is the index of the drop counter in SO_MEMINFO's array
// (SK_MEMINFO_DROPS in linux/sock_diag.h).
const (
	skMeminfoDrops = 8
	skMeminfoVars  = 9
)

// kernelDrops reads the socket's drop counter (sk_drops) now, through
// SO_MEMINFO. Unlike SO_RXQ_OVFL, which arrives with the next datagram, it
// does not lag the drops it counts.
func kernelDrops(fd uintptr) (uint32, bool) {
	var info [skMeminfoVars]uint32
	l := uint32(unsafe.Sizeof(info))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 || l < (skMeminfoDrops+1)*4 {
		return 0, false
	}
	return info[skMeminfoDrops], true
}
