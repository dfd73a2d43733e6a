package dispatch_test

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
)

// Routing by group, port and source, fan-out to overlapping patterns, and
// the fallback with its unmatched count.
func TestMuxRouting(t *testing.T) {
	checkLeaks(t)
	var m dispatch.Mux
	rec := map[string]*dispatchtest.Recorder{}
	handle := func(name, pattern string) {
		t.Helper()
		p, err := dispatch.ParsePattern(pattern)
		if err != nil {
			t.Fatal(err)
		}
		rec[name] = &dispatchtest.Recorder{}
		if err := m.Handle(p, rec[name], &dispatch.HandlerConfig{Name: name, Overflow: dispatch.Block}); err != nil {
			t.Fatal(err)
		}
	}
	handle("g1", "239.1.2.3")
	handle("g1:5000", "239.1.2.3:5000")
	handle("g1:6000", "239.1.2.3:6000")
	handle("g1@src2", "239.1.2.3@10.0.0.2")
	handle("any:6000", "*:6000")
	handle("all", "*")
	rec["fallback"] = &dispatchtest.Recorder{}
	if err := m.Fallback(rec["fallback"], nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Fallback(rec["fallback"], nil); !errors.Is(err, dispatch.ErrInvalidConfig) {
		t.Errorf("second Fallback = %v, want ErrInvalidConfig", err)
	}

	srv := newServer(t, &m, nil)
	a := dispatchtest.NewSource(&dispatchtest.SourceConfig{LocalAddr: netip.MustParseAddrPort("0.0.0.0:5000")})
	b := dispatchtest.NewSource(&dispatchtest.SourceConfig{LocalAddr: netip.MustParseAddrPort("0.0.0.0:6000")})
	for name, s := range map[string]*dispatchtest.Source{"a": a, "b": b} {
		if err := srv.AddSource(name, s); err != nil {
			t.Fatal(err)
		}
	}
	done := serve(t, srv, testContext(t))
	a.Send([]byte("a1"), src1, group1) // g1, g1:5000, all
	a.Send([]byte("a2"), src2, group1) // g1, g1:5000, g1@src2, all
	a.Send([]byte("a3"), src1, group2) // all
	b.Send([]byte("b1"), src1, group1) // g1, g1:6000, any:6000, all
	b.Send([]byte("b2"), src2, group2) // any:6000, all
	a.Close()
	b.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"g1":       {"a1", "a2", "b1"},
		"g1:5000":  {"a1", "a2"},
		"g1:6000":  {"b1"},
		"g1@src2":  {"a2"},
		"any:6000": {"b1", "b2"},
		"all":      {"a1", "a2", "a3", "b1", "b2"},
		"fallback": nil,
	}
	for name, r := range rec {
		got := payloads(r)
		if !sameSet(got, want[name]) {
			t.Errorf("%s got %q, want %q", name, got, want[name])
		}
	}
	for _, d := range rec["g1:5000"].Datagrams() {
		if d.Port != 5000 || d.Socket != "a" || d.Group != group1 {
			t.Errorf("datagram %+v: want port 5000 from socket a to %s", d, group1)
		}
	}
	st := srv.Stats()
	checkBalance(t, st)
	if st.Unmatched != 0 {
		t.Errorf("unmatched %d, want 0", st.Unmatched)
	}
}

func TestMuxFallbackCountsUnmatched(t *testing.T) {
	checkLeaks(t)
	var m dispatch.Mux
	var g1, fb dispatchtest.Recorder
	if err := m.Handle(dispatch.Pattern{Group: group1}, &g1, nil); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &m, nil)
	src := newSource()
	if err := srv.AddSource("mem", src); err != nil {
		t.Fatal(err)
	}
	done := serve(t, srv, testContext(t))
	src.Send([]byte("x"), src1, group2) // nothing matches, no fallback yet
	src.Send([]byte("w"), src1, group1) // once handled, x has been dispatched
	if err := g1.Wait(testContext(t), 1); err != nil {
		t.Fatal(err)
	}
	// Added while serving: the fallback takes from the next batch on.
	if err := m.Fallback(&fb, nil); err != nil {
		t.Fatal(err)
	}
	src.Send([]byte("y"), src1, group2)
	src.Send([]byte("z"), src1, group1)
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	if got := payloads(&fb); !reflect.DeepEqual(got, []string{"y"}) {
		t.Errorf("fallback got %q, want [y]", got)
	}
	if got := payloads(&g1); !reflect.DeepEqual(got, []string{"w", "z"}) {
		t.Errorf("group handler got %q, want [w z]", got)
	}
	st := srv.Stats()
	checkBalance(t, st)
	if st.Unmatched != 2 {
		t.Errorf("unmatched %d, want 2", st.Unmatched)
	}
	want := []dispatch.GroupStats{
		{Group: group1, Port: 5000, Datagrams: 2, Bytes: 2},
		{Group: group2, Port: 5000, Datagrams: 2, Bytes: 2, Unmatched: 2},
	}
	if !reflect.DeepEqual(st.Groups, want) {
		t.Errorf("group stats %+v, want %+v", st.Groups, want)
	}
	if h := handlerStats(t, st, "fallback"); !h.Fallback || h.Delivered != 1 {
		t.Errorf("fallback stats %+v", h)
	}
}

// Handlers added while serving get datagrams from then on.
func TestMuxHandleWhileServing(t *testing.T) {
	checkLeaks(t)
	var m dispatch.Mux
	var first, second dispatchtest.Recorder
	if err := m.Handle(dispatch.Pattern{}, &first, nil); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &m, nil)
	src := newSource()
	if err := srv.AddSource("mem", src); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	done := serve(t, srv, ctx)
	src.Send([]byte("1"), src1, group1)
	if err := first.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Handle(dispatch.Pattern{}, &second, nil); err != nil {
		t.Fatal(err)
	}
	src.Send([]byte("2"), src1, group1)
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	if got := payloads(&first); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Errorf("first got %q", got)
	}
	if got := payloads(&second); !reflect.DeepEqual(got, []string{"2"}) {
		t.Errorf("second got %q", got)
	}
	st := srv.Stats()
	checkBalance(t, st)
	if len(st.Handlers) != 2 || st.Handlers[0].Name != "*" || st.Handlers[1].Name != "*#2" {
		t.Errorf("handler names: %+v", st.Handlers)
	}
}

// The Mux as a plain Handler calls the matching handlers in turn.
func TestMuxServeDatagram(t *testing.T) {
	var m dispatch.Mux
	var calls []string
	h := func(name string) dispatch.HandlerFunc {
		return func(context.Context, *dispatch.Datagram) { calls = append(calls, name) }
	}
	must(t, m.Handle(dispatch.Pattern{Group: group1}, h("g1"), nil))
	must(t, m.Handle(dispatch.Pattern{Source: src2.Addr()}, h("src2"), nil))
	must(t, m.Fallback(h("fallback"), nil))
	for _, d := range []dispatch.Datagram{
		{Group: group1, Source: src1},
		{Group: group1, Source: src2},
		{Group: group2, Source: src1},
	} {
		m.ServeDatagram(context.Background(), &d)
	}
	if want := []string{"g1", "g1", "src2", "fallback"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}

func TestMuxConfigErrors(t *testing.T) {
	var m dispatch.Mux
	nop := dispatch.HandlerFunc(func(context.Context, *dispatch.Datagram) {})
	for _, c := range []dispatch.HandlerConfig{
		{QueueLen: -1},
		{Workers: -1},
		{Overflow: 7},
		{QueueLen: 2, Workers: 3},
	} {
		if err := m.Handle(dispatch.Pattern{}, nop, &c); !errors.Is(err, dispatch.ErrInvalidConfig) {
			t.Errorf("Handle with %+v = %v, want ErrInvalidConfig", c, err)
		}
	}
	// A Mux may serve several Servers (see TestMuxServesTwoServers).
	srv, srv2 := newServer(t, &m, nil), newServer(t, &m, nil)
	srv.Close()
	srv2.Close()
	if _, err := dispatch.NewServer(&dispatch.Mux{}, &dispatch.Config{BatchSize: -1}); !errors.Is(err, dispatch.ErrInvalidConfig) {
		t.Errorf("NewServer with a negative batch = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Handle(nil) did not panic")
		}
	}()
	_ = m.Handle(dispatch.Pattern{}, nil, nil)
}

func payloads(r *dispatchtest.Recorder) []string {
	var ps []string
	for _, d := range r.Datagrams() {
		ps = append(ps, string(d.Payload))
	}
	return ps
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
