package dispatchtest

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/mcast"
)

// SourceConfig configures a Source. The zero value, as a nil
// *SourceConfig, means the defaults that each field documents.
type SourceConfig struct {
	// LocalAddr is what LocalAddr reports: the Source's "bound" address,
	// whose port becomes each dispatch.Datagram's Port. The default is
	// the zero AddrPort (port 0).
	LocalAddr netip.AddrPort

	// Backlog is how many datagrams may wait to be read, like a socket's
	// receive buffer; Send drops what does not fit and counts it in
	// Stats().KernelDrops. 0 means no limit.
	Backlog int

	// BatchSize caps how many datagrams one ReadBatch returns (and is
	// what BatchSize reports); 0 means no cap.
	BatchSize int
}

// Source is an in-memory dispatch.Source. Send, Close and Stats may be
// called from any goroutine; ReadBatch from one at a time.
type Source struct {
	cfg    SourceConfig
	notify chan struct{} // something changed for a blocked ReadBatch

	mu       sync.Mutex
	pending  []mcast.Datagram
	head     int
	closed   bool
	deadline time.Time
	timer    *time.Timer
	idle     chan struct{} // closed while nothing is pending

	datagrams, bytes, truncated, drops atomic.Uint64
}

// NewSource returns an empty, open Source.
func NewSource(cfg *SourceConfig) *Source {
	s := &Source{notify: make(chan struct{}, 1), idle: make(chan struct{})}
	if cfg != nil {
		s.cfg = *cfg
	}
	close(s.idle)
	return s
}

// Send queues a datagram with a copy of payload, from src to group, as if
// it had arrived now. It reports false if the datagram was dropped: the
// Source is closed, or its Backlog is full (counted as a kernel drop).
func (s *Source) Send(payload []byte, src netip.AddrPort, group netip.Addr) bool {
	return s.SendDatagram(mcast.Datagram{Payload: payload, Source: src, Group: group, Time: time.Now()})
}

// SendDatagram queues d (its Payload copied, its Tag ignored) as Send does.
func (s *Source) SendDatagram(d mcast.Datagram) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.cfg.Backlog > 0 && len(s.pending)-s.head >= s.cfg.Backlog {
		s.drops.Add(1)
		return false
	}
	d.Payload = append([]byte(nil), d.Payload...)
	d.Tag = 0
	if len(s.pending) == s.head {
		s.pending, s.head = s.pending[:0], 0
		s.idle = make(chan struct{})
	}
	s.pending = append(s.pending, d)
	s.wake()
	return true
}

func (s *Source) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// ReadBatch implements dispatch.Source: it copies waiting datagrams into
// the buffers of ds, blocking until there is one, the read deadline passes
// (os.ErrDeadlineExceeded) or the Source is closed and empty (an error
// matching net.ErrClosed). A datagram longer than its buffer is dropped and
// counted in Stats().Truncated, as mcast.Conn does.
func (s *Source) ReadBatch(ds []mcast.Datagram) (int, error) {
	if s.cfg.BatchSize > 0 && len(ds) > s.cfg.BatchSize {
		ds = ds[:s.cfg.BatchSize]
	}
	for {
		s.mu.Lock()
		if !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
			s.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		n := 0
		for n < len(ds) && s.head < len(s.pending) {
			p := &s.pending[s.head]
			s.head++
			if len(p.Payload) > cap(ds[n].Payload) {
				s.truncated.Add(1)
				continue
			}
			d := &ds[n]
			d.Payload = append(d.Payload[:0], p.Payload...)
			d.Source, d.Group, d.IfIndex, d.Time = p.Source, p.Group, p.IfIndex, p.Time
			d.TTL = -1 // an in-memory source has no TTL to report
			s.datagrams.Add(1)
			s.bytes.Add(uint64(len(p.Payload)))
			*p = mcast.Datagram{}
			n++
		}
		if s.head == len(s.pending) {
			select {
			case <-s.idle:
			default:
				close(s.idle)
			}
		}
		closed := s.closed
		s.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		if closed {
			return 0, &net.OpError{Op: "read", Net: "mem", Err: net.ErrClosed}
		}
		<-s.notify
	}
}

// SetReadDeadline implements dispatch.Source, as net.Conn does: a zero
// time means no deadline.
func (s *Source) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !t.IsZero() {
		s.timer = time.AfterFunc(time.Until(t), s.wake)
	}
	s.wake()
	return nil
}

// Close closes the Source: Send fails from now on, and ReadBatch returns
// net.ErrClosed once what was sent before has been read. Close is
// idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.wake()
	return nil
}

// WaitIdle waits until every datagram sent so far has been read, or ctx
// ends.
func (s *Source) WaitIdle(ctx context.Context) error {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats reports, as mcast.Conn.Stats does, the datagrams and bytes read,
// the datagrams dropped because the Backlog was full (KernelDrops) and
// those too long for their buffer (Truncated).
func (s *Source) Stats() mcast.Stats {
	return mcast.Stats{
		Datagrams:   s.datagrams.Load(),
		Bytes:       s.bytes.Load(),
		Truncated:   s.truncated.Load(),
		KernelDrops: s.drops.Load(),
	}
}

// LocalAddr returns SourceConfig.LocalAddr.
func (s *Source) LocalAddr() netip.AddrPort { return s.cfg.LocalAddr }

// BatchSize returns SourceConfig.BatchSize.
func (s *Source) BatchSize() int { return s.cfg.BatchSize }

// Generator is a dispatch.Source that makes n datagrams with a function,
// then reports itself closed. It never blocks and allocates nothing, so
// that benchmarks measure what consumes datagrams, not what makes them.
// ReadBatch may be called from one goroutine at a time; SetReadDeadline
// from any.
type Generator struct {
	n, next  uint64
	fill     func(i uint64, d *mcast.Datagram)
	local    netip.AddrPort
	deadline atomic.Int64 // UnixNano; 0: none
}

// NewGenerator returns a Generator of n datagrams. For datagram i (from 0)
// it calls fill(i, d) with d.Payload set to the whole buffer; fill sets
// d.Payload's length and contents and the other fields it wants (it must
// not touch d.Tag). The datagrams appear to arrive at local.
func NewGenerator(n uint64, local netip.AddrPort, fill func(i uint64, d *mcast.Datagram)) *Generator {
	return &Generator{n: n, fill: fill, local: local}
}

// ReadBatch implements dispatch.Source; see NewGenerator.
func (g *Generator) ReadBatch(ds []mcast.Datagram) (int, error) {
	if dl := g.deadline.Load(); dl != 0 && time.Now().UnixNano() >= dl {
		return 0, os.ErrDeadlineExceeded
	}
	if g.next >= g.n {
		return 0, net.ErrClosed
	}
	k := int(min(uint64(len(ds)), g.n-g.next))
	for i := range k {
		d := &ds[i]
		d.Payload = d.Payload[:cap(d.Payload)]
		g.fill(g.next, d)
		g.next++
	}
	return k, nil
}

// SetReadDeadline implements dispatch.Source.
func (g *Generator) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		g.deadline.Store(0)
	} else {
		g.deadline.Store(t.UnixNano())
	}
	return nil
}

// LocalAddr returns the address given to NewGenerator.
func (g *Generator) LocalAddr() netip.AddrPort { return g.local }

// Recorder is a dispatch.Handler that keeps a copy of every datagram it is
// given, for tests to inspect. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	ds      []dispatch.Datagram
	changed chan struct{}
}

// ServeDatagram records a copy of d (its Payload copied too).
func (r *Recorder) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	c := *d
	c.Payload = append([]byte(nil), d.Payload...)
	r.mu.Lock()
	r.ds = append(r.ds, c)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

// Datagrams returns copies of the datagrams recorded so far, in the order
// the handler was called.
func (r *Recorder) Datagrams() []dispatch.Datagram {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dispatch.Datagram(nil), r.ds...)
}

// Len returns how many datagrams were recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ds)
}

// Wait waits until at least n datagrams have been recorded, or ctx ends.
func (r *Recorder) Wait(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		if len(r.ds) >= n {
			r.mu.Unlock()
			return nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
