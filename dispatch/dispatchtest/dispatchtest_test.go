package dispatchtest_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/mcast"
)

var (
	from  = netip.MustParseAddrPort("10.0.0.1:4000")
	group = netip.MustParseAddr("239.1.2.3")
)

func TestSource(t *testing.T) {
	src := dispatchtest.NewSource(&dispatchtest.SourceConfig{Backlog: 4, BatchSize: 2, LocalAddr: netip.MustParseAddrPort("0.0.0.0:5000")})
	for _, p := range []string{"a", "bb", "this is too long", "d"} {
		if !src.Send([]byte(p), from, group) {
			t.Fatalf("Send(%q) dropped", p)
		}
	}
	if src.Send([]byte("e"), from, group) {
		t.Error("Send beyond the backlog accepted")
	}
	ds := mcast.NewBatch(4, 4)
	for i := range ds {
		ds[i].Tag = 10 + i
	}
	n, err := src.ReadBatch(ds)
	if err != nil || n != 2 || string(ds[0].Payload) != "a" || string(ds[1].Payload) != "bb" || ds[0].Tag != 10 || ds[1].Source != from || ds[1].Group != group {
		t.Fatalf("ReadBatch = %d, %v: %+v", n, err, ds[:2])
	}
	n, err = src.ReadBatch(ds) // the long one is truncated and skipped
	if err != nil || n != 1 || string(ds[0].Payload) != "d" {
		t.Fatalf("second ReadBatch = %d, %v: %q", n, err, ds[0].Payload)
	}
	if err := src.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := src.Stats()
	if st.Datagrams != 3 || st.Bytes != 4 || st.Truncated != 1 || st.KernelDrops != 1 {
		t.Errorf("stats %+v", st)
	}

	// A read blocks until the deadline.
	must(t, src.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	if _, err := src.ReadBatch(ds); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadBatch past the deadline = %v", err)
	}
	must(t, src.SetReadDeadline(time.Time{}))
	// Close: what was sent is still read, then net.ErrClosed.
	src.Send([]byte("f"), from, group)
	go src.Close()
	n, err = src.ReadBatch(ds)
	if n != 1 || err != nil {
		t.Errorf("ReadBatch after Close = %d, %v; want the last datagram", n, err)
	}
	if _, err := src.ReadBatch(ds); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadBatch on a closed, empty source = %v", err)
	}
	if src.Send([]byte("g"), from, group) {
		t.Error("Send after Close accepted")
	}
	if src.LocalAddr().Port() != 5000 || src.BatchSize() != 2 {
		t.Error("LocalAddr or BatchSize do not say what was configured")
	}
}

func TestSourceUnblocksOnClose(t *testing.T) {
	src := dispatchtest.NewSource(nil)
	done := make(chan error, 1)
	go func() {
		_, err := src.ReadBatch(mcast.NewBatch(1, 10))
		done <- err
	}()
	src.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadBatch = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadBatch still blocked after Close")
	}
}

func TestGenerator(t *testing.T) {
	g := dispatchtest.NewGenerator(5, netip.AddrPort{}, func(i uint64, d *mcast.Datagram) {
		d.Payload = append(d.Payload[:0], byte(i))
	})
	ds := mcast.NewBatch(3, 8)
	var got []byte
	for {
		n, err := g.ReadBatch(ds)
		for _, d := range ds[:n] {
			got = append(got, d.Payload...)
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				t.Fatal(err)
			}
			break
		}
	}
	if string(got) != "\x00\x01\x02\x03\x04" {
		t.Errorf("generated %v", got)
	}
	g2 := dispatchtest.NewGenerator(5, netip.AddrPort{}, func(uint64, *mcast.Datagram) {})
	must(t, g2.SetReadDeadline(time.Now()))
	if _, err := g2.ReadBatch(ds); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadBatch past the deadline = %v", err)
	}
	big := dispatchtest.NewGenerator(1<<40, netip.AddrPort{}, func(uint64, *mcast.Datagram) {})
	if n := testing.AllocsPerRun(100, func() { _, _ = big.ReadBatch(ds) }); n != 0 {
		t.Errorf("Generator.ReadBatch: %v allocations", n)
	}
}

func TestRecorder(t *testing.T) {
	var r dispatchtest.Recorder
	buf := []byte("abc")
	done := make(chan error, 1)
	go func() { done <- r.Wait(context.Background(), 2) }()
	r.ServeDatagram(context.Background(), &dispatch.Datagram{Payload: buf, Group: group})
	buf[0] = 'x' // the Recorder kept a copy
	r.ServeDatagram(context.Background(), &dispatch.Datagram{Payload: []byte("d")})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ds := r.Datagrams()
	if r.Len() != 2 || string(ds[0].Payload) != "abc" || ds[0].Group != group || string(ds[1].Payload) != "d" {
		t.Errorf("recorded %+v", ds)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Wait(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait for more than was recorded = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
