package dispatch_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
)

// orderChecker is a handler that checks that the numbers it sees run 0, 1,
// 2, ... and counts them.
type orderChecker struct {
	t    *testing.T
	next atomic.Uint64
	bad  atomic.Uint64
}

func (o *orderChecker) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	n := seqOf(d)
	if want := o.next.Load(); n != want {
		if o.bad.Add(1) == 1 {
			o.t.Errorf("got datagram %d, want %d", n, want)
		}
	}
	o.next.Store(n + 1)
}

// Acceptance 1: three handlers on one group each receive all of 100,000
// datagrams, in order.
func TestFanOutThreeHandlersInOrder(t *testing.T) {
	checkLeaks(t)
	const n = 100_000
	var m dispatch.Mux
	hs := make([]*orderChecker, 3)
	for i := range hs {
		hs[i] = &orderChecker{t: t}
		if err := m.Handle(dispatch.Pattern{Group: group1}, hs[i], &dispatch.HandlerConfig{Overflow: dispatch.Block}); err != nil {
			t.Fatal(err)
		}
	}
	srv := newServer(t, &m, nil)
	if err := srv.AddSource("gen", seqGenerator(n, src1, group1)); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, serve(t, srv, testContext(t)), "Serve"); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	st := srv.Stats()
	for i, h := range hs {
		if got := h.next.Load(); got != n || h.bad.Load() != 0 {
			t.Errorf("handler %d: got %d datagrams, %d out of order; want %d in order", i, got, h.bad.Load(), n)
		}
	}
	for _, h := range st.Handlers {
		if h.Received != n || h.Delivered != n || h.Drops.Total() != 0 {
			t.Errorf("handler %s: received %d, delivered %d, drops %+v; want %d, %d, none", h.Name, h.Received, h.Delivered, h.Drops, n, n)
		}
	}
	if len(st.Groups) != 1 || st.Groups[0].Group != group1 || st.Groups[0].Datagrams != n || st.Groups[0].Bytes != 8*n {
		t.Errorf("group stats %+v, want %d datagrams and %d bytes to %s", st.Groups, n, 8*n, group1)
	}
	if len(st.Sockets) != 1 || st.Sockets[0].Datagrams != n || st.Sockets[0].Bytes != 8*n {
		t.Errorf("socket stats %+v, want %d datagrams, %d bytes", st.Sockets, n, 8*n)
	}
	checkBalance(t, st)
}
