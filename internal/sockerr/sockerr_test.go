package sockerr_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/sharecast/sharecast/internal/sockerr"
)

// Windows' error numbers, which syscall's names never equal there, are
// told apart as Linux's are, wrapped as package net and os wrap them.
func TestKinds(t *testing.T) {
	wrap := func(e syscall.Errno) error { return fmt.Errorf("listen: %w", os.NewSyscallError("bind", e)) }
	for _, c := range []struct {
		goos  string
		errno syscall.Errno
		kind  sockerr.Kind
	}{
		{"windows", 10048, sockerr.AddrInUse},
		{"windows", 10013, sockerr.Access},
		{"windows", 10049, sockerr.AddrNotAvail},
		{"windows", 10040, sockerr.MsgSize},
		{"linux", syscall.EADDRINUSE, sockerr.AddrInUse},
		{"linux", syscall.EACCES, sockerr.Access},
		{"freebsd", syscall.EADDRNOTAVAIL, sockerr.AddrNotAvail},
		{"darwin", syscall.ENODEV, sockerr.NoDevice},
	} {
		if !sockerr.IsOn(c.goos, wrap(c.errno), c.kind) {
			t.Errorf("%s: errno %d is not kind %d", c.goos, c.errno, c.kind)
		}
		for k := sockerr.AddrInUse; k <= sockerr.MsgSize; k++ {
			if k != c.kind && sockerr.IsOn(c.goos, wrap(c.errno), k) {
				t.Errorf("%s: errno %d is also kind %d", c.goos, c.errno, k)
			}
		}
	}
	if sockerr.IsOn("windows", wrap(syscall.EADDRINUSE), sockerr.AddrInUse) && syscall.EADDRINUSE != 10048 {
		t.Error("on windows, syscall.EADDRINUSE's number is not WSAEADDRINUSE")
	}
	if sockerr.Is(fmt.Errorf("no errno"), sockerr.AddrInUse) {
		t.Error("an error with no errno has a kind")
	}
}
