package testbed

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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
// udp6), so that a sender does not outrun receivers that are still
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
type UDPSocket struct {
	Local   netip.AddrPort
	RxQueue int
	UID     int
	Inode   uint64
	Drops   uint64
}

// UDPSockets lists the UDP sockets of this namespace bound to port (0: all).
func UDPSockets(port uint16) ([]UDPSocket, error) {
	var out []UDPSocket
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		ss, err := readProcUDP(f, port)
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
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

func readProcUDP(path string, port uint16) ([]UDPSocket, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	var out []UDPSocket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 13 {
			continue
		}
		local, err := parseHexAddrPort(fs[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if port != 0 && local.Port() != port {
			continue
		}
		_, rxq, _ := strings.Cut(fs[4], ":")
		rx, _ := strconv.ParseUint(rxq, 16, 64)
		uid, _ := strconv.Atoi(fs[7])
		inode, _ := strconv.ParseUint(fs[9], 10, 64)
		drops, _ := strconv.ParseUint(fs[12], 10, 64)
		out = append(out, UDPSocket{Local: local, RxQueue: int(rx), UID: uid, Inode: inode, Drops: drops})
	}
	return out, sc.Err()
}

// parseHexAddrPort parses /proc/net/udp's "0100007F:1388" (the address as
// the kernel's 32-bit words in host byte order).
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	var b []byte
	for i := 0; i+8 <= len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
		}
		// each 32-bit word is printed as the host's integer
		b = binary.NativeEndian.AppendUint32(b, uint32(w))
	}
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}
