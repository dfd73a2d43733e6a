package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// Issue 8, bad input: datagrams of 0 and 65,507 bytes through the
// dispatcher. With 65,535-byte buffers both reach the handler whole; with
// the default buffers the large one is counted as truncated, never passed
// on cut short, and the server goes on.
func TestDispatchSizeLimits(t *testing.T) {
	testbed.Require(t)
	for _, tc := range []struct {
		bufferSize    int
		wantDelivered int
		wantTruncated uint64
	}{
		{mcast.MaxDatagramSize, 3, 0},
		{0, 2, 1}, // dispatch.DefaultBufferSize
	} {
		t.Run(fmt.Sprint(tc.bufferSize), func(t *testing.T) {
			group := netip.MustParseAddrPort("239.6.6.8:6300")
			conn, err := mcast.Listen(context.Background(), "udp4", fmt.Sprintf(":%d", group.Port()), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			lo, _ := net.InterfaceByName("lo")
			if err := conn.JoinGroup(lo, group.Addr()); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got [][]byte
			done := make(chan struct{})
			var mux dispatch.Mux
			mux.HandleFunc(dispatch.Pattern{}, func(ctx context.Context, d *dispatch.Datagram) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, bytes.Clone(d.Payload))
				if string(d.Payload) == "end" {
					close(done)
				}
			}, nil)
			srv, err := dispatch.NewServer(&mux, &dispatch.Config{BufferSize: tc.bufferSize})
			if err != nil {
				t.Fatal(err)
			}
			srv.AddSource("s", conn)
			go srv.Serve(context.Background())
			defer srv.Close()

			big := bytes.Repeat([]byte{0xa5}, 65507)
			s := testbed.NewSender(t, group, lo, netip.Addr{})
			for _, p := range [][]byte{{}, big, []byte("end")} {
				if err := s.Send(p); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the last datagram did not arrive")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != tc.wantDelivered || len(got[0]) != 0 || (tc.wantDelivered == 3 && !bytes.Equal(got[1], big)) {
				t.Errorf("handler got %d datagrams (sizes %v), want %d", len(got), sizes(got), tc.wantDelivered)
			}
			if st := conn.Stats(); st.Truncated != tc.wantTruncated {
				t.Errorf("truncated %d, want %d", st.Truncated, tc.wantTruncated)
			}
		})
	}
}

func sizes(ps [][]byte) []int {
	var n []int
	for _, p := range ps {
		n = append(n, len(p))
	}
	return n
}
