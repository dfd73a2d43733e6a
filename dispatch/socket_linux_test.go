package dispatch_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// Acceptance 3, with a real socket: with the Block policy, a slow handler
// stops the reader, the socket's small receive buffer overflows, and every
// datagram sent is either delivered or counted in the kernel's drop
// counter.
func TestBlockPolicyKernelDrops(t *testing.T) {
	testbed.Require(t)
	checkLeaks(t)
	const n = 2_000
	ctx := testContext(t)
	conn, port, lo := listenLo(t, ctx, 16<<10)

	var m dispatch.Mux
	slow := newGate(0)
	must(t, m.Handle(dispatch.Pattern{Group: group1, Port: port}, slow, &dispatch.HandlerConfig{Name: "slow", QueueLen: 16, Overflow: dispatch.Block}))
	var fast dispatchtest.Recorder
	must(t, m.Handle(dispatch.Pattern{Group: group1}, &fast, &dispatch.HandlerConfig{Name: "fast", QueueLen: n}))
	srv := newServer(t, &m, nil)
	must(t, srv.AddSource("sock", conn))
	done := serve(t, srv, ctx)

	snd := testbed.NewSender(t, netip.AddrPortFrom(group1, port), lo, netip.MustParseAddr("127.0.0.1"))
	must(t, snd.Send(seqPayload(0)))
	wait(t, slow.reached, "the slow handler to block")
	for i := uint64(1); i < n; i++ {
		must(t, snd.Send(seqPayload(i)))
	}
	// Sending on lo delivers (or drops) in the sender's system call, so
	// the kernel's count is final now.
	drops := conn.Stats().KernelDrops
	if drops == 0 {
		t.Fatalf("no kernel drops with a blocked reader and a %d-byte receive buffer", conn.ReadBuffer())
	}
	close(slow.release)
	if err := fast.Wait(ctx, int(n-drops)); err != nil {
		t.Fatalf("fast handler got %d datagrams, want %d = %d sent - %d kernel drops: %v", fast.Len(), n-drops, n, drops, err)
	}
	must(t, srv.Shutdown(ctx))
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}

	st := srv.Stats()
	checkBalance(t, st)
	h := handlerStats(t, st, "slow")
	k := st.Sockets[0].Kernel
	if k == nil || k.KernelDrops != drops || h.Delivered+drops != n || h.Drops.Total() != 0 || uint64(fast.Len())+drops != n {
		t.Errorf("sent %d; delivered %d (fast handler %d), handler drops %+v, kernel drops %+v (%d when sending ended)",
			n, h.Delivered, fast.Len(), h.Drops, k, drops)
	}
	if st.Sockets[0].Datagrams != n-drops {
		t.Errorf("socket read %d datagrams, want %d", st.Sockets[0].Datagrams, n-drops)
	}
	// The kernel's own table agrees.
	socks, err := testbed.UDPSockets(port)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 1 || socks[0].Drops != drops {
		t.Errorf("/proc/net/udp for port %d: %+v, want one socket with %d drops", port, socks, drops)
	}
	t.Logf("sent %d, delivered %d, kernel drops %d (receive buffer %d bytes)", n, h.Delivered, drops, conn.ReadBuffer())
}

// listenLo returns a socket bound to a free port, with a receive buffer
// of readBuffer bytes, that has joined group1 on the loopback interface,
// closed when the test ends; and the port and the interface.
func listenLo(t *testing.T, ctx context.Context, readBuffer int) (*mcast.Conn, uint16, *net.Interface) {
	t.Helper()
	port := freePort(t)
	conn, err := mcast.Listen(ctx, "udp4", ":"+strconv.Itoa(int(port)), &mcast.Config{ReadBuffer: readBuffer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	lo := loopback(t)
	must(t, conn.JoinGroup(lo, group1))
	return conn, port, lo
}

// freePort returns a UDP port that nothing in this namespace is bound to.
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}
