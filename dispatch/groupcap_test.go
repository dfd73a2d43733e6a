package dispatch_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
)

// A Source that reports any destination (as a relay's publisher or a
// socket that accepts unicast can) cannot grow the Server's per-group
// counters past Config.MaxGroups: the datagrams of the groups past it are
// served as usual and counted together.
func TestMaxGroups(t *testing.T) {
	checkLeaks(t)
	var m dispatch.Mux
	var rec dispatchtest.Recorder
	must(t, m.Handle(dispatch.Pattern{}, &rec, nil))
	const limit, groups, each = 4, 50, 3
	srv := newServer(t, &m, &dispatch.Config{MaxGroups: limit})
	src := newSource()
	must(t, srv.AddSource("mem", src))
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := serve(t, srv, ctx)
	for i := range groups {
		g := netip.AddrFrom4([4]byte{239, 9, byte(i >> 8), byte(i)})
		for range each {
			src.Send([]byte("x"), src1, g)
		}
	}
	if err := rec.Wait(ctx, groups*each); err != nil {
		t.Fatal(err)
	}
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if len(st.Groups) != limit {
		t.Errorf("%d group rows, want the cap, %d", len(st.Groups), limit)
	}
	var rows uint64
	for _, g := range st.Groups {
		rows += g.Datagrams
	}
	if rows != limit*each || st.GroupsOverflow != (groups-limit)*each {
		t.Errorf("rows counted %d, overflow %d; want %d and %d", rows, st.GroupsOverflow, limit*each, (groups-limit)*each)
	}
	checkBalance(t, st)
	if _, err := dispatch.NewServer(&m, &dispatch.Config{MaxGroups: -1}); err == nil {
		t.Error("MaxGroups -1 accepted")
	}
}
