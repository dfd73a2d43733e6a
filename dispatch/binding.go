package dispatch

import (
	"net/netip"
	"slices"
	"sync/atomic"
)

// binding is one handler of the Mux as one Server serves it: the queue(s)
// and worker(s) that the Server runs for it (none for an inline handler)
// and the Server's counters of it. A Server makes a binding for a route the
// first time it sees the route in a snapshot of the Mux, and keys it by the
// route's id, so that one Mux can feed several Servers, each with bindings
// of its own.
type binding struct {
	rt       *route
	h        Handler  // rt.h
	overflow Overflow // rt.cfg.Overflow
	inline   bool     // rt.cfg.Inline
	iidx     int      // an inline binding's index among the Server's inline bindings
	workers  []*worker

	received atomic.Uint64
	drops    [numCauses]atomic.Uint64
	busyNS   atomic.Int64
	served   atomic.Uint64 // inline: calls that returned or panicked
}

// newBinding makes the binding of rt, its workers' queues numbered from
// firstIdx, or, inline, numbered inlineIdx among the inline bindings.
func newBinding(rt *route, firstIdx, inlineIdx int) *binding {
	c := &rt.cfg
	b := &binding{rt: rt, h: rt.h, overflow: c.Overflow, inline: c.Inline}
	if c.Inline {
		b.iidx = inlineIdx
		return b
	}
	per := (c.QueueLen + c.Workers - 1) / c.Workers
	for i := range c.Workers {
		b.workers = append(b.workers, &worker{
			b:     b,
			idx:   firstIdx + i,
			ring:  make([]*record, per),
			local: make([]*record, min(handOver, per)),
			wake:  make(chan struct{}, 1),
			space: make(chan struct{}, 1),
		})
	}
	return b
}

// view is a Server's side of one snapshot of its Mux: the bindings of the
// snapshot's routes, which the readers route by until the Mux publishes
// another. It is immutable.
type view struct {
	tbl      *table
	routes   []*binding // the bindings of tbl.routes, in the same order
	fallback *binding   // nil if none
	queues   []*worker  // the Server's workers, by worker.idx
	ninline  int        // the Server's inline bindings; every binding.iidx < ninline
}

// sync returns the Server's view of the Mux's current snapshot, making
// the bindings of routes that the Server has not seen before.
func (s *Server) sync() *view {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

// syncLocked is sync with s.mu held. Snapshots only grow, and each is
// loaded under s.mu, so the views follow one another in the Mux's order.
func (s *Server) syncLocked() *view {
	t := s.mux.table()
	if s.view != nil && s.view.tbl == t {
		return s.view
	}
	if n := t.nroutes - len(s.bindings); n > 0 {
		s.bindings = append(s.bindings, make([]*binding, n)...)
	}
	v := &view{tbl: t, routes: make([]*binding, len(t.routes))}
	for i, rt := range t.routes {
		v.routes[i] = s.bind(rt)
	}
	if t.fallback != nil {
		v.fallback = s.bind(t.fallback)
	}
	v.queues = slices.Clone(s.queues)
	v.ninline = s.ninline
	s.view = v
	return v
}

// bind returns the binding of rt, making it if it is new: its workers
// start if the Server is serving, are left to Serve if it has not started,
// and are marked stopped if it has stopped, since nothing would serve
// them. s.mu is held.
func (s *Server) bind(rt *route) *binding {
	if b := s.bindings[rt.id]; b != nil {
		return b
	}
	b := newBinding(rt, len(s.queues), s.ninline)
	s.bindings[rt.id] = b
	s.queues = append(s.queues, b.workers...)
	if b.inline {
		s.ninline++
	}
	switch {
	case s.state == stateNew:
	case s.state == stateServing && !s.gone.Load():
		for _, w := range b.workers {
			s.startWorker(w)
		}
	default:
		for _, w := range b.workers {
			w.mu.Lock()
			w.hard = true
			w.mu.Unlock()
		}
	}
	return b
}

// groupRoutes returns the bindings of v that take datagrams to group g on a
// socket with local port port, and whether any of them also filters by
// source. The slice is new; readers cache it per group.
func (v *view) groupRoutes(g netip.Addr, port uint16) (bs []*binding, bySource bool) {
	for _, b := range v.routes {
		p := b.rt.pat
		if (p.Group.IsValid() && p.Group != g) || (p.Port != 0 && p.Port != port) {
			continue
		}
		bs = append(bs, b)
		if p.Source.IsValid() {
			bySource = true
		}
	}
	return bs, bySource
}
