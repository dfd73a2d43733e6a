package mcast_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// The read path of the OSes other than Linux, run here: with the spare
// byte that NewBatch adds there, a datagram that fills the buffer exactly
// is delivered whole, and one a byte longer is counted as truncated.
func TestReadXNetTruncation(t *testing.T) {
	testbed.Require(t)
	g := netip.MustParseAddrPort("239.77.0.1:47011")
	ifi := lo(t)
	c := listen(t, "udp4", fmt.Sprintf(":%d", g.Port()), nil)
	if err := c.JoinGroup(ifi, g.Addr()); err != nil {
		t.Fatal(err)
	}
	const size = 100
	ds := mcast.NewBatchSlack(1, size, 1)
	buf := ds[0].Payload
	if len(buf) != size+1 {
		t.Fatalf("buffer of %d bytes, want %d", len(buf), size+1)
	}
	s := testbed.NewSender(t, g, ifi, netip.Addr{})
	fill := func(n int) []byte { return bytes.Repeat([]byte{byte(n)}, n) }
	for _, n := range []int{size, size + 1, size + 2, size - 1} {
		if err := s.Send(fill(n)); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got [][]byte
	for len(got) < 2 {
		ds[0].Payload = buf
		n, err := c.ReadXNet(ds)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(got), err)
		}
		if n == 1 {
			got = append(got, bytes.Clone(ds[0].Payload))
		}
	}
	if !bytes.Equal(got[0], fill(size)) || !bytes.Equal(got[1], fill(size-1)) {
		t.Errorf("delivered %d and %d bytes, want %d and %d, byte for byte", len(got[0]), len(got[1]), size, size-1)
	}
	if st := c.Stats(); st.Truncated != 2 || st.Datagrams != 2 || st.Bytes != 2*size-1 {
		t.Errorf("stats %+v, want 2 truncated and 2 datagrams", st)
	}
}
