package hub_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/hub"
	"github.com/sharecast/sharecast/internal/testbed"
)

// A hub of two sockets (IPv4 and IPv6, two ports) has a ring for each; a
// consumer gets a Source for each, and every datagram comes with its own
// family's source and group, and its port.
func TestHubTwoPorts(t *testing.T) {
	testbed.Require(t)
	const per = 50
	specs := []string{"239.1.6.7:6007", "[ff15::6]:6008"}
	h, _ := startHub(t, specs, &hub.Config{Name: "t7", Slots: 1024, MaxDatagram: 256})
	if st := h.Stats(); len(st.Rings) != 2 {
		t.Fatalf("%d rings, want 2", len(st.Rings))
	}
	c, err := hub.Attach("t7", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	got := map[netip.AddrPort]*tally{}
	var mux dispatch.Mux
	mux.HandleFunc(dispatch.Pattern{}, func(_ context.Context, d *dispatch.Datagram) {
		mu.Lock()
		defer mu.Unlock()
		k := netip.AddrPortFrom(d.Group, d.Port)
		if got[k] == nil {
			got[k] = newTally()
		}
		got[k].add(d)
		if d.Source.Addr().Is4() != d.Group.Is4() || d.Source.Addr().Is4In6() || d.Group.Is4In6() {
			t.Errorf("datagram to %s from %s: families differ, or a mapped address", d.Group, d.Source)
		}
	}, &dispatch.HandlerConfig{Inline: true})
	srv, err := dispatch.NewServer(&mux, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddTo(srv); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	for _, spec := range specs {
		s := testbed.NewSender(t, mustAddrPort(spec), nil, netipZero)
		send(t, s, 3, 0, per)
	}
	until(t, "both rings' datagrams handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := uint64(0)
		for _, tl := range got {
			n += tl.n
		}
		return n == 2*per
	})
	if st := h.Stats(); len(st.Consumers) != 1 || st.Consumers[0].Rings[0].Delivered != per || st.Consumers[0].Rings[1].Delivered != per {
		t.Errorf("the hub's view of its consumer: %+v", st.Consumers)
	}
	srv.Close()
	select {
	case <-served:
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return after Close")
	}
	for _, spec := range specs {
		k := mustAddrPort(spec)
		tl := got[k]
		if tl == nil || tl.n != per || len(tl.gaps) != 0 || len(tl.bad) != 0 {
			t.Errorf("%s: %v, want %d in order", k, tl, per)
		}
	}
	if len(got) != 2 {
		t.Errorf("datagrams under %d group:port pairs, want 2: %v", len(got), got)
	}
}
