package testbed

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/procnet"
	"github.com/sharecast/sharecast/mcast"
)

// Sender sends multicast datagrams from the namespace it was made in: an
// mcast.Sender.
type Sender = mcast.Sender

// NewSender opens a socket that sends to group out of interface ifi (nil:
// the loopback interface), with TTL (hop limit) 1 and loopback on, bound to
// src (the zero value: the interface's address chosen by the kernel). It
// is closed when the test ends.
func NewSender(t testing.TB, group netip.AddrPort, ifi *net.Interface, src netip.Addr) *Sender {
	t.Helper()
	s, err := OpenSender(group, ifi, src)
	if err != nil {
		t.Fatalf("testbed: sender to %s: %v", group, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenSender is NewSender for code that runs outside the test's goroutine,
// such as inside [Host.Do]; the caller closes the Sender.
func OpenSender(group netip.AddrPort, ifi *net.Interface, src netip.Addr) (*Sender, error) {
	return mcast.NewSender(group, &mcast.SenderConfig{Interface: ifi, Source: src})
}

// Pace waits until every socket bound to port in this namespace holds less
// than limit bytes in its receive queue (read from /proc/net/udp and
// udp6 by package procnet), so that a sender does not outrun receivers that are still
// draining. It gives up, with an error, after timeout.
func Pace(port uint16, limit int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for wait := 20 * time.Microsecond; ; {
		q, err := maxQueue(port)
		if err != nil {
			return err
		}
		if q < limit {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: receive queues on port %d still hold %d bytes after %v", port, q, timeout)
		}
		time.Sleep(wait) // back-off between reads of the kernel's state
		if wait < time.Millisecond {
			wait *= 2
		}
	}
}

// UDPSocket is one line of /proc/net/udp or udp6.
type UDPSocket = procnet.UDPSocket

// UDPSockets lists the UDP sockets of the calling thread's namespace bound
// to port (0: all), IPv4 and IPv6; without IPv6, IPv4 alone.
func UDPSockets(port uint16) ([]UDPSocket, error) {
	var out []UDPSocket
	for _, f := range []procnet.Family{procnet.IPv4, procnet.IPv6} {
		ss, err := procnet.ReadUDP(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
		for _, s := range ss {
			if port == 0 || s.Local.Port() == port {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func maxQueue(port uint16) (int, error) {
	ss, err := UDPSockets(port)
	if err != nil {
		return 0, err
	}
	m := 0
	for _, s := range ss {
		m = max(m, s.RxQueue)
	}
	return m, nil
}
