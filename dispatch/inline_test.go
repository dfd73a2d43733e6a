package dispatch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
)

// An inline handler runs on the reader's goroutine and sees every datagram
// of its socket in order, byte for byte, beside queued handlers that share
// the same buffers; every buffer goes back to the pool.
func TestInlineHandlerBesideQueued(t *testing.T) {
	checkLeaks(t)
	const n = 50_000
	var m dispatch.Mux
	inline := &orderChecker{t: t}
	readerID := make(chan string, 1)
	must(t, m.Handle(dispatch.Pattern{Group: group1}, inline, &dispatch.HandlerConfig{Name: "inline", Inline: true}))
	var first bool
	must(t, m.HandleFunc(dispatch.Pattern{Group: group1}, func(_ context.Context, d *dispatch.Datagram) {
		if !first {
			first = true
			readerID <- goroutineID()
		}
	}, &dispatch.HandlerConfig{Name: "inline-2", Inline: true}))
	queued := &orderChecker{t: t}
	must(t, m.Handle(dispatch.Pattern{Group: group1}, queued, &dispatch.HandlerConfig{Name: "queued", Overflow: dispatch.Block}))
	// Group 2 goes only to an inline handler, group 1 to both kinds.
	var rec2 dispatchtest.Recorder
	must(t, m.Handle(dispatch.Pattern{Group: group2}, &rec2, &dispatch.HandlerConfig{Name: "inline-g2", Inline: true}))

	srv := newServer(t, &m, nil)
	src := newSource()
	must(t, srv.AddSource("mem", src))
	ctx := testContext(t)
	done := serve(t, srv, ctx)
	for i := range uint64(n) {
		src.Send(seqPayload(i), src1, group1)
		if i%10 == 0 {
			src.Send(seqAppend([]byte("g2"), i), src2, group2)
		}
	}
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	if id := <-readerID; id == goroutineID() {
		t.Errorf("inline handler ran on the test's goroutine")
	}
	st := srv.Stats()
	checkBalance(t, st)
	for _, c := range []*orderChecker{inline, queued} {
		if c.next.Load() != n || c.bad.Load() != 0 {
			t.Errorf("handler got %d datagrams, %d out of order; want %d in order", c.next.Load(), c.bad.Load(), n)
		}
	}
	for _, name := range []string{"inline", "inline-2", "queued"} {
		h := handlerStats(t, st, name)
		if h.Received != n || h.Delivered != n || h.Inline != (name != "queued") {
			t.Errorf("%s: received %d, delivered %d, inline %v; want %d, %d, %v", name, h.Received, h.Delivered, h.Inline, n, n, name != "queued")
		}
	}
	got := rec2.Datagrams()
	if len(got) != n/10 {
		t.Fatalf("group 2's inline handler got %d datagrams, want %d", len(got), n/10)
	}
	for k, d := range got {
		if want := seqAppend([]byte("g2"), uint64(10*k)); !bytes.Equal(d.Payload, want) || d.Source != src2 || d.Group != group2 {
			t.Fatalf("group 2 datagram %d: %q from %s to %s, want %q from %s to %s", k, d.Payload, d.Source, d.Group, want, src2, group2)
		}
	}
	var text strings.Builder
	if err := st.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "inline") {
		t.Errorf("WriteText does not say which handlers are inline:\n%s", text.String())
	}
}

// An inline handler that panics has each panic counted and logged through
// the sampler; it and the Server go on.
func TestInlineHandlerPanics(t *testing.T) {
	checkLeaks(t)
	const n = 10_000
	var logs bytes.Buffer
	var m dispatch.Mux
	p := &panicky{}
	must(t, m.Handle(dispatch.Pattern{Group: group1}, p, &dispatch.HandlerConfig{Name: "panicky", Inline: true}))
	var other dispatchtest.Recorder
	must(t, m.Handle(dispatch.Pattern{Group: group1}, &other, &dispatch.HandlerConfig{Name: "other", Inline: true}))
	srv := newServer(t, &m, &dispatch.Config{Logger: zerolog.New(&syncWriter{w: &logs})})
	must(t, srv.AddSource("gen", seqGenerator(n, src1, group1)))
	if err := wait(t, serve(t, srv, testContext(t)), "Serve"); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	checkBalance(t, st)
	h := handlerStats(t, st, "panicky")
	if h.Drops.Panic != n/10 || h.Delivered != n-n/10 || p.ok.Load() != h.Delivered || p.calls.Load() != n {
		t.Errorf("panics %d, delivered %d (handler saw %d calls, %d ok); want %d panics, %d delivered", h.Drops.Panic, h.Delivered, p.calls.Load(), p.ok.Load(), n/10, n-n/10)
	}
	if other.Len() != n {
		t.Errorf("the other inline handler got %d of %d", other.Len(), n)
	}
	if c := strings.Count(logs.String(), "handler panicked"); c != 5 {
		t.Errorf("%d panic log lines, want the sampler's 5:\n%s", c, logs.String())
	}
}

// A Shutdown past its deadline with an inline handler blocked: the handler's
// context is cancelled, the rest of the batch is dropped and counted, and
// received = delivered + dropped exactly.
func TestInlineHandlerHardStop(t *testing.T) {
	checkLeaks(t)
	const n, at = 64, 10
	var m dispatch.Mux
	g := newGate(at)
	must(t, m.Handle(dispatch.Pattern{Group: group1}, g, &dispatch.HandlerConfig{Name: "gated", Inline: true}))
	srv := newServer(t, &m, nil)
	src := newSource()
	must(t, srv.AddSource("mem", src))
	// Queue all n before serving, so that they come in one batch.
	for i := range uint64(n) {
		src.Send(seqPayload(i), src1, group1)
	}
	done := serve(t, srv, testContext(t))
	wait(t, g.reached, "the inline handler to block")
	// The batch being handed over counts as in flight until it is done.
	if h := handlerStats(t, srv.Stats(), "gated"); h.Received != n || h.InFlight != n || h.Delivered != 0 {
		t.Errorf("while blocked: received %d, in flight %d, delivered %d; want %d, %d, 0", h.Received, h.InFlight, h.Delivered, n, n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := srv.Shutdown(ctx)
	var se *dispatch.ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want a *ShutdownError wrapping context.Canceled", err)
	}
	// 0..at-1 handled, at returned on the cancelled context, the rest
	// dropped.
	if se.Dropped != n-at-1 || se.InFlight != 0 {
		t.Errorf("Shutdown dropped %d with %d in flight, want %d and 0", se.Dropped, se.InFlight, n-at-1)
	}
	wait(t, g.out, "the blocked call to return")
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	checkBalance(t, st)
	if h := handlerStats(t, st, "gated"); h.Delivered != at+1 || h.Drops.Shutdown != n-at-1 {
		t.Errorf("delivered %d, shutdown drops %d; want %d, %d", h.Delivered, h.Drops.Shutdown, at+1, n-at-1)
	}
	if got := g.numbers(); len(got) != at+1 {
		t.Errorf("handler called with %d datagrams after the hard stop began, want %d in all: %v", len(got), at+1, got)
	}
}

// Inline takes no queue settings, and an inline fallback gets what nothing
// else matches.
func TestInlineConfig(t *testing.T) {
	for _, cfg := range []dispatch.HandlerConfig{
		{Inline: true, QueueLen: 8},
		{Inline: true, Workers: 2},
		{Inline: true, Overflow: dispatch.Block},
	} {
		var m dispatch.Mux
		err := m.Handle(dispatch.Pattern{}, &dispatchtest.Recorder{}, &cfg)
		if !errors.Is(err, dispatch.ErrInvalidConfig) || !strings.Contains(err.Error(), "inline") {
			t.Errorf("Handle(%+v) = %v, want an error about inline wrapping ErrInvalidConfig", cfg, err)
		}
	}

	var m dispatch.Mux
	var matched, fb dispatchtest.Recorder
	must(t, m.Handle(dispatch.Pattern{Group: group1}, &matched, &dispatch.HandlerConfig{Inline: true}))
	must(t, m.Fallback(&fb, &dispatch.HandlerConfig{Inline: true}))
	srv := newServer(t, &m, nil)
	src := newSource()
	must(t, srv.AddSource("mem", src))
	done := serve(t, srv, testContext(t))
	for i := range uint64(100) {
		g := group1
		if i%4 == 0 {
			g = group2
		}
		src.Send(seqPayload(i), src1, g)
	}
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	checkBalance(t, st)
	if matched.Len() != 75 || fb.Len() != 25 || st.Unmatched != 25 {
		t.Errorf("matched %d, fallback %d, unmatched %d; want 75, 25, 25", matched.Len(), fb.Len(), st.Unmatched)
	}
	if h := handlerStats(t, st, "fallback"); !h.Inline || h.Delivered != 25 {
		t.Errorf("fallback stats %+v, want inline with 25 delivered", h)
	}
}

// perSourceOrder is an inline handler shared by several sources: it counts
// each source's datagrams and checks that each source's numbers come in
// order. It is safe for concurrent use, as an inline handler on several
// sources must be.
type perSourceOrder struct {
	t    *testing.T
	mu   sync.Mutex
	next map[netip.AddrPort]uint64
	bad  int
}

func (p *perSourceOrder) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := seqOf(d); n != p.next[d.Source] {
		if p.bad++; p.bad == 1 {
			p.t.Errorf("source %s: got %d, want %d", d.Source, n, p.next[d.Source])
		}
	}
	p.next[d.Source]++
}

// An inline handler on four sources is called from each source's reader,
// concurrently, and sees each source's datagrams in order; one added while
// the Server serves takes datagrams from the next batches on.
func TestInlineHandlerSeveralSources(t *testing.T) {
	checkLeaks(t)
	const sources, n = 4, 20_000
	var m dispatch.Mux
	h := &perSourceOrder{t: t, next: make(map[netip.AddrPort]uint64)}
	must(t, m.Handle(dispatch.Pattern{Group: group1}, h, &dispatch.HandlerConfig{Name: "inline", Inline: true}))
	srv := newServer(t, &m, nil)
	var srcs []*dispatchtest.Source
	for i := range sources {
		s := newSource()
		srcs = append(srcs, s)
		must(t, srv.AddSource(fmt.Sprintf("mem%d", i), s))
	}
	ctx := testContext(t)
	done := serve(t, srv, ctx)

	var late dispatchtest.Recorder
	var wg sync.WaitGroup
	added := make(chan struct{})
	for i, s := range srcs {
		from := netipAddrPort(10, 0, 0, byte(i+1), 4000)
		wg.Go(func() {
			for k := range uint64(n) {
				if k == n/2 && i == 0 {
					must(t, m.Handle(dispatch.Pattern{Group: group1}, &late, &dispatch.HandlerConfig{Name: "late", Inline: true}))
					close(added)
				}
				s.Send(seqPayload(k), from, group1)
			}
		})
	}
	wg.Wait()
	<-added
	for _, s := range srcs {
		s.Close()
	}
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	checkBalance(t, st)
	if hs := handlerStats(t, st, "inline"); hs.Delivered != sources*n || h.bad != 0 {
		t.Errorf("inline handler: delivered %d of %d, %d out of order", hs.Delivered, sources*n, h.bad)
	}
	for src, next := range h.next {
		if next != n {
			t.Errorf("source %s: %d of %d datagrams", src, next, n)
		}
	}
	// The late handler got a suffix of each source's datagrams: at least
	// the last half of source 0's, and as many as its stats say.
	hs := handlerStats(t, st, "late")
	if got := late.Len(); uint64(got) != hs.Delivered || got < n/2 || got > sources*n {
		t.Errorf("late handler: %d datagrams, stats say %d; want between %d and %d", got, hs.Delivered, n/2, sources*n)
	}
	last := make(map[netip.AddrPort]uint64)
	for _, d := range late.Datagrams() {
		k := seqOf(&d)
		if prev, ok := last[d.Source]; ok && k != prev+1 {
			t.Fatalf("late handler, source %s: %d after %d, want each source's datagrams from some point on", d.Source, k, prev)
		}
		last[d.Source] = k
	}
	for src, k := range last {
		if k != n-1 {
			t.Errorf("late handler, source %s: last datagram %d, want %d", src, k, n-1)
		}
	}
}
