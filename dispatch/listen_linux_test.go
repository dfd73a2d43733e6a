package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// Listen opens one socket per family and port, joins every spec (on each of
// ListenConfig.Interfaces where a spec names none), and Serve hands every
// datagram of those groups, and nothing else, to the handler; after ctx
// ends the counts agree, and Close is idempotent.
func TestListenServe(t *testing.T) {
	testbed.Require(t)
	checkLeaks(t)
	port := freePort(t)
	g4a := netip.AddrPortFrom(netip.MustParseAddr("239.8.1.1"), port)
	g4b := netip.AddrPortFrom(netip.MustParseAddr("239.8.1.2"), port)
	g6 := netip.AddrPortFrom(netip.MustParseAddr("ff15::8:1"), port)
	other := netip.AddrPortFrom(netip.MustParseAddr("239.8.1.3"), port) // joined by no spec
	specs := []string{g4a.String() + "%lo", g4b.String(), g6.String()}

	var rec dispatchtest.Recorder
	r, err := dispatch.Listen(testContext(t), specs, &rec, &dispatch.ListenConfig{Interfaces: []string{"*"}, Handler: &dispatch.HandlerConfig{QueueLen: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	socks := r.Sockets()
	if len(socks) != 2 || socks[0].Name != fmt.Sprintf("udp4:%d", port) || socks[1].Name != fmt.Sprintf("udp6:%d", port) {
		t.Fatalf("sockets %+v, want udp4 and udp6 on port %d", socks, port)
	}
	// g4b and g6 name no interface: joined on "*", which is lo alone here.
	if got := fmt.Sprint(socks[0].Specs, socks[1].Specs); got != fmt.Sprintf("[%v%%lo %v%%*] [%v%%*]", g4a, g4b, g6) {
		t.Errorf("memberships %s", got)
	}
	if got := socks[0].Conn.ReadBufferGranted(); got < mcast.DefaultReadBuffer {
		t.Errorf("receive buffer granted %d, want the default %d", got, mcast.DefaultReadBuffer)
	}

	stop := serveReceiver(t, r)
	lo := loopback(t)
	const n = 300
	var want int
	for i, g := range []netip.AddrPort{g4a, other, g4b, g6} {
		var src netip.Addr
		if g.Addr().Is4() {
			src = netip.MustParseAddr("127.0.0.1")
		}
		snd := testbed.NewSender(t, g, lo, src)
		for j := range n {
			must(t, snd.Send(fmt.Appendf(nil, "%d/%d", i, j)))
		}
		if g != other {
			want += n
		}
	}
	if err := rec.Wait(testContext(t), want); err != nil {
		t.Fatalf("handler got %d datagrams, want %d: %v", rec.Len(), want, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	st := r.Stats()
	checkBalance(t, st)
	h := st.Handlers[0]
	if h.Received != uint64(want) || h.Delivered != uint64(want) || rec.Len() != want {
		t.Errorf("handler received %d, delivered %d, recorded %d; want %d", h.Received, h.Delivered, rec.Len(), want)
	}
	for _, d := range rec.Datagrams() {
		if d.Group == other.Addr() {
			t.Fatalf("a datagram of %s, which no spec joined, reached the handler", other)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Listen's errors say what was wrong, match the sentinels, and leave
// nothing open: the port of a failed Listen can be taken exclusively.
func TestListenErrors(t *testing.T) {
	testbed.Require(t)
	checkLeaks(t)
	ctx := testContext(t)
	port := freePort(t)
	h := dispatch.HandlerFunc(func(context.Context, *dispatch.Datagram) {})
	spec := fmt.Sprintf("239.8.2.1:%d", port)
	for _, tc := range []struct {
		specs  []string
		h      dispatch.Handler
		cfg    *dispatch.ListenConfig
		target error
	}{
		{[]string{"10.1.2.3:5000"}, h, nil, group.ErrBadSpec},
		{[]string{spec, "239.8.2.2:bad"}, h, nil, group.ErrBadSpec},
		{nil, h, nil, dispatch.ErrInvalidConfig},
		{[]string{spec}, nil, nil, dispatch.ErrInvalidConfig},
		{[]string{spec}, h, &dispatch.ListenConfig{Interfaces: []string{"nosuch0"}}, group.ErrNoInterface},
		{[]string{spec}, h, &dispatch.ListenConfig{Interfaces: []string{" lo"}}, group.ErrBadSpec},
		{[]string{spec, "239.8.2.3:9%nosuch0"}, h, nil, group.ErrNoInterface},
		{[]string{spec}, h, &dispatch.ListenConfig{Handler: &dispatch.HandlerConfig{QueueLen: -1}}, dispatch.ErrInvalidConfig},
	} {
		r, err := dispatch.Listen(ctx, tc.specs, tc.h, tc.cfg)
		if !errors.Is(err, tc.target) {
			t.Errorf("Listen(%q, %+v): %v, want an error matching %v", tc.specs, tc.cfg, err, tc.target)
		}
		if r != nil {
			t.Errorf("Listen(%q): a Receiver with the error", tc.specs)
		}
	}
	// Nothing was left open by the failures above: exclusive takes the port.
	excl, err := mcast.Listen(ctx, "udp4", fmt.Sprintf(":%d", port), &mcast.Config{Share: mcast.ShareExclusive})
	if err != nil {
		t.Fatalf("a failed Listen left port %d held: %v", port, err)
	}
	defer excl.Close()
	_, err = dispatch.ListenAndServe(ctx, []string{spec}, h, nil)
	var le *dispatch.ListenError
	if !errors.Is(err, mcast.ErrPortInUse) || !errors.As(err, &le) || le.Port != port || le.Network != "udp4" {
		t.Errorf("ListenAndServe on an exclusively held port: %v, want a *ListenError for udp4 port %d matching mcast.ErrPortInUse", err, port)
	}
}

// A datagram of exactly Config.BufferSize bytes reaches the handler whole,
// byte for byte, and one a byte longer is dropped and counted as truncated
// by the socket: the Server's buffers are BufferSize plus mcast.ReadSlack
// (0 here, 1 where the OS reports no truncation; the Windows build runs the
// same check under Wine, in mcast's TestWineSmoke).
func TestListenBufferSizeExact(t *testing.T) {
	testbed.Require(t)
	checkLeaks(t)
	const size = 64
	g := netip.AddrPortFrom(netip.MustParseAddr("239.8.3.1"), freePort(t))
	var rec dispatchtest.Recorder
	r, err := dispatch.Listen(testContext(t), []string{g.String() + "%lo"}, &rec, &dispatch.ListenConfig{BufferSize: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	stop := serveReceiver(t, r)
	lo := loopback(t)
	snd := testbed.NewSender(t, g, lo, netip.MustParseAddr("127.0.0.1"))
	exact := make([]byte, size)
	for i := range exact {
		exact[i] = byte(i)
	}
	want := [][]byte{exact, []byte("after")}
	must(t, snd.Send(exact))
	must(t, snd.Send(append(exact, 0xff)))
	must(t, snd.Send(want[1]))
	if err := rec.Wait(testContext(t), len(want)); err != nil {
		t.Fatalf("handler got %d datagrams, want %d: %v", rec.Len(), len(want), err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got := rec.Datagrams()
	if len(got) != len(want) {
		t.Fatalf("handler got %d datagrams, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i].Payload) != string(want[i]) {
			t.Errorf("datagram %d: %x, want %x", i, got[i].Payload, want[i])
		}
	}
	st := r.Stats()
	if len(st.Sockets) != 1 || st.Sockets[0].Kernel == nil || st.Sockets[0].Kernel.Truncated != 1 || st.Sockets[0].Datagrams != 2 {
		t.Errorf("socket stats %+v, want 2 datagrams and 1 truncated", st.Sockets)
	}
}

// serveReceiver serves r until the stop it returns is called, which ends
// Serve's context and returns what Serve returned.
func serveReceiver(t *testing.T, r *dispatch.Receiver) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	return func() error {
		cancel()
		return wait(t, done, "Serve")
	}
}

// loopback returns the test bed's loopback interface.
func loopback(t *testing.T) *net.Interface {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	return lo
}
