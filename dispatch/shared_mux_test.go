package dispatch_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
)

// One Mux serves two Servers at once, each reading a Source of its own:
// each Server's counters (per handler, per group, unmatched, per socket)
// count exactly the datagrams of its own Source, and the handlers, which
// both Servers share, got each datagram once, byte for byte. A handler
// added while both serve takes from both; one Server shut down leaves the
// other serving.
func TestMuxServesTwoServers(t *testing.T) {
	checkLeaks(t)
	ctx := testContext(t)
	var m dispatch.Mux
	rec := map[string]*dispatchtest.Recorder{}
	handle := func(name string, cfg dispatch.HandlerConfig) {
		t.Helper()
		rec[name] = new(dispatchtest.Recorder)
		cfg.Name = name
		must(t, m.Handle(dispatch.Pattern{Group: group1}, rec[name], &cfg))
	}
	handle("queued", dispatch.HandlerConfig{Overflow: dispatch.Block})
	handle("pool", dispatch.HandlerConfig{Overflow: dispatch.Block, Workers: 2, QueueLen: 64})
	handle("inline", dispatch.HandlerConfig{Inline: true})
	rec["fallback"] = new(dispatchtest.Recorder)
	must(t, m.Fallback(rec["fallback"], &dispatch.HandlerConfig{Overflow: dispatch.Block}))

	type side struct {
		src  *dispatchtest.Source
		srv  *dispatch.Server
		done <-chan error
		// sent[handler] is what each handler should have got from this
		// side, in order.
		sent map[string][][]byte
		// group1Bytes and unmatched are this side's group1 bytes and
		// unmatched datagrams; datagrams and bytes all it sent.
		group1Bytes, unmatched, datagrams, bytes uint64
	}
	sides := map[string]*side{}
	for _, name := range []string{"a", "b"} {
		sd := &side{src: newSource(), srv: newServer(t, &m, nil), sent: map[string][][]byte{}}
		must(t, sd.srv.AddSource(name, sd.src))
		sd.done = serve(t, sd.srv, ctx)
		sides[name] = sd
	}
	// send sends n datagrams from side name, each of a length of its own,
	// every fifth to group2, which only the fallback takes; to group1 they
	// go to the handlers named.
	send := func(name string, n int, handlers ...string) {
		t.Helper()
		sd := sides[name]
		for i := range n {
			p := fmt.Appendf(nil, "%s-%d-%d:", name, len(sd.sent["queued"]), i)
			p = append(p, bytes.Repeat([]byte{name[0]}, i%7+3*len(name))...)
			g, to := group1, handlers
			if i%5 == 4 {
				g, to = group2, []string{"fallback"}
				sd.unmatched++
			} else {
				sd.group1Bytes += uint64(len(p))
			}
			for _, h := range to {
				sd.sent[h] = append(sd.sent[h], p)
			}
			sd.datagrams++
			sd.bytes += uint64(len(p))
			if !sd.src.Send(p, src1, g) {
				t.Fatalf("source %s dropped a datagram", name)
			}
		}
	}
	waitAll := func() {
		t.Helper()
		for h, r := range rec {
			n := 0
			for _, sd := range sides {
				n += len(sd.sent[h])
			}
			if err := r.Wait(ctx, n); err != nil {
				t.Fatalf("handler %s: %d of %d datagrams: %v", h, r.Len(), n, err)
			}
		}
	}
	send("a", 150, "queued", "pool", "inline")
	send("b", 61, "queued", "pool", "inline")
	waitAll()

	// Every datagram sent so far has been dispatched: a handler added now
	// takes exactly those that follow, from both Servers.
	handle("late", dispatch.HandlerConfig{})
	send("a", 20, "queued", "pool", "inline", "late")
	send("b", 33, "queued", "pool", "inline", "late")
	waitAll()

	a, b := sides["a"], sides["b"]
	must(t, a.srv.Shutdown(ctx))
	if err := wait(t, a.done, "Serve a"); err != nil {
		t.Fatal(err)
	}
	send("b", 9, "queued", "pool", "inline", "late")
	waitAll()
	must(t, b.srv.Shutdown(ctx))
	if err := wait(t, b.done, "Serve b"); err != nil {
		t.Fatal(err)
	}

	for name, sd := range sides {
		st := sd.srv.Stats()
		checkBalance(t, st)
		for h := range rec {
			hs := handlerStats(t, st, h)
			if n := uint64(len(sd.sent[h])); hs.Received != n || hs.Delivered != n {
				t.Errorf("server %s, handler %s: received %d, delivered %d, want %d", name, h, hs.Received, hs.Delivered, n)
			}
		}
		if st.Unmatched != sd.unmatched {
			t.Errorf("server %s: unmatched %d, want %d", name, st.Unmatched, sd.unmatched)
		}
		if len(st.Sockets) != 1 || st.Sockets[0].Name != name || st.Sockets[0].Datagrams != sd.datagrams || st.Sockets[0].Bytes != sd.bytes {
			t.Errorf("server %s: sockets %+v, want one, %d datagrams, %d bytes", name, st.Sockets, sd.datagrams, sd.bytes)
		}
		g1, ok := groupStats(st, group1)
		if !ok || g1.Bytes != sd.group1Bytes || g1.Datagrams != sd.datagrams-sd.unmatched {
			t.Errorf("server %s: group %s %+v, want %d datagrams, %d bytes", name, group1, g1, sd.datagrams-sd.unmatched, sd.group1Bytes)
		}
	}
	// Each handler got each side's datagrams once, from that side's
	// Server, byte for byte and in order (all of them are of one flow, so
	// "pool" too hands them all to one of its workers).
	for h, r := range rec {
		got := map[string][][]byte{}
		for _, d := range r.Datagrams() {
			got[d.Socket] = append(got[d.Socket], d.Payload)
		}
		for name, sd := range sides {
			if !slices.EqualFunc(got[name], sd.sent[h], bytes.Equal) {
				t.Errorf("handler %s got from %s:\n%q\nwant:\n%q", h, name, got[name], sd.sent[h])
			}
		}
		if len(got) != len(sides) {
			t.Errorf("handler %s got datagrams from %d sockets, want %d", h, len(got), len(sides))
		}
	}
}

// groupStats returns the stats of group g in st.
func groupStats(st dispatch.Stats, g netip.Addr) (dispatch.GroupStats, bool) {
	for _, gs := range st.Groups {
		if gs.Group == g {
			return gs, true
		}
	}
	return dispatch.GroupStats{}, false
}
