package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/hub"
	"github.com/sharecast/sharecast/mcast"
)

// hubName is the name of the hub of a run: one per port, so that runs
// never meet.
func hubName(g netip.AddrPort) string { return fmt.Sprintf("bench-%d", g.Port()) }

// hubWriter is the hub process of a KindHub run: one socket, one ring.
type hubWriter struct {
	h      *hub.Hub
	cancel context.CancelFunc
	served chan error
	final  hub.Stats
}

func newHubWriter(g netip.AddrPort, lo *net.Interface, wake time.Duration) (*hubWriter, error) {
	h, err := hub.Listen(context.Background(), []string{g.String() + "%" + lo.Name}, &hub.Config{
		Name: hubName(g), Slots: 1 << 16, MaxDatagram: BufferSize, WakeInterval: wake,
		Listen: &dispatch.ListenConfig{ReadBuffer: ReadBuffer, NoWatch: true},
	})
	if err != nil {
		return nil, err
	}
	return &hubWriter{h: h, served: make(chan error, 1)}, nil
}

func (w *hubWriter) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.served <- w.h.Serve(ctx) }()
	return nil
}

// stop stops the hub: its consumers learn that it is gone.
func (w *hubWriter) stop() error {
	w.cancel()
	err := <-w.served
	w.final = w.h.Stats()
	return errors.Join(err, w.h.Close())
}

// reports returns the hub's socket: what it wrote into the ring
// (Received), and what the kernel dropped before it read it.
func (w *hubWriter) reports() []SocketReport {
	var rep SocketReport
	for _, r := range w.final.Rings {
		rep.Received += r.Written
	}
	for _, s := range w.final.Server.Sockets {
		if k := s.Kernel; k != nil {
			rep.Drops += k.KernelDrops
			rep.Truncated += k.Truncated
			rep.Foreign += k.Filtered
		}
	}
	return []SocketReport{rep}
}

func (w *hubWriter) close() { w.h.Close() }

// hubRecv is n consumers of the run's hub, each a dispatch.Server with an
// inline handler, as KindSharecast's are.
type hubRecv struct {
	cs     []*hub.Consumer
	srvs   []*dispatch.Server
	tally  []*tally
	wg     sync.WaitGroup
	errs   []error
	cancel context.CancelFunc
}

func newHubRecv(n int, g netip.AddrPort, stream uint64) (*hubRecv, error) {
	r := &hubRecv{errs: make([]error, n)}
	for range n {
		t := newTally(stream)
		var m dispatch.Mux
		if err := m.HandleFunc(dispatch.Pattern{Group: g.Addr()}, func(_ context.Context, d *dispatch.Datagram) {
			t.add(d.Payload)
		}, &dispatch.HandlerConfig{Inline: true}); err != nil {
			r.close()
			return nil, err
		}
		c, err := hub.Attach(hubName(g), nil)
		if err != nil {
			r.close()
			return nil, err
		}
		r.cs = append(r.cs, c)
		srv, err := dispatch.NewServer(&m, &dispatch.Config{BufferSize: BufferSize})
		if err == nil {
			err = c.AddTo(srv)
		}
		if err != nil {
			r.close()
			return nil, err
		}
		r.srvs = append(r.srvs, srv)
		r.tally = append(r.tally, t)
	}
	return r, nil
}

func (r *hubRecv) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for i, srv := range r.srvs {
		r.wg.Go(func() { r.errs[i] = srv.Serve(ctx) })
	}
	return nil
}

// stop waits until the hub has gone (the harness stops it first) and the
// consumers have read its ring to the end; after 20 s it stops them
// anyway.
func (r *hubRecv) stop() error {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		r.cancel()
		<-done
	}
	r.cancel()
	for i, err := range r.errs {
		if errors.Is(err, hub.ErrHubGone) {
			r.errs[i] = nil
		}
	}
	return errors.Join(r.errs...)
}

func (r *hubRecv) reports() []SocketReport {
	var out []SocketReport
	for i, c := range r.cs {
		rep := r.tally[i].report()
		var st mcast.Stats
		for _, s := range c.Sources() {
			st = s.Stats()
			rep.Drops += s.Overrun()
		}
		rep.Truncated = st.Truncated
		out = append(out, rep)
	}
	return out
}

func (r *hubRecv) close() {
	for _, srv := range r.srvs {
		srv.Close()
	}
	for _, c := range r.cs {
		c.Close()
	}
}
