package harness

import (
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forceReadBuffer gives c a receive buffer of n bytes, past
// net.core.rmem_max where the process may (SO_RCVBUFFORCE), as mcast and
// the C receiver do.
func forceReadBuffer(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// udpDrops returns the kernel's drop count of c's socket (SO_MEMINFO), or
// 0 if it cannot be read.
func udpDrops(c *net.UDPConn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var mem [unix.SK_MEMINFO_VARS]uint32
	var ok bool
	rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(mem))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&l)), 0)
		ok = e == 0 && l == uint32(unsafe.Sizeof(mem))
	})
	if !ok {
		return 0
	}
	return uint64(mem[unix.SK_MEMINFO_DROPS])
}

// cpuTime returns the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
