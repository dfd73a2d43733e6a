package mcast_test

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/sharecast/sharecast/mcast"
)

// A receive buffer larger than any OS takes is refused before a socket is
// opened, naming the limit, rather than cut to 32 bits on its way.
func TestReadBufferTooLarge(t *testing.T) {
	for _, n64 := range []int64{mcast.MaxReadBuffer + 1, 1 << 31, 1 << 32, 1e12, math.MaxInt} {
		n := int(n64)
		if int64(n) != n64 {
			continue // more than an int holds where it has 32 bits
		}
		c, err := mcast.Listen(context.Background(), "udp4", ":5999", &mcast.Config{ReadBuffer: n})
		if !errors.Is(err, mcast.ErrInvalidConfig) {
			t.Errorf("ReadBuffer %d: %v, want ErrInvalidConfig", n, err)
		}
		if c != nil {
			c.Close()
		}
	}
}

// Windows reports a bind refused for a held port as WSAEADDRINUSE (10048)
// and one refused by SO_EXCLUSIVEADDRUSE as WSAEACCES (10013), which
// syscall's EADDRINUSE and EACCES never equal there: listen's errors still
// wrap ErrPortInUse and ErrAccessDenied.
func TestListenErrorWindows(t *testing.T) {
	bind := netip.MustParseAddrPort("0.0.0.0:5000")
	for errno, want := range map[syscall.Errno]error{10048: mcast.ErrPortInUse, 10013: mcast.ErrAccessDenied} {
		err := mcast.ListenErrorOn("windows", "udp4", bind, mcast.ShareAnyUser, os.NewSyscallError("bind", errno))
		if !errors.Is(err, want) {
			t.Errorf("errno %d on windows: %v, want %v", errno, err, want)
		}
	}
}
