package dispatch_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/rs/zerolog"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// gate is a handler that blocks on the datagram numbered at until released
// (or its context ends), and records the numbers it was given.
type gate struct {
	at       uint64
	reached  chan struct{}
	release  chan struct{}
	out      chan struct{} // closed when the blocked call returns
	mu       chan struct{} // a 1-slot lock for seen
	seen     []uint64
	returned atomic.Uint64
}

func newGate(at uint64) *gate {
	g := &gate{at: at, reached: make(chan struct{}), release: make(chan struct{}), out: make(chan struct{}), mu: make(chan struct{}, 1)}
	return g
}

func (g *gate) ServeDatagram(ctx context.Context, d *dispatch.Datagram) {
	n := seqOf(d)
	g.mu <- struct{}{}
	g.seen = append(g.seen, n)
	<-g.mu
	if n == g.at {
		close(g.reached)
		select {
		case <-g.release:
		case <-ctx.Done():
		}
		g.returned.Add(1)
		close(g.out)
		return
	}
	g.returned.Add(1)
}

func (g *gate) numbers() []uint64 {
	g.mu <- struct{}{}
	defer func() { <-g.mu }()
	return append([]uint64(nil), g.seen...)
}

// Acceptance 2: one handler blocked; the others still get everything, and
// the blocked one's drops are exactly what it missed.
func TestBlockedHandlerDoesNotStallOthers(t *testing.T) {
	for _, policy := range []dispatch.Overflow{dispatch.DropNewest, dispatch.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			checkLeaks(t)
			const n, qlen = 10_000, 100
			var m dispatch.Mux
			// The blocked handler first: the reader pushes to queues in
			// registration order, so once the others have everything,
			// so has the blocked handler's queue.
			slow := newGate(0)
			if err := m.Handle(dispatch.Pattern{Group: group1}, slow, &dispatch.HandlerConfig{Name: "slow", QueueLen: qlen, Overflow: policy}); err != nil {
				t.Fatal(err)
			}
			fast := []*dispatchtestRecorder{{}, {}}
			for i, r := range fast {
				if err := m.Handle(dispatch.Pattern{Group: group1}, r, &dispatch.HandlerConfig{Name: "fast" + string(rune('0'+i)), QueueLen: n}); err != nil {
					t.Fatal(err)
				}
			}
			srv := newServer(t, &m, nil)
			src := newSource()
			if err := srv.AddSource("mem", src); err != nil {
				t.Fatal(err)
			}
			ctx := testContext(t)
			done := serve(t, srv, ctx)
			src.Send(seqPayload(0), src1, group1)
			wait(t, slow.reached, "the slow handler to block")
			for i := uint64(1); i < n; i++ {
				src.Send(seqPayload(i), src1, group1)
			}
			for _, r := range fast {
				if err := r.Wait(ctx, n); err != nil {
					t.Fatalf("fast handler got %d of %d datagrams while the slow one was blocked: %v", r.Len(), n, err)
				}
			}
			st := srv.Stats()
			if h := handlerStats(t, st, "slow"); h.Received != n {
				t.Fatalf("slow handler received %d, want %d", h.Received, n)
			}
			close(slow.release)
			src.Close()
			if err := wait(t, done, "Serve"); err != nil {
				t.Fatal(err)
			}

			st = srv.Stats()
			checkBalance(t, st)
			for i, r := range fast {
				ds := r.Datagrams()
				for j := range ds {
					if got := seqOf(&ds[j]); got != uint64(j) {
						t.Fatalf("fast handler %d: datagram %d is %d", i, j, got)
					}
				}
			}
			got := slow.numbers()
			h := handlerStats(t, st, "slow")
			missed := uint64(n - len(got))
			if h.Delivered != uint64(len(got)) || h.Drops.Total() != missed {
				t.Errorf("slow handler: delivered %d, drops %+v; it got %d, so missed %d", h.Delivered, h.Drops, len(got), missed)
			}
			// What it got: the hand-over batch it took before blocking
			// (0..k-1), then a full queue of the oldest (drop newest) or
			// the newest (drop oldest) of the rest.
			k := 0
			for k < len(got) && got[k] == uint64(k) {
				k++
			}
			var taken int
			switch policy {
			case dispatch.DropNewest:
				taken = k - qlen
				if k != len(got) || h.Drops.QueueFull != missed {
					t.Errorf("drop newest: got %d datagrams, the first %d in a row; queue-full drops %d, want %d", len(got), k, h.Drops.QueueFull, missed)
				}
			case dispatch.DropOldest:
				taken = k
				tail := got[k:]
				for j := range tail {
					if want := uint64(n - len(tail) + j); tail[j] != want {
						t.Fatalf("drop oldest: datagram %d after the hand-over batch is %d, want %d", j, tail[j], want)
					}
				}
				if len(tail) != qlen || h.Drops.Evicted != missed {
					t.Errorf("drop oldest: %d newest datagrams kept, want %d; evicted %d, want %d", len(tail), qlen, h.Drops.Evicted, missed)
				}
			}
			if taken < 1 || taken > 16 {
				t.Errorf("hand-over batch of %d datagrams (%v...), want 1 to 16", taken, got[:min(len(got), 20)])
			}
			if h.HighWater != qlen {
				t.Errorf("high-water mark %d, want %d", h.HighWater, qlen)
			}
		})
	}
}

// Acceptance 3, without sockets: with the Block policy a slow handler holds
// up the reader, and what overflows the source's backlog is counted there,
// as the kernel counts what overflows a socket's buffer.
func TestBlockPolicyPushesBackToSource(t *testing.T) {
	checkLeaks(t)
	const n, backlog, qlen = 5_000, 200, 50
	var m dispatch.Mux
	slow := newGate(0)
	if err := m.Handle(dispatch.Pattern{Group: group1}, slow, &dispatch.HandlerConfig{Name: "slow", QueueLen: qlen, Overflow: dispatch.Block}); err != nil {
		t.Fatal(err)
	}
	var fast dispatchtestRecorder
	if err := m.Handle(dispatch.Pattern{}, &fast, &dispatch.HandlerConfig{Name: "fast", QueueLen: n}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &m, nil)
	src := dispatchtest.NewSource(&dispatchtest.SourceConfig{LocalAddr: local, Backlog: backlog})
	if err := srv.AddSource("mem", src); err != nil {
		t.Fatal(err)
	}
	done := serve(t, srv, testContext(t))
	src.Send(seqPayload(0), src1, group1)
	wait(t, slow.reached, "the slow handler to block")
	accepted := uint64(1)
	for i := uint64(1); i < n; i++ {
		if src.Send(seqPayload(i), src1, group1) {
			accepted++
		}
	}
	ks := src.Stats()
	if ks.KernelDrops == 0 || ks.KernelDrops+accepted != n {
		t.Fatalf("source dropped %d and accepted %d of %d", ks.KernelDrops, accepted, n)
	}
	close(slow.release)
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	checkBalance(t, st)
	slowSt, fastSt := handlerStats(t, st, "slow"), handlerStats(t, st, "fast")
	got := slow.numbers()
	if slowSt.Drops.Total() != 0 || slowSt.Delivered != accepted || uint64(len(got)) != accepted {
		t.Errorf("slow handler: delivered %d (saw %d), drops %+v; want all %d that the source accepted", slowSt.Delivered, len(got), slowSt.Drops, accepted)
	}
	if fastSt.Delivered != accepted || uint64(fast.Len()) != accepted {
		t.Errorf("fast handler: delivered %d, want %d", fastSt.Delivered, accepted)
	}
	// Sent = delivered + dropped by the "kernel", exactly.
	if k := st.Sockets[0].Kernel; k == nil || k.KernelDrops+slowSt.Delivered != n {
		t.Errorf("socket stats %+v: kernel drops + delivered != %d sent", k, n)
	}
	for i, v := range got {
		if i > 0 && v <= got[i-1] {
			t.Fatalf("slow handler: datagram %d after %d", v, got[i-1])
		}
	}
}

// panicky panics on every 10th datagram (numbers 9, 19, ...).
type panicky struct{ calls, ok atomic.Uint64 }

func (p *panicky) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	p.calls.Add(1)
	if seqOf(d)%10 == 9 {
		panic("every 10th")
	}
	p.ok.Add(1)
}

// Acceptance 4: a handler that panics on every 10th datagram has its
// panics counted and gets every other datagram; the server goes on.
func TestPanickingHandler(t *testing.T) {
	checkLeaks(t)
	const n = 10_000
	var logs bytes.Buffer
	var m dispatch.Mux
	p := &panicky{}
	if err := m.Handle(dispatch.Pattern{Group: group1}, p, &dispatch.HandlerConfig{Name: "panicky", Overflow: dispatch.Block}); err != nil {
		t.Fatal(err)
	}
	var other dispatchtestRecorder
	if err := m.Handle(dispatch.Pattern{Group: group1}, &other, &dispatch.HandlerConfig{Name: "other", Overflow: dispatch.Block}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &m, &dispatch.Config{Logger: zerolog.New(&syncWriter{w: &logs})})
	src := newSource()
	if err := srv.AddSource("mem", src); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	done := serve(t, srv, ctx)
	for i := uint64(0); i < n; i++ {
		src.Send(seqPayload(i), src1, group1)
	}
	if err := other.Wait(ctx, n); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v after panics", err)
	default:
	}
	// The server still serves.
	src.Send(seqPayload(n), src1, group1)
	if err := other.Wait(ctx, n+1); err != nil {
		t.Fatal(err)
	}
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	checkBalance(t, st)
	h := handlerStats(t, st, "panicky")
	if h.Drops.Panic != n/10 || h.Delivered != n+1-n/10 || p.ok.Load() != h.Delivered || p.calls.Load() != n+1 {
		t.Errorf("panics %d, delivered %d (handler saw %d calls, %d ok); want %d panics, %d delivered", h.Drops.Panic, h.Delivered, p.calls.Load(), p.ok.Load(), n/10, n+1-n/10)
	}
	// Logged through the sampler: 5 a burst, not 1,000.
	if c := strings.Count(logs.String(), "handler panicked"); c != 5 {
		t.Errorf("%d panic log lines, want the sampler's 5:\n%s", c, logs.String())
	}
	if !strings.Contains(logs.String(), `"panic":"every 10th"`) {
		t.Errorf("panic log lacks the panic value:\n%.500s", logs.String())
	}
}

// queueUp starts a Server whose handler "gated" blocks on datagram at, and
// queues n datagrams for it. It returns when all n are queued or taken.
func queueUp(t *testing.T, n, at uint64) (*dispatch.Server, *gate, <-chan error) {
	t.Helper()
	var m dispatch.Mux
	g := newGate(at)
	if err := m.Handle(dispatch.Pattern{Group: group1}, g, &dispatch.HandlerConfig{Name: "gated", QueueLen: int(n)}); err != nil {
		t.Fatal(err)
	}
	// Registered after, so when it has everything the gated queue has too.
	var probe dispatchtestRecorder
	if err := m.Handle(dispatch.Pattern{Group: group1}, &probe, &dispatch.HandlerConfig{Name: "probe", QueueLen: int(n)}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &m, nil)
	src := newSource()
	if err := srv.AddSource("mem", src); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	done := serve(t, srv, ctx)
	for i := range n {
		src.Send(seqPayload(i), src1, group1)
	}
	wait(t, g.reached, "the gated handler to block")
	if err := probe.Wait(ctx, int(n)); err != nil {
		t.Fatal(err)
	}
	return srv, g, done
}

// Acceptance 5: Shutdown drains 10,000 queued datagrams.
func TestShutdownDrains(t *testing.T) {
	checkLeaks(t)
	const n = 10_000
	srv, g, done := queueUp(t, n, 0)
	if h := handlerStats(t, srv.Stats(), "gated"); h.Queued+h.InFlight != n {
		t.Fatalf("queued %d + in flight %d, want %d", h.Queued, h.InFlight, n)
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(testContext(t)) }()
	close(g.release)
	if err := wait(t, shut, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	st := srv.Stats()
	checkBalance(t, st)
	if h := handlerStats(t, st, "gated"); h.Delivered != n || g.returned.Load() != n || h.Drops.Total() != 0 {
		t.Errorf("delivered %d (handler returned %d times), drops %+v; want all %d", h.Delivered, g.returned.Load(), h.Drops, n)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// Acceptance 5: with a deadline too short, Shutdown reports exactly how
// many datagrams it dropped.
func TestShutdownDeadlineReportsDrops(t *testing.T) {
	checkLeaks(t)
	const n, at = 10_000, 100
	srv, g, done := queueUp(t, n, at)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := srv.Shutdown(ctx)
	var se *dispatch.ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want a *ShutdownError wrapping context.DeadlineExceeded", err)
	}
	// 0..99 were handled; 100 is in the handler, which returns when its
	// context is cancelled; the other 9,899 were dropped.
	if se.Dropped != n-at-1 || se.InFlight != 1 {
		t.Errorf("Shutdown dropped %d with %d in flight, want %d and 1", se.Dropped, se.InFlight, n-at-1)
	}
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// Wait for the in-flight call, which the cancelled context ends.
	wait(t, g.out, "the blocked handler call to return")
	st := settledStats(srv)
	h := handlerStats(t, st, "gated")
	if h.Drops.Shutdown != se.Dropped || h.Delivered != at+1 || h.Delivered+se.Dropped != n {
		t.Errorf("delivered %d + shutdown drops %d (reported %d) != %d", h.Delivered, h.Drops.Shutdown, se.Dropped, n)
	}
	checkBalance(t, st)
}
