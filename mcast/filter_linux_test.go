package mcast_test

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// With IP_MULTICAST_ALL turned back on (as net.ListenMulticastUDP leaves
// it), the kernel hands the socket another socket's group; the destination
// check still drops it, and counts it.
func TestDestinationCheckBehindMulticastAll(t *testing.T) {
	testbed.Require(t)
	g := groups[0]
	port := fmt.Sprintf(":%d", g.group.Port())
	mine := listen(t, "udp4", port, nil)
	theirs := listen(t, "udp4", port, nil)
	if err := mine.JoinGroup(lo(t), g.group.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := theirs.JoinGroup(lo(t), g.other.Addr()); err != nil {
		t.Fatal(err)
	}
	rc, err := mine.UDPConn().SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 1)
	})
	if serr != nil {
		t.Fatal(serr)
	}
	testbed.NewSender(t, g.other, lo(t), netip.Addr{}).Send([]byte("other"))
	testbed.NewSender(t, g.group, lo(t), netip.Addr{}).Send([]byte("mine"))
	ds := mcast.NewBatch(8, 2048)
	mine.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := mine.ReadBatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || string(ds[0].Payload) != "mine" {
		t.Fatalf("got %d datagrams, first %q", n, ds[0].Payload)
	}
	if st := mine.Stats(); st.Filtered != 1 {
		t.Errorf("stats %+v, want the other group's datagram filtered", st)
	}
}

// The receive buffer is set, read back, and forced past rmem_max where the
// process may (the test bed runs as root in its namespace).
func TestReadBuffer(t *testing.T) {
	testbed.Require(t)
	for _, want := range []int{64 << 10, 8 << 20} {
		c := listen(t, "udp4", ":5400", &mcast.Config{ReadBuffer: want})
		if got := c.ReadBuffer(); got < 2*want {
			t.Errorf("ReadBuffer %d: granted %d, want at least %d (Linux reports twice the size set)", want, got, 2*want)
		}
		if got := c.ReadBufferGranted(); got != c.ReadBuffer()/2 || got < want {
			t.Errorf("ReadBuffer %d: ReadBufferGranted %d, want half of %d and at least %d", want, got, c.ReadBuffer(), want)
		}
		c.Close()
	}
	c := listen(t, "udp4", ":5400", &mcast.Config{ReadBuffer: -1})
	if c.ReadBuffer() <= 0 {
		t.Errorf("kernel default buffer: %d", c.ReadBuffer())
	}
}

// Stats may be read while another goroutine reads (run with -race).
func TestStatsWhileReading(t *testing.T) {
	testbed.Require(t)
	g := groups[0].group
	c := listen(t, "udp4", fmt.Sprintf(":%d", g.Port()), nil)
	if err := c.JoinGroup(lo(t), g.Addr()); err != nil {
		t.Fatal(err)
	}
	const n = 500
	done := make(chan error, 1)
	go func() {
		chk := checker{size: 100}
		done <- receive(c, &chk, n, nil, time.Now().Add(30*time.Second))
	}()
	s := testbed.NewSender(t, g, lo(t), netip.Addr{})
	for i := 0; i < n; i++ {
		s.Send(payload(i, 100))
		if i%50 == 0 {
			_ = c.Stats()
			_ = c.Memberships()
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Datagrams != n || st.Bytes != n*100 {
		t.Errorf("stats %+v", st)
	}
}

// A membership operation's error names the membership, unwraps to the
// kernel's error and satisfies net.Error.
func TestMembershipErrors(t *testing.T) {
	testbed.Require(t)
	c := listen(t, "udp4", ":5401", nil)
	g := netip.MustParseAddr("239.7.7.7")
	if err := c.JoinGroup(lo(t), g); err != nil {
		t.Fatal(err)
	}
	if err := c.JoinGroup(lo(t), g); err != nil {
		t.Fatalf("second join of the same membership: %v, want nil (idempotent)", err)
	}
	if ms := c.Memberships(); len(ms) != 1 || ms[0].Group != g || ms[0].IfIndex != lo(t).Index {
		t.Fatalf("memberships %v", ms)
	}
	// Blocking a source needs an any-source membership of the group.
	err := c.ExcludeSource(lo(t), netip.MustParseAddr("239.8.8.8"), netip.MustParseAddr("127.0.0.2"))
	var op *mcast.OpError
	if !errors.As(err, &op) || op.Op != "block" || !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("block on a group not joined: %v", err)
	}
	if err := c.LeaveGroup(lo(t), g); err != nil {
		t.Fatal(err)
	}
	if ms := c.Memberships(); len(ms) != 0 {
		t.Fatalf("memberships after leave: %v", ms)
	}
}
