package group_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// family holds what the tests of one address family use.
type family struct {
	name    string
	network string
	group   string // an any-source group
	ssm     string // a source-specific group
	// net returns the address of host h (1-254) on subnet n.
	addr func(n, h int) netip.Addr
	bits int
}

var families = []family{
	{
		name: "IPv4", network: "udp4", group: "239.1.2.3", ssm: "232.1.1.1", bits: 24,
		addr: func(n, h int) netip.Addr {
			// Subnet 0 is 10.0.0.0/24, subnet 99 10.99.99.0/24: the
			// addresses of the Windows documentation's example.
			return netip.AddrFrom4([4]byte{10, byte(n), byte(n), byte(h)})
		},
	},
	{
		name: "IPv6", network: "udp6", group: "ff15::1", ssm: "ff3e::8000:1", bits: 64,
		addr: func(n, h int) netip.Addr {
			return netip.AddrFrom16([16]byte{0: 0xfd, 1: 0, 2: byte(n), 15: byte(h)})
		},
	},
}

func (f family) prefix(n, h int) netip.Prefix { return netip.PrefixFrom(f.addr(n, h), f.bits) }

func listen(t *testing.T, network string, port uint16) *mcast.Conn {
	t.Helper()
	c, err := mcast.Listen(context.Background(), network, fmt.Sprintf(":%d", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testLogger logs to the test's log, from level info (or debug with -v
// and GROUP_DEBUG set).
func testLogger(t *testing.T) zerolog.Logger {
	level := zerolog.InfoLevel
	if os.Getenv("GROUP_DEBUG") != "" {
		level = zerolog.DebugLevel
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true, TimeFormat: "15:04:05.000"}).
		Level(level).With().Timestamp().Logger()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newSet(t *testing.T, c *mcast.Conn, cfg *group.Config) *group.Set {
	t.Helper()
	if cfg == nil {
		cfg = &group.Config{Logger: testLogger(t)}
	}
	s, err := group.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Set.Close: %v", err)
		}
	})
	return s
}

// sender sends to a group from a host, out of one of its interfaces,
// from one of its addresses, with TTL 1.
type sender struct {
	uc *net.UDPConn
}

// newSender opens the sender inside h. It returns errors rather than fail
// the test, as it runs on the host's thread.
func newSender(t *testing.T, h *testbed.Host, ifname string, src netip.Addr) *sender {
	t.Helper()
	s := &sender{}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		network := "udp4"
		if src.Is6() {
			network = "udp6"
		}
		uc, err := net.ListenUDP(network, &net.UDPAddr{IP: src.AsSlice()})
		if err != nil {
			return err
		}
		if src.Is6() {
			p := ipv6.NewPacketConn(uc)
			err = errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastHopLimit(1), p.SetMulticastLoopback(false))
		} else {
			p := ipv4.NewPacketConn(uc)
			err = errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastTTL(1), p.SetMulticastLoopback(false))
		}
		if err != nil {
			uc.Close()
			return err
		}
		s.uc = uc
		return nil
	})
	if err != nil {
		t.Fatalf("sender in %s from %s out of %s: %v", h.Name, src, ifname, err)
	}
	t.Cleanup(func() { s.uc.Close() })
	return s
}

// write sends payload to dst.
func (s *sender) write(dst netip.AddrPort, payload string) error {
	_, err := s.uc.WriteToUDPAddrPort([]byte(payload), dst)
	return err
}

// send sends payload to each of dsts, in order.
func (s *sender) send(t *testing.T, payload string, dsts ...netip.AddrPort) {
	t.Helper()
	for _, d := range dsts {
		if err := s.write(d, payload); err != nil {
			t.Fatal(err)
		}
	}
}

// warm sends "warm" datagrams from s to dst until c has read one, so
// that the link is known to carry datagrams (a veth drops what it is given
// until the kernel's link watch has activated it, up to a second after it
// came up; IPv6 has no route to send by until then), and then reads what
// else is queued.
func warm(t *testing.T, s *sender, dst netip.AddrPort, c *mcast.Conn) {
	t.Helper()
	for range 500 {
		_ = s.write(dst, "warm") // fails (IPv6) until the link is ready
		if count(readUntil(t, c, 10*time.Millisecond, func(gs []got) bool { return len(gs) > 0 }), "warm") > 0 {
			readUntil(t, c, 50*time.Millisecond, nil)
			return
		}
	}
	t.Fatalf("no datagram from %s to %s reached the receiver", s.uc.LocalAddr(), dst)
}

// got is one datagram received.
type got struct {
	payload string
	src     netip.Addr
	group   netip.Addr
	ifindex int
}

// readUntil reads from c until enough returns true for what it has read,
// or until the deadline d from now passes; it returns what it read.
func readUntil(t *testing.T, c *mcast.Conn, d time.Duration, enough func([]got) bool) []got {
	t.Helper()
	var out []got
	ds := mcast.NewBatch(8, 2048)
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	for enough == nil || !enough(out) {
		n, err := c.ReadBatch(ds)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, dg := range ds[:n] {
			out = append(out, got{string(dg.Payload), dg.Source.Addr(), dg.Group, dg.IfIndex})
		}
		for i := range ds {
			ds[i].Payload = ds[i].Payload[:cap(ds[i].Payload)]
		}
	}
	return out
}

// count returns how many of gs have a payload that starts with prefix.
func count(gs []got, prefix string) int {
	n := 0
	for _, g := range gs {
		if strings.HasPrefix(g.payload, prefix) {
			n++
		}
	}
	return n
}

// ifindex returns the index of the test namespace's interface name.
func ifindex(t *testing.T, name string) int {
	t.Helper()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return ifi.Index
}

// mustInterface returns the test namespace's interface name.
func mustInterface(t *testing.T, name string) *net.Interface {
	t.Helper()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return ifi
}

// addrAdd adds p to link name through nl, usable at once (no duplicate
// address detection).
func addrAdd(t *testing.T, nl *netlink.Handle, name string, p netip.Prefix) {
	t.Helper()
	if err := nl.AddrAdd(nlLink(t, nl, name), nlAddr(p)); err != nil {
		t.Fatalf("add %s to %s: %v", p, name, err)
	}
}

// addrDel removes p from link name through nl.
func addrDel(t *testing.T, nl *netlink.Handle, name string, p netip.Prefix) {
	t.Helper()
	if err := nl.AddrDel(nlLink(t, nl, name), nlAddr(p)); err != nil {
		t.Fatalf("remove %s from %s: %v", p, name, err)
	}
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func nlLink(t *testing.T, nl *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := nl.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// link returns the test namespace's link name, through netlink.
func link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitFor waits until cond holds, checking at each tick, or fails the test
// after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("no %s within %v", what, d)
		case <-tick.C:
		}
	}
}

// checkGoroutines fails the test if, by the deadline, more goroutines run
// than before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.After(2 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		select {
		case <-deadline:
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		case <-tick.C:
		}
	}
}
