//go:build darwin || freebsd || netbsd || openbsd

package mcast

import "golang.org/x/sys/unix"

const goos = bsdGOOS

// sysOpt maps an option name to the BSD level and number.
func sysOpt(id optID) (level, name int, ok bool) {
	switch id {
	case optReuseAddr:
		return unix.SOL_SOCKET, unix.SO_REUSEADDR, true
	case optReusePort:
		return unix.SOL_SOCKET, unix.SO_REUSEPORT, true
	}
	return 0, 0, false
}

const (
	solSocket   = unix.SOL_SOCKET
	soRcvbuf    = unix.SO_RCVBUF
	soRcvbufMax = -1 // no SO_RCVBUFFORCE
)

func kernelDrops(fd uintptr) (uint32, bool) { return 0, false }
