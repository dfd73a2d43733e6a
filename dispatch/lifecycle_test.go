package dispatch_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/mcast"
)

func TestServeLifecycle(t *testing.T) {
	checkLeaks(t)
	var m dispatch.Mux
	var rec dispatchtest.Recorder
	must(t, m.Handle(dispatch.Pattern{}, &rec, nil))
	srv := newServer(t, &m, nil)
	if err := srv.Serve(t.Context()); !errors.Is(err, dispatch.ErrNoSource) {
		t.Fatalf("Serve without a source = %v, want ErrNoSource", err)
	}
	src := newSource()
	must(t, srv.AddSource("mem", src))
	ctx, cancel := context.WithCancel(testContext(t))
	done := serve(t, srv, ctx)
	src.Send([]byte("x"), src1, group1)
	if err := rec.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ctx); !errors.Is(err, dispatch.ErrServerClosed) {
		t.Errorf("second Serve = %v, want ErrServerClosed", err)
	}
	// A source added while serving is read at once.
	late := newSource()
	must(t, srv.AddSource("late", late))
	late.Send([]byte("y"), src2, group1)
	if err := rec.Wait(ctx, 2); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := wait(t, done, "Serve"); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve after its context ended = %v, want context.Canceled", err)
	}
	for i := range 2 {
		if err := srv.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if err := srv.AddSource("after", newSource()); !errors.Is(err, dispatch.ErrServerClosed) {
		t.Errorf("AddSource after Close = %v, want ErrServerClosed", err)
	}
	if err := srv.Serve(t.Context()); !errors.Is(err, dispatch.ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
	// The sources are the caller's: still open, their deadline passed.
	var ds [1]mcast.Datagram
	ds[0].Payload = make([]byte, 10)
	if _, err := src.ReadBatch(ds[:]); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("source after Serve: ReadBatch = %v, want a timeout", err)
	}
	checkBalance(t, settledStats(srv))
}

// settledStats returns srv's Stats once every buffer is back in the pool,
// or after 10 s. Close does not wait for the workers to exit (a handler
// call may be running), and a worker returns the buffers it released as it
// exits; nothing signals that exit, so this polls (bounded), as checkLeaks
// does for goroutines.
func settledStats(srv *dispatch.Server) dispatch.Stats {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := srv.Stats()
		if st.Buffers == st.BuffersFree || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond) // polling for the workers' exit; nothing to wait on
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestCloseBeforeServe(t *testing.T) {
	srv := newServer(t, &dispatch.Mux{}, nil)
	must(t, srv.AddSource("mem", newSource()))
	must(t, srv.Close())
	if err := srv.Serve(t.Context()); !errors.Is(err, dispatch.ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
	srv2 := newServer(t, &dispatch.Mux{}, nil)
	must(t, srv2.Shutdown(t.Context()))
	if err := srv2.Serve(t.Context()); !errors.Is(err, dispatch.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

// failingSource returns its datagrams, then err, on every read.
type failingSource struct {
	mu   sync.Mutex
	errs []error
	dl   time.Time
}

func (f *failingSource) ReadBatch(ds []mcast.Datagram) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dl.IsZero() && !time.Now().Before(f.dl) {
		return 0, errors.Join(context.DeadlineExceeded, errTimeout{})
	}
	if len(f.errs) == 0 {
		return 0, net.ErrClosed
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	ds[0].Payload = append(ds[0].Payload[:0], 'x')
	ds[0].Group = group1
	return 1, err
}

func (f *failingSource) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dl = t
	return nil
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

// The read-error policy: temporary errors are counted and retried, a
// fatal one stops the server (after draining) and Serve returns it.
func TestReadErrors(t *testing.T) {
	checkLeaks(t)
	var m dispatch.Mux
	var rec dispatchtest.Recorder
	must(t, m.Handle(dispatch.Pattern{}, &rec, &dispatch.HandlerConfig{Overflow: dispatch.Block}))
	srv := newServer(t, &m, nil)
	boom := errors.New("boom")
	src := &failingSource{errs: []error{nil, syscall.ENOBUFS, &net.OpError{Op: "read", Err: syscall.ECONNREFUSED}, nil, boom}}
	must(t, srv.AddSource("bad", src))
	err := wait(t, serve(t, srv, testContext(t)), "Serve")
	if !errors.Is(err, boom) {
		t.Fatalf("Serve = %v, want it to wrap %v", err, boom)
	}
	st := srv.Stats()
	checkBalance(t, st)
	if rec.Len() != 5 || st.Sockets[0].ReadErrors != 3 {
		t.Errorf("handled %d datagrams with %d read errors, want 5 and 3", rec.Len(), st.Sockets[0].ReadErrors)
	}
}

// A source that returns a buffer the server did not give it is an error,
// not a crash.
func TestForeignBuffer(t *testing.T) {
	checkLeaks(t)
	var m dispatch.Mux
	must(t, m.Handle(dispatch.Pattern{}, &dispatchtest.Recorder{}, nil))
	srv := newServer(t, &m, nil)
	must(t, srv.AddSource("bad", dispatchtest.NewGenerator(1, local, func(_ uint64, d *mcast.Datagram) { d.Tag = 1 << 20 })))
	if err := wait(t, serve(t, srv, testContext(t)), "Serve"); !errors.Is(err, dispatch.ErrInvalidConfig) {
		t.Errorf("Serve = %v, want ErrInvalidConfig", err)
	}
}

// With several workers, each flow keeps its order.
func TestWorkersKeepFlowOrder(t *testing.T) {
	checkLeaks(t)
	const flows, per = 16, 5_000
	var mu sync.Mutex
	next := map[string]uint64{}
	worker := map[string]string{} // flow -> goroutine
	workers := map[string]bool{}
	var bad, moved int
	h := dispatch.HandlerFunc(func(_ context.Context, d *dispatch.Datagram) {
		k := d.Source.String() + ">" + d.Group.String()
		n := seqOf(d)
		g := goroutineID()
		mu.Lock()
		if next[k] != n {
			bad++
		}
		next[k] = n + 1
		if w, ok := worker[k]; ok && w != g {
			moved++
		}
		worker[k] = g
		workers[g] = true
		mu.Unlock()
	})
	var m dispatch.Mux
	must(t, m.Handle(dispatch.Pattern{}, h, &dispatch.HandlerConfig{Name: "multi", Workers: 4, Overflow: dispatch.Block}))
	srv := newServer(t, &m, nil)
	gen := dispatchtest.NewGenerator(flows*per, local, func(i uint64, d *mcast.Datagram) {
		f := i % flows
		d.Payload = seqAppend(d.Payload[:0], i/flows)
		d.Source = netipAddrPort(10, 0, 0, byte(f), 4000)
		d.Group = group1
		if f%2 == 1 {
			d.Group = group2
		}
	})
	must(t, srv.AddSource("gen", gen))
	if err := wait(t, serve(t, srv, testContext(t)), "Serve"); err != nil {
		t.Fatal(err)
	}
	if bad != 0 || len(next) != flows {
		t.Errorf("%d datagrams out of order over %d flows", bad, len(next))
	}
	if moved != 0 || len(workers) < 2 || len(workers) > 4 {
		t.Errorf("%d datagrams went to another worker than their flow's; %d workers used, want 2 to 4", moved, len(workers))
	}
	for k, n := range next {
		if n != per {
			t.Errorf("flow %s: %d datagrams, want %d", k, n, per)
		}
	}
	st := srv.Stats()
	checkBalance(t, st)
	if h := handlerStats(t, st, "multi"); h.Workers != 4 || h.Delivered != flows*per {
		t.Errorf("stats %+v", h)
	}
}
