//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !windows

package mcast

import (
	"errors"
	"runtime"
)

const goos = runtime.GOOS

func sysOpt(id optID) (level, name int, ok bool) { return 0, 0, false }

func setsockoptInt(fd uintptr, level, name, value int) error {
	return errors.ErrUnsupported
}

func getsockoptInt(fd uintptr, level, name int) (int, error) {
	return 0, errors.ErrUnsupported
}

const (
	solSocket   = 0
	soRcvbuf    = 0
	soRcvbufMax = -1
)

func kernelDrops(fd uintptr) (uint32, bool) { return 0, false }
