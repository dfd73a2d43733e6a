package mcast_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/mcast"
)

// TestWineSmoke runs the Windows build's code paths against a real socket
// stack: Wine's, inside the private network namespace of
// TestWindowsBuildUnderWine (wine_linux_test.go), which sets
// SHARECAST_WINE_SMOKE. Wine is not Windows: this checks that the Windows
// code paths run (option tables, WSARecvMsg control messages, WSAEMSGSIZE,
// the source options), not Windows' semantics. It never runs otherwise, so
// that it sends nothing on a real Windows host. Wine cannot carry IPv6
// source-specific joins (see the subtest).
func TestWineSmoke(t *testing.T) {
	if os.Getenv("SHARECAST_WINE_SMOKE") != "1" {
		t.Skip("run by TestWindowsBuildUnderWine under Wine in a private network namespace")
	}
	group := netip.MustParseAddrPort("239.77.9.1:47090")
	send := func(t *testing.T, g netip.AddrPort, p []byte) {
		t.Helper()
		s, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(g))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, c *mcast.Conn, ds []mcast.Datagram) mcast.Datagram {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := ds[0].Payload
		n, err := c.ReadBatch(ds)
		if err != nil || n != 1 {
			t.Fatalf("read: %d, %v", n, err)
		}
		d := ds[0]
		d.Payload = bytes.Clone(d.Payload)
		ds[0].Payload = buf
		return d
	}

	t.Run("two listeners share a port and see the destination", func(t *testing.T) {
		a := listen(t, "udp4", ":47090", nil)
		b := listen(t, "udp4", ":47090", nil)
		for _, c := range []*mcast.Conn{a, b} {
			if err := c.JoinGroup(nil, group.Addr()); err != nil {
				t.Fatal(err)
			}
		}
		send(t, group, []byte("hello"))
		for i, c := range []*mcast.Conn{a, b} {
			d := read(t, c, mcast.NewBatch(1, 2048))
			if string(d.Payload) != "hello" || d.Group != group.Addr() || d.IfIndex == 0 {
				t.Errorf("listener %d: %q to %s on interface %d; want \"hello\" to %s on an interface", i, d.Payload, d.Group, d.IfIndex, group.Addr())
			}
		}
	})

	t.Run("exclusive refuses a second socket", func(t *testing.T) {
		listen(t, "udp4", ":47091", &mcast.Config{Share: mcast.ShareExclusive})
		c, err := mcast.Listen(t.Context(), "udp4", ":47091", nil)
		if err == nil {
			c.Close()
			t.Fatal("a second socket bound an exclusive port")
		}
		if !errors.Is(err, mcast.ErrPortInUse) && !errors.Is(err, mcast.ErrAccessDenied) {
			t.Fatalf("second bind: %v, want ErrPortInUse or ErrAccessDenied", err)
		}
	})

	t.Run("a datagram larger than the buffer is counted and survived", func(t *testing.T) {
		g := netip.MustParseAddrPort("239.77.9.2:47092")
		c := listen(t, "udp4", ":47092", nil)
		if err := c.JoinGroup(nil, g.Addr()); err != nil {
			t.Fatal(err)
		}
		send(t, g, bytes.Repeat([]byte{1}, 100))
		send(t, g, []byte("after"))
		d := read(t, c, mcast.NewBatch(1, 64))
		if string(d.Payload) != "after" {
			t.Fatalf("read %q after the large datagram, want \"after\"", d.Payload)
		}
		if st := c.Stats(); st.Truncated != 1 || st.Datagrams != 1 {
			t.Fatalf("stats %+v, want 1 truncated and 1 datagram", st)
		}
	})

	t.Run("a dispatch.Server takes a datagram of exactly its BufferSize whole", func(t *testing.T) {
		// Windows has no MSG_TRUNC: the Server's buffers carry
		// mcast.ReadSlack spare bytes, so that 64 bytes fit a
		// BufferSize of 64 and 65 are counted as truncated.
		const size = 64
		g := netip.MustParseAddrPort("239.77.9.4:47094")
		c := listen(t, "udp4", ":47094", nil)
		if err := c.JoinGroup(nil, g.Addr()); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 4)
		var mux dispatch.Mux
		mux.HandleFunc(dispatch.Pattern{}, func(_ context.Context, d *dispatch.Datagram) { got <- bytes.Clone(d.Payload) }, &dispatch.HandlerConfig{Inline: true})
		srv, err := dispatch.NewServer(&mux, &dispatch.Config{BufferSize: size})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.AddSource("wine", c); err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(context.Background()) }()
		exact := bytes.Repeat([]byte{7}, size)
		send(t, g, exact)
		send(t, g, append(exact, 8))
		send(t, g, []byte("after"))
		for _, want := range [][]byte{exact, []byte("after")} {
			select {
			case p := <-got:
				if !bytes.Equal(p, want) {
					t.Errorf("handler got %q, want %q", p, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("handler did not get %q", want)
			}
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		<-served
		if st := c.Stats(); st.Truncated != 1 || st.Datagrams != 2 {
			t.Errorf("stats %+v, want 2 datagrams and 1 truncated", st)
		}
	})

	t.Run("source-specific joins", func(t *testing.T) {
		c4 := listen(t, "udp4", ":47093", nil)
		if err := c4.JoinSourceSpecificGroup(nil, netip.MustParseAddr("232.77.9.3"), netip.MustParseAddr("127.0.0.1")); err != nil {
			t.Errorf("IPv4: %v", err)
		}
		c6 := listen(t, "udp6", ":47093", nil)
		// Wine 8.0 maps no MCAST_* option to the host: it refuses
		// MCAST_JOIN_SOURCE_GROUP with WSAENOPROTOOPT, which Windows
		// (Vista and later) takes. Any other error fails.
		const wsaENOPROTOOPT = syscall.Errno(10042)
		err := c6.JoinSourceSpecificGroup(nil, netip.MustParseAddr("ff3e::8000:3"), netip.MustParseAddr("::1"))
		switch {
		case errors.Is(err, wsaENOPROTOOPT):
			t.Logf("IPv6: %v (Wine lacks MCAST_JOIN_SOURCE_GROUP)", err)
		case err != nil:
			t.Errorf("IPv6: %v", err)
		}
	})
}
