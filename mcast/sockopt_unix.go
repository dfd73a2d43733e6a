//go:build linux || darwin || freebsd || netbsd || openbsd

package mcast

import "golang.org/x/sys/unix"

func setsockoptInt(fd uintptr, level, name, value int) error {
	return unix.SetsockoptInt(int(fd), level, name, value)
}

func getsockoptInt(fd uintptr, level, name int) (int, error) {
	return unix.GetsockoptInt(int(fd), level, name)
}
