package dispatch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sharecast/sharecast/mcast"
)

// reader is one Source's goroutine and its state: the batch of buffers it
// reads into, the Server's view of the Mux that it routes by, a per-group
// cache of that view's bindings, and the datagrams of the current batch
// sorted per queue.
type reader struct {
	s     *Server
	name  string
	src   Source
	local netip.AddrPort
	batch int

	ds    []mcast.Datagram
	slots []*record // slots[Tag]: the record whose buffer ds carries
	rl    releaser

	v         *view
	cache     map[netip.Addr]*groupEntry
	lastGroup netip.Addr
	last      *groupEntry
	matched   []*binding  // scratch for source-filtered bindings
	pending   [][]*record // per queue index
	touched   []int       // queue indexes with pending records
	scratch   []*record   // for DropOldest evictions
	ipending  [][]*record // per inline binding index
	itouched  []*binding  // inline bindings with pending records
	held      []*record   // records queued and served inline: one reference is the reader's

	// The flow whose hash was computed last, and its hash.
	lastFlow      netip.AddrPort
	lastFlowGroup netip.Addr
	lastHash      uint64
	lastHashOK    bool

	datagrams, bytes, readErrors atomic.Uint64
	exited                       atomic.Bool
}

// groupEntry is what a reader knows about one destination group: its
// counters and the bindings that take it on this reader's port.
type groupEntry struct {
	stats    *groupStats
	routes   []*binding
	bySource bool
}

type groupStats struct {
	group                       netip.Addr
	port                        uint16
	datagrams, bytes, unmatched atomic.Uint64
}

func newReader(s *Server, name string, src Source) *reader {
	// A view of no snapshot: the first batch syncs with the Mux.
	r := &reader{s: s, name: name, src: src, batch: s.batch, v: &view{}}
	if la, ok := src.(interface{ LocalAddr() netip.AddrPort }); ok {
		r.local = la.LocalAddr()
	}
	if bs, ok := src.(interface{ BatchSize() int }); ok {
		if n := bs.BatchSize(); n > 0 && n < r.batch {
			r.batch = n
		}
	}
	r.ds = make([]mcast.Datagram, r.batch)
	r.slots = make([]*record, r.batch)
	r.scratch = make([]*record, r.batch)
	r.rl = newReleaser(s.pool, r.batch)
	r.cache = make(map[netip.Addr]*groupEntry)
	return r
}

// run reads until the Server stops reading, the Source is closed or fails.
func (r *reader) run() {
	s := r.s
	var fatal error
	defer func() {
		r.rl.flush()
		for i, rec := range r.slots {
			if rec != nil {
				rec.refs.Store(1)
				r.rl.release(rec)
				r.slots[i] = nil
			}
		}
		r.rl.flush()
		r.exited.Store(true)
		s.readerDone(fatal)
	}()
	backoff := time.Duration(0)
	for {
		select {
		case <-s.readStop:
			return
		default:
		}
		r.refill()
		n, err := r.src.ReadBatch(r.ds)
		n = min(max(n, 0), len(r.ds))
		if n > 0 {
			if ferr := r.dispatch(n); ferr != nil {
				fatal = ferr
				s.stopReading()
				return
			}
			backoff = 0
		}
		if err == nil {
			continue
		}
		switch {
		case r.stopping():
			return
		case errors.Is(err, net.ErrClosed):
			s.log.Debug().Str("socket", r.name).Msg("source closed")
			return
		case isTimeout(err):
			// Someone else's deadline: clear it, unless the Server has
			// set its own since (it sets readStop first).
			if derr := r.src.SetReadDeadline(time.Time{}); derr != nil {
				fatal = fmt.Errorf("dispatch: socket %s: clear read deadline: %w", r.name, derr)
				s.stopReading()
				return
			}
			continue
		case isTemporary(err):
			r.readErrors.Add(1)
			if e := s.slog.Warn(); e.Enabled() {
				e.Err(err).Str("socket", r.name).Msg("read error; retrying")
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.readStop:
				t.Stop()
				return
			}
		default:
			r.readErrors.Add(1)
			s.log.Error().Err(err).Str("socket", r.name).Msg("read failed; stopping")
			fatal = fmt.Errorf("dispatch: socket %s: %w", r.name, err)
			s.stopReading()
			return
		}
	}
}

func (r *reader) stopping() bool {
	select {
	case <-r.s.readStop:
		return true
	default:
		return false
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// isTemporary reports errors after which the next read may well succeed:
// a lack of memory or buffers, an interrupted call, and ICMP errors that
// some stacks report on a later read.
func isTemporary(err error) bool {
	for _, e := range [...]error{syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refill gives every empty slot a record and lays the batch out for
// ReadBatch, each buffer tagged with its slot.
func (r *reader) refill() {
	empty := r.scratch[:0]
	for _, rec := range r.slots {
		if rec == nil {
			empty = append(empty, nil)
		}
	}
	if len(empty) > 0 {
		r.s.pool.get(empty)
		k := 0
		for i, rec := range r.slots {
			if rec == nil {
				r.slots[i] = empty[k]
				k++
			}
		}
		clear(empty)
	}
	for i, rec := range r.slots {
		r.ds[i] = mcast.Datagram{Payload: rec.buf, Tag: i}
	}
}

// dispatch hands the n datagrams at the front of r.ds to the handlers
// that match them: first the routing step, then the fan-out. Once per
// batch it compares the Mux's snapshot with the one its view was made of,
// and syncs with the Server if the Mux has published another.
func (r *reader) dispatch(n int) error {
	if r.s.mux.table() != r.v.tbl {
		r.setView(r.s.sync())
	}
	if err := r.route(n); err != nil {
		return err
	}
	r.fanOut()
	return nil
}

// route is the routing step. For each of the n datagrams at the front of
// r.ds it takes its record (take), counts it for the socket and its group,
// finds the handlers that take it (routesFor, or the fallback when none
// does, counted as unmatched), and sorts it onto their pending lists
// (assign). A record that no handler takes stays in its slot, to be read
// into again.
func (r *reader) route(n int) error {
	var bytes uint64
	var cur *groupEntry
	var curN, curBytes uint64
	for i := range n {
		tag := r.ds[i].Tag
		rec, err := r.take(i)
		if err != nil {
			return err
		}
		size := uint64(len(rec.d.Payload))
		bytes += size

		// Counted per run of one group, flushed when the group changes.
		e := r.entry(rec.d.Group)
		if e != cur {
			if cur != nil {
				cur.stats.datagrams.Add(curN)
				cur.stats.bytes.Add(curBytes)
			}
			cur, curN, curBytes = e, 0, 0
		}
		curN++
		curBytes += size

		routes := r.routesFor(e, rec.d.Source.Addr())
		if len(routes) == 0 {
			e.stats.unmatched.Add(1)
			r.s.unmatched.Add(1)
			fb := r.v.fallback
			if fb == nil {
				r.slots[tag] = rec // unused: read into it again
				continue
			}
			routes = r.fallbackRoutes(fb)
		}
		r.assign(rec, tag, routes)
	}
	if cur != nil {
		cur.stats.datagrams.Add(curN)
		cur.stats.bytes.Add(curBytes)
	}
	r.datagrams.Add(uint64(n))
	r.bytes.Add(bytes)
	return nil
}

// take takes the record of r.ds[i] out of its slot and fills in the
// Datagram that handlers see. A tag that is not one of the batch's (a
// Source that broke the ReadBatch contract) is an error that stops the
// reader.
func (r *reader) take(i int) (*record, error) {
	md := &r.ds[i]
	if md.Tag < 0 || md.Tag >= len(r.slots) || r.slots[md.Tag] == nil {
		return nil, fmt.Errorf("dispatch: socket %s: datagram %d came back with tag %d, not one of the batch's: %w",
			r.name, i, md.Tag, ErrInvalidConfig)
	}
	rec := r.slots[md.Tag]
	r.slots[md.Tag] = nil
	rec.d = Datagram{
		Payload: md.Payload,
		Source:  md.Source,
		Group:   md.Group,
		Port:    r.local.Port(),
		IfIndex: md.IfIndex,
		TTL:     md.TTL,
		Time:    md.Time,
		Socket:  r.name,
	}
	return rec, nil
}

// routesFor returns the bindings of group entry e that take a datagram from
// src: all of them, unless some match by source.
func (r *reader) routesFor(e *groupEntry, src netip.Addr) []*binding {
	if !e.bySource {
		return e.routes
	}
	routes := r.matched[:0]
	for _, b := range e.routes {
		if !b.rt.pat.Source.IsValid() || b.rt.pat.Source == src {
			routes = append(routes, b)
		}
	}
	r.matched = routes
	return routes
}

// assign appends rec to the pending list of each binding of routes: of one
// worker of each queued handler (by flow, with several) and of each inline
// one. It sets rec's reference count to the number of queues, plus the
// reader's own while inline handlers share it; a record that only inline
// handlers take goes back to its slot (tag), the reader's to read into
// again once they have returned.
func (r *reader) assign(rec *record, tag int, routes []*binding) {
	queued, inline := 0, false
	for _, b := range routes {
		if b.inline {
			if len(r.ipending[b.iidx]) == 0 {
				r.itouched = append(r.itouched, b)
			}
			r.ipending[b.iidx] = append(r.ipending[b.iidx], rec)
			inline = true
			continue
		}
		queued++
		w := b.workers[0]
		if len(b.workers) > 1 {
			w = b.workers[r.cachedFlowHash(rec.d.Source, rec.d.Group)%uint64(len(b.workers))]
		}
		if len(r.pending[w.idx]) == 0 {
			r.touched = append(r.touched, w.idx)
		}
		r.pending[w.idx] = append(r.pending[w.idx], rec)
	}
	switch {
	case queued == 0:
		r.slots[tag] = rec
	case inline:
		rec.refs.Store(int32(queued + 1))
		r.held = append(r.held, rec)
	default:
		rec.refs.Store(int32(queued))
	}
}

// cachedFlowHash returns flowHash(src, g), computed again only when the flow
// differs from the last one asked (a batch is mostly runs of one flow).
func (r *reader) cachedFlowHash(src netip.AddrPort, g netip.Addr) uint64 {
	if src != r.lastFlow || g != r.lastFlowGroup || !r.lastHashOK {
		r.lastFlow, r.lastFlowGroup, r.lastHashOK = src, g, true
		r.lastHash = flowHash(src, g)
	}
	return r.lastHash
}

// fanOut is the fan-out step: it hands the records that route sorted out
// to their handlers, counting each handler's received, delivered and
// dropped datagrams as it goes, and returns to the pool the buffers that
// no one holds any more. Queues that never block come first, so that a
// blocking one holds up nobody else's datagrams of this batch; then the
// inline handlers, which hold up the reader too, and the blocking queues
// last.
func (r *reader) fanOut() {
	r.push(false)
	if len(r.itouched) > 0 {
		r.serveInline()
	}
	r.push(true)
	for _, qi := range r.touched {
		clear(r.pending[qi])
		r.pending[qi] = r.pending[qi][:0]
	}
	r.touched = r.touched[:0]
	r.rl.flush()
}

// push pushes the pending records onto the queues whose overflow is, or is
// not, Block.
func (r *reader) push(block bool) {
	s := r.s
	for _, qi := range r.touched {
		w := r.v.queues[qi]
		if (w.b.overflow == Block) != block {
			continue
		}
		if k := w.push(r.pending[qi], &r.rl, r.scratch, s.hardCh); k > 0 {
			s.shutdownDrops.Add(uint64(k))
		}
	}
}

// serveInline calls each inline handler with the records of the batch that
// it takes, in order, then drops the reader's reference to those that
// queues hold too.
func (r *reader) serveInline() {
	for _, b := range r.itouched {
		recs := r.ipending[b.iidx]
		b.received.Add(uint64(len(recs)))
		t0 := monotonic()
		for i := 0; i < len(recs); {
			i = r.serveInlineRange(b, recs, i)
		}
		b.busyNS.Add(int64(monotonic() - t0))
		clear(recs)
		r.ipending[b.iidx] = recs[:0]
	}
	clear(r.itouched)
	r.itouched = r.itouched[:0]
	for _, rec := range r.held {
		r.rl.release(rec)
	}
	clear(r.held)
	r.held = r.held[:0]
}

// serveInlineRange calls b's handler with recs[i:] until they end, and
// returns len(recs); or, if the handler panics, it counts the panic, logs
// it through the Server's sampler and returns the index after the one that
// panicked, so that the caller goes on from there. After a hard stop it
// calls the handler no more, and counts the rest as dropped by the
// shutdown. (One deferred recover a range, rather than one a datagram.)
func (r *reader) serveInlineRange(b *binding, recs []*record, i int) (next int) {
	s := r.s
	start := i
	defer func() {
		if next >= 0 {
			return
		}
		b.served.Add(uint64(i + 1 - start))
		s.handlerPanicked(b, &recs[i].d, recover())
		next = i + 1
	}()
	next = -1
	ctx := s.hctx
	h := b.h
	for ; i < len(recs); i++ {
		if s.hard.Load() {
			k := uint64(len(recs) - i)
			b.drops[causeShutdown].Add(k)
			s.shutdownDrops.Add(k)
			break
		}
		h.ServeDatagram(ctx, &recs[i].d)
	}
	b.served.Add(uint64(i - start))
	return len(recs)
}

// fallbackRoutes returns fb as a one-element slice without allocating.
func (r *reader) fallbackRoutes(fb *binding) []*binding {
	r.matched = append(r.matched[:0], fb)
	return r.matched
}

// entry returns the cached bindings and counters of group g.
func (r *reader) entry(g netip.Addr) *groupEntry {
	if r.last != nil && g == r.lastGroup {
		return r.last
	}
	e := r.cache[g]
	if e == nil {
		if len(r.cache) >= r.s.maxGroups {
			clear(r.cache) // a flood of destinations: rebuilt as they come
		}
		e = &groupEntry{stats: r.s.groupStats(g, r.local.Port())}
		e.routes, e.bySource = r.v.groupRoutes(g, r.local.Port())
		r.cache[g] = e
	}
	r.last, r.lastGroup = e, g
	return e
}

// setView switches to the Server's view of a new snapshot of the Mux: the
// group cache is rebuilt as groups come, and the pending lists cover every
// queue and inline handler.
func (r *reader) setView(v *view) {
	r.v = v
	t := v.tbl
	clear(r.cache)
	r.last = nil
	for len(r.pending) < len(v.queues) {
		r.pending = append(r.pending, make([]*record, 0, r.batch))
	}
	for len(r.ipending) < v.ninline {
		r.ipending = append(r.ipending, make([]*record, 0, r.batch))
	}
	if cap(r.itouched) < v.ninline {
		r.itouched = make([]*binding, 0, v.ninline)
	}
	if cap(r.held) < r.batch {
		r.held = make([]*record, 0, r.batch)
	}
	if cap(r.touched) < len(v.queues) {
		r.touched = make([]int, 0, len(v.queues))
	}
	if cap(r.matched) < len(t.routes)+1 {
		r.matched = make([]*binding, 0, len(t.routes)+1)
	}
}

// groupStats returns the counters of group g on port, creating them on
// first use.
func (s *Server) groupStats(g netip.Addr, port uint16) *groupStats {
	s.groupsMu.Lock()
	defer s.groupsMu.Unlock()
	k := netip.AddrPortFrom(g, port)
	gs := s.groups[k]
	if gs == nil {
		if len(s.groups) >= s.maxGroups {
			return &s.overflow
		}
		gs = &groupStats{group: g, port: port}
		s.groups[k] = gs
	}
	return gs
}

// flowHash mixes a flow's source and group into 64 bits (splitmix64's
// finaliser over the words of both addresses and the port).
func flowHash(src netip.AddrPort, g netip.Addr) uint64 {
	a, b := src.Addr().As16(), g.As16()
	h := uint64(src.Port())
	for i := 0; i < 16; i += 8 {
		h = mix(h ^ le64(a[i:]))
		h = mix(h ^ le64(b[i:]))
	}
	return h
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func mix(h uint64) uint64 {
	h += 0x9e3779b97f4a7c15
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}
