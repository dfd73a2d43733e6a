package dispatch

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Default queue settings of a handler, used where a HandlerConfig field is 0.
const (
	// DefaultQueueLen is how many datagrams a handler's queue holds.
	DefaultQueueLen = 1024
	// DefaultWorkers is how many goroutines serve a handler's queue.
	DefaultWorkers = 1
)

// HandlerConfig configures the queue and the workers of one handler, which
// each Server that serves the Mux makes for itself. The zero value, as a
// nil *HandlerConfig, means the defaults that each field documents.
type HandlerConfig struct {
	// Name names the handler in Stats and logs. The default is the
	// pattern (as Pattern.String writes it), or "fallback"; a name already
	// taken gets a suffix "#2", "#3", and so on.
	Name string

	// QueueLen is how many datagrams may wait for the handler; 0 means
	// DefaultQueueLen. With several workers each has its own queue of
	// QueueLen/Workers (rounded up). Besides the queue, each worker holds
	// a hand-over batch of at most 16 datagrams that it has taken from its
	// queue and is passing to the handler.
	QueueLen int

	// Workers is how many goroutines call the handler; 0 means
	// DefaultWorkers (1). With one worker the handler sees datagrams in
	// the order they arrived on each socket; with more, the datagrams of
	// one flow (source address and port, group) go to the same worker, so
	// each flow keeps its order, and the handler must be safe for
	// concurrent use.
	Workers int

	// Overflow says what happens to a datagram that arrives when the
	// queue is full. The default is DropNewest.
	Overflow Overflow

	// Inline calls the handler on the socket's reader goroutine, at once,
	// with no queue and no worker: the cheapest path from the socket to a
	// handler, for a handler that is quick (counting, decoding, copying
	// into a ring of its own). QueueLen, Workers and Overflow must then be
	// zero. While an inline handler runs its socket is not read, as with
	// Block: a slow one holds up that socket and every handler on it, and
	// the kernel drops, and counts, what overflows the socket's receive
	// buffer. The handler is called from the reader of each Source that
	// brings it datagrams, so with several Sources it must be safe for
	// concurrent use; each Source's datagrams reach it in the order read.
	// A panic is recovered and counted as for any handler. A hard stop
	// (Close, or Shutdown past its deadline) cancels the handler's context
	// and waits for the inline calls in progress to return.
	Inline bool
}

// Mux routes datagrams to handlers by pattern. Every handler whose
// [Pattern] matches a datagram receives it (fan-out), in the order the
// handlers were registered; a datagram that no pattern matches goes to the
// fallback handler, if there is one, and is counted as unmatched either way.
//
// The zero value is an empty Mux ready to use. A Mux is safe for concurrent
// use: handlers may be added while Servers serve it, and take datagrams
// from the next batch that a socket reads. A Mux is pure routing: it holds
// the patterns, the handlers and their HandlerConfigs, while each Server
// that serves it keeps the handlers' queues, workers and counters of its
// own. So one Mux may serve several Servers at once, each with its own
// queues and Stats; a handler is then called from all of them, and must be
// safe for concurrent use. There is no package-level default Mux.
//
// Mux is also a Handler: its ServeDatagram calls each matching handler in
// turn, synchronously and without queues, for use inside another handler or
// in tests.
type Mux struct {
	mu       sync.Mutex
	routes   []*route
	fallback *route
	names    map[string]int
	nroutes  int // routes registered, fallback included: the next route.id
	tbl      atomic.Pointer[table]
}

// route is one registered handler: its pattern and its configuration, the
// same for every Server. Its id is its registration identity in the Mux,
// by which each Server keys the queues, workers and counters it keeps for
// it (a binding).
type route struct {
	id       int // 0, 1, 2, ... in registration order, fallback included
	pat      Pattern
	name     string
	h        Handler
	cfg      HandlerConfig // with the defaults filled in
	fallback bool
}

// table is an immutable snapshot of a Mux's routes, read by the Servers'
// readers without locks: a reader loads the Mux's current table once per
// batch and compares it with the one it routes by.
type table struct {
	routes   []*route // in registration order
	fallback *route   // nil if none
	nroutes  int      // routes, fallback included; every route.id < nroutes
}

var emptyTable = &table{}

func (m *Mux) table() *table {
	if t := m.tbl.Load(); t != nil {
		return t
	}
	return emptyTable
}

// Handle registers h for the datagrams that p matches, with the queue that
// cfg describes (nil means the defaults). Several handlers may have the same
// or overlapping patterns: each receives every datagram it matches. It
// panics if h is nil, as net/http does; a bad cfg returns an error that
// wraps ErrInvalidConfig.
func (m *Mux) Handle(p Pattern, h Handler, cfg *HandlerConfig) error {
	return m.add(p, h, cfg, false)
}

// HandleFunc registers f as Handle registers a Handler.
func (m *Mux) HandleFunc(p Pattern, f func(ctx context.Context, d *Datagram), cfg *HandlerConfig) error {
	if f == nil {
		panic("dispatch: nil handler func")
	}
	return m.add(p, HandlerFunc(f), cfg, false)
}

// Fallback registers h for the datagrams that no pattern matches, with its
// own queue as Handle does. A Mux has at most one fallback: a second call
// returns an error wrapping ErrInvalidConfig. Unmatched datagrams are
// counted in Stats.Unmatched (and per group) whether or not there is a
// fallback.
func (m *Mux) Fallback(h Handler, cfg *HandlerConfig) error {
	return m.add(Pattern{}, h, cfg, true)
}

func (m *Mux) add(p Pattern, h Handler, cfg *HandlerConfig, fallback bool) error {
	if h == nil {
		panic("dispatch: nil handler")
	}
	var c HandlerConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Inline && (c.QueueLen != 0 || c.Workers != 0 || c.Overflow != DropNewest) {
		return fmt.Errorf("dispatch: handler %s: inline, with queue length %d, workers %d, overflow %s (an inline handler has no queue; leave them zero): %w",
			p, c.QueueLen, c.Workers, c.Overflow, ErrInvalidConfig)
	}
	if c.QueueLen < 0 || c.Workers < 0 || c.Overflow < DropNewest || c.Overflow > Block {
		return fmt.Errorf("dispatch: handler %s: queue length %d, workers %d, overflow %s: %w",
			p, c.QueueLen, c.Workers, c.Overflow, ErrInvalidConfig)
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Inline {
		c.QueueLen, c.Workers = 0, 0
	}
	if c.Workers > c.QueueLen {
		return fmt.Errorf("dispatch: handler %s: %d workers for a queue of %d: %w", p, c.Workers, c.QueueLen, ErrInvalidConfig)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if fallback && m.fallback != nil {
		return fmt.Errorf("dispatch: fallback handler already set: %w", ErrInvalidConfig)
	}
	name := c.Name
	if name == "" {
		name = p.String()
		if fallback {
			name = "fallback"
		}
	}
	if m.names == nil {
		m.names = make(map[string]int)
	}
	if n := m.names[name]; n > 0 {
		m.names[name] = n + 1
		name += "#" + strconv.Itoa(n+1)
	} else {
		m.names[name] = 1
	}
	rt := &route{id: m.nroutes, pat: p, name: name, h: h, cfg: c, fallback: fallback}
	m.nroutes++
	if fallback {
		m.fallback = rt
	} else {
		m.routes = append(m.routes, rt)
	}
	m.tbl.Store(&table{
		routes:   append([]*route(nil), m.routes...),
		fallback: m.fallback,
		nroutes:  m.nroutes,
	})
	return nil
}

// ServeDatagram calls, in turn and synchronously, every handler whose
// pattern matches d, or the fallback handler if none does. It does not use
// the handlers' queues, workers or counters, and does not recover panics.
func (m *Mux) ServeDatagram(ctx context.Context, d *Datagram) {
	t := m.table()
	matched := false
	for _, rt := range t.routes {
		if rt.pat.Match(d) {
			matched = true
			rt.h.ServeDatagram(ctx, d)
		}
	}
	if !matched && t.fallback != nil {
		t.fallback.h.ServeDatagram(ctx, d)
	}
}
