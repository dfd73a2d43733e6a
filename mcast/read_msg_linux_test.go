package mcast_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// Windows' read path (ReadMsgUDPAddrPort and its control messages), run
// here over real sockets with Linux's parser: each datagram carries its
// destination group and interface, a unicast datagram to the port is
// filtered by the destination check, a datagram that fills the
// buffer exactly is delivered whole and one a byte longer is counted as
// truncated.
func TestReadMsgDestination(t *testing.T) {
	testbed.Require(t)
	const port = 47012
	joined := netip.MustParseAddrPort(fmt.Sprintf("239.77.0.2:%d", port))
	ifi := lo(t)
	c := listen(t, "udp4", fmt.Sprintf(":%d", port), nil)
	if err := c.JoinGroup(ifi, joined.Addr()); err != nil {
		t.Fatal(err)
	}
	// A unicast datagram to the port first: its destination, 127.0.0.1,
	// is no group the socket joined.
	u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write([]byte("unicast")); err != nil {
		t.Fatal(err)
	}
	const size = 100
	ds := mcast.NewBatchSlack(1, size, 1)
	buf := ds[0].Payload
	fill := func(n int) []byte { return bytes.Repeat([]byte{byte(n)}, n) }
	s := testbed.NewSender(t, joined, ifi, netip.Addr{})
	for _, n := range []int{size + 1, size, size - 1} {
		if err := s.Send(fill(n)); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []mcast.Datagram
	for len(got) < 2 {
		ds[0].Payload = buf
		n, err := c.ReadMsgLinux(ds)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(got), err)
		}
		if n == 1 {
			d := ds[0]
			d.Payload = bytes.Clone(d.Payload)
			got = append(got, d)
		}
	}
	for i, n := range []int{size, size - 1} {
		d := got[i]
		if !bytes.Equal(d.Payload, fill(n)) || d.Group != joined.Addr() || d.IfIndex != ifi.Index {
			t.Errorf("datagram %d: %d bytes to %s on interface %d; want %d bytes to %s on %d",
				i, len(d.Payload), d.Group, d.IfIndex, n, joined.Addr(), ifi.Index)
		}
	}
	if st := c.Stats(); st.Truncated != 1 || st.Datagrams != 2 || st.Filtered != 1 || st.BadControl != 0 {
		t.Errorf("stats %+v, want 1 truncated, 2 datagrams, 1 filtered, no bad control", st)
	}
}
