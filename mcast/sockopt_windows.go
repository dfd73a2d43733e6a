package mcast

import "golang.org/x/sys/windows"

const goos = "windows"

// soExclusiveAddrUse is SO_EXCLUSIVEADDRUSE, which golang.org/x/sys/windows
// does not define: see windowsExclusiveAddrUse in sockopt.go.
const soExclusiveAddrUse = windowsExclusiveAddrUse

// sysOpt maps an option name to the Windows level and number.
func sysOpt(id optID) (level, name int, ok bool) {
	switch id {
	case optReuseAddr:
		return windows.SOL_SOCKET, windows.SO_REUSEADDR, true
	case optExclusiveAddrUse:
		return windows.SOL_SOCKET, soExclusiveAddrUse, true
	case optPktInfo4:
		return windows.IPPROTO_IP, windows.IP_PKTINFO, true
	case optPktInfo6:
		return windows.IPPROTO_IPV6, windows.IPV6_PKTINFO, true
	}
	return 0, 0, false
}

func setsockoptInt(fd uintptr, level, name, value int) error {
	return windows.SetsockoptInt(windows.Handle(fd), level, name, value)
}

func getsockoptInt(fd uintptr, level, name int) (int, error) {
	return windows.GetsockoptInt(windows.Handle(fd), level, name)
}

const (
	solSocket   = windows.SOL_SOCKET
	soRcvbuf    = windows.SO_RCVBUF
	soRcvbufMax = -1
)

func kernelDrops(fd uintptr) (uint32, bool) { return 0, false }

// The SDK values that wincmsg.go defines for its parser are x/sys's.
const (
	_ = uint(windows.IP_PKTINFO - winIPPktInfo)
	_ = uint(winIPPktInfo - windows.IP_PKTINFO)
	_ = uint(windows.IPV6_PKTINFO - winIPv6PktInfo)
	_ = uint(winIPv6PktInfo - windows.IPV6_PKTINFO)
	_ = uint(windows.IPPROTO_IPV6 - winIPProtoIPv6)
	_ = uint(winIPProtoIPv6 - windows.IPPROTO_IPV6)
)
