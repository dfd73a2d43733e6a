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
