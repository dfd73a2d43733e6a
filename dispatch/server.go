package dispatch

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sharecast/sharecast/mcast"
)

// DefaultBatchSize is how many datagrams a Server asks a Source for in one
// ReadBatch call when Config.BatchSize is 0 (mcast.Conn caps it further
// at its own batch size).
const DefaultBatchSize = 64

// DefaultBufferSize is the receive buffer of each datagram when
// Config.BufferSize is 0: a jumbo frame's payload, 9,216 bytes.
const DefaultBufferSize = 9216

// DefaultMaxGroups is how many (group, port) pairs a Server keeps counters
// for when Config.MaxGroups is 0.
const DefaultMaxGroups = 4096

// Source is what a Server reads datagrams from. *mcast.Conn satisfies it;
// package dispatchtest has one in memory.
//
// ReadBatch is called from one goroutine, as mcast.Conn.ReadBatch
// documents: it fills the buffers of ds, returns how many it filled, and may
// reorder ds as long as each Payload keeps its Tag. It returns an error
// matching net.ErrClosed once the Source is closed (the Server then stops
// reading it, quietly), and a timeout error (net.Error with Timeout() true,
// such as os.ErrDeadlineExceeded) once the read deadline has passed.
//
// SetReadDeadline is how the Server interrupts a blocked ReadBatch when it
// stops: it sets a deadline in the past and leaves it so. The Server never
// closes a Source: whoever opened it closes it, after Serve returns, and
// may clear the deadline to read it again.
//
// A Source may also have these methods, which the Server uses if present:
// Stats() mcast.Stats (kernel drops and the socket's counters, in
// [SocketStats]), LocalAddr() netip.AddrPort (the destination port of its
// datagrams, for [Pattern].Port) and BatchSize() int (a cap on the batch).
type Source interface {
	ReadBatch(ds []mcast.Datagram) (int, error)
	SetReadDeadline(t time.Time) error
}

// Config configures a Server. The zero value, as a nil *Config, means the
// defaults that each field documents.
type Config struct {
	// BatchSize is how many datagrams to read at most with one ReadBatch;
	// 0 means DefaultBatchSize. A Source with a BatchSize method caps it.
	BatchSize int

	// BufferSize is the size of each receive buffer; 0 means
	// DefaultBufferSize. A datagram of up to BufferSize bytes is received
	// whole on every OS (each buffer has mcast.ReadSlack bytes more); a
	// longer one is dropped by the socket and counted there
	// (mcast.Stats.Truncated). Buffers are
	// allocated as needed, in chunks, and reused: at most about the sum
	// of the handlers' queue lengths plus a batch per socket are in use
	// at once.
	BufferSize int

	// MaxGroups caps how many (group, port) pairs the Server keeps
	// counters for (Stats.Groups) and each reader caches routes for; 0
	// means DefaultMaxGroups. A socket's destination check admits only the
	// groups it joined, but a Source that reports any destination (one
	// that accepts unicast, or reads from a relay whose publisher chooses
	// the metadata) could otherwise grow them without bound. Datagrams of
	// groups past the cap are served as usual and counted together in
	// Stats.GroupsOverflow; a reader whose cache is full empties it.
	MaxGroups int

	// Logger receives the Server's log events: panics and read errors,
	// through a sampler. The zero value logs nothing.
	Logger zerolog.Logger
}

// Server reads datagrams from its sources and hands each to every handler
// of its Mux that matches it, through the handler's own queue and
// worker(s); see the package doc. The queues, workers and counters are the
// Server's: a handler of a Mux that several Servers serve has them once in
// each. Its methods are safe for concurrent use.
type Server struct {
	mux   *Mux
	batch int
	log   zerolog.Logger
	slog  zerolog.Logger // sampled
	pool  *pool

	mu       sync.Mutex
	state    serverState
	readers  []*reader
	nreaders int // reader goroutines running
	nworkers int // worker goroutines running
	fatal    error
	gone     atomic.Bool // readersDone is closed

	// The handlers as this Server serves them, under mu: bindings by
	// route id, every worker by worker.idx, and the view of the latest
	// snapshot of the Mux (see sync).
	bindings []*binding
	queues   []*worker
	ninline  int
	view     *view

	hctx    context.Context // the handlers' context
	hcancel context.CancelFunc

	readStop    chan struct{} // closed: stop reading
	readersDone chan struct{} // closed: no reader left (after Serve started)
	workersDone chan struct{} // closed: readers gone and every worker exited
	hardCh      chan struct{} // closed: stop hard, drop what is queued
	hard        atomic.Bool   // set just before hardCh is closed
	hardDone    chan struct{} // closed: the hard stop is complete

	stopOnce, hardOnce, workersOnce sync.Once
	shutdownDrops                   atomic.Uint64
	hardInFlight                    int // set before hardDone is closed

	groupsMu  sync.Mutex
	groups    map[netip.AddrPort]*groupStats // at most maxGroups
	overflow  groupStats                     // the groups past maxGroups
	maxGroups int
	unmatched atomic.Uint64
}

type serverState int

const (
	stateNew serverState = iota
	stateServing
	stateDone
)

// NewServer returns a Server for the handlers of m, configured by cfg (nil
// means the defaults). Several Servers may serve one Mux, each with queues,
// workers and counters of its own.
func NewServer(m *Mux, cfg *Config) (*Server, error) {
	if m == nil {
		return nil, fmt.Errorf("dispatch: nil Mux: %w", ErrInvalidConfig)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.BatchSize < 0 || c.BufferSize < 0 || c.MaxGroups < 0 {
		return nil, fmt.Errorf("dispatch: batch size %d, buffer size %d, max groups %d: %w", c.BatchSize, c.BufferSize, c.MaxGroups, ErrInvalidConfig)
	}
	if c.MaxGroups == 0 {
		c.MaxGroups = DefaultMaxGroups
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BufferSize == 0 {
		c.BufferSize = DefaultBufferSize
	}
	s := &Server{
		mux:         m,
		batch:       c.BatchSize,
		log:         c.Logger.With().Str("component", "dispatch").Logger(),
		pool:        newPool(c.BufferSize),
		maxGroups:   c.MaxGroups,
		readStop:    make(chan struct{}),
		readersDone: make(chan struct{}),
		workersDone: make(chan struct{}),
		hardCh:      make(chan struct{}),
		hardDone:    make(chan struct{}),
		groups:      make(map[netip.AddrPort]*groupStats),
	}
	s.slog = s.log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second})
	return s, nil
}

// AddSource adds a Source to read from, under name (which names it in
// Stats, logs and Datagram.Socket). Sources may be added before Serve or
// while it runs; once the Server stops, AddSource returns ErrServerClosed.
// The Server does not take ownership of src: see [Source].
func (s *Server) AddSource(name string, src Source) error {
	if src == nil {
		return fmt.Errorf("dispatch: nil Source %q: %w", name, ErrInvalidConfig)
	}
	r := newReader(s, name, src)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == stateDone, s.gone.Load():
		return ErrServerClosed
	case s.state == stateServing:
		select {
		case <-s.readStop:
			return ErrServerClosed
		default:
		}
		s.readers = append(s.readers, r)
		s.startReader(r)
	default:
		s.readers = append(s.readers, r)
	}
	return nil
}

// Serve reads from the sources and dispatches to the handlers until one
// of these, and returns:
//   - ctx ends: Serve stops as Close does and returns ctx's error;
//   - Shutdown or Close is called: Serve returns nil once they are done
//     (without waiting for handler calls that a hard stop left running);
//   - every Source is closed: Serve drains the queues and returns nil;
//   - a Source fails with an error that is neither closed, a timeout nor
//     temporary: Serve stops reading, drains and returns that error.
//
// The handlers' context carries the values of ctx and is cancelled on a
// hard stop. Serve may be called once; it returns ErrServerClosed after
// Shutdown or Close, and ErrNoSource if no Source was added.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if len(s.readers) == 0 {
		s.mu.Unlock()
		return ErrNoSource
	}
	s.state = stateServing
	s.hctx, s.hcancel = context.WithCancel(context.WithoutCancel(ctx))
	// Bindings made from now on start their own workers (see bind);
	// those made before, for Stats, start here.
	s.syncLocked()
	for _, w := range s.queues {
		s.startWorker(w)
	}
	for _, r := range s.readers {
		s.startReader(r)
	}
	s.mu.Unlock()

	var err error
	select {
	case <-s.workersDone:
	case <-s.hardDone:
	case <-ctx.Done():
		s.Close()
		err = ctx.Err()
	}
	s.hcancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = stateDone
	if err == nil {
		err = s.fatal
	}
	return err
}

// Shutdown stops reading, lets the handlers work through what is queued,
// and returns nil once every queue is empty and every worker has exited.
// If ctx ends first, it stops hard: it cancels the handlers' context,
// drops what is still queued, and returns a *ShutdownError saying exactly
// how many datagrams that was (also counted per handler as Drops.Shutdown).
// A Server that never served just becomes closed.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closeIfNew() {
		return nil
	}
	s.stopReading()
	if s.drained() {
		return nil
	}
	select {
	case <-s.workersDone:
		return nil
	case <-s.hardDone:
		return s.shutdownError(ErrServerClosed)
	case <-ctx.Done():
		s.stopHard()
		return s.shutdownError(ctx.Err())
	}
}

// Close stops the Server at once: it stops reading, cancels the handlers'
// context and drops what is queued (counted as Drops.Shutdown). It does
// not wait for the calls of queued handlers that are running; it does wait
// for those of inline handlers, which run on the readers (see
// [HandlerConfig].Inline). Close is idempotent and returns nil.
func (s *Server) Close() error {
	if s.closeIfNew() {
		return nil
	}
	s.stopReading()
	if !s.drained() {
		s.stopHard()
	}
	return nil
}

// drained reports whether the Server has stopped with every queue drained.
func (s *Server) drained() bool {
	select {
	case <-s.workersDone:
		return true
	default:
		return false
	}
}

func (s *Server) shutdownError(err error) error {
	<-s.hardDone
	return &ShutdownError{Dropped: s.shutdownDrops.Load(), InFlight: s.hardInFlight, Err: err}
}

// closeIfNew marks a Server that never served as done.
func (s *Server) closeIfNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateNew:
		s.state = stateDone
		return true
	case stateDone:
		select {
		case <-s.readStop:
			return false
		default:
			return true // done without having served
		}
	}
	return false
}

// stopReading makes every reader stop at its next read.
func (s *Server) stopReading() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		close(s.readStop)
		rs := s.readers
		s.mu.Unlock()
		now := time.Now()
		for _, r := range rs {
			if r.exited.Load() {
				continue // its Source ended; it may be closed
			}
			if err := r.src.SetReadDeadline(now); err != nil {
				s.log.Error().Err(err).Str("socket", r.name).Msg("cannot interrupt read; the reader stops after its next datagram")
			}
		}
	})
}

// stopHard cancels the handlers' context, drops what the queues hold, and
// waits for the readers, which drop what they still hold.
func (s *Server) stopHard() {
	s.hardOnce.Do(func() {
		s.hard.Store(true)
		close(s.hardCh)
		// A binding made after this sees hardCh closed and never starts
		// its workers (see bind and startWorker).
		s.mu.Lock()
		queues := s.queues
		s.mu.Unlock()
		rl := newReleaser(s.pool, handOver)
		inFlight := 0
		for _, w := range queues {
			n, busy := w.stopHard(&rl)
			s.shutdownDrops.Add(uint64(n))
			if busy {
				inFlight++
			}
		}
		rl.flush()
		// Cancelled after the queues are stopped, so that a handler that
		// returns on it does not let its worker take another datagram.
		s.mu.Lock()
		cancel := s.hcancel
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		<-s.readersDone
		s.hardInFlight = inFlight
		close(s.hardDone)
	})
	<-s.hardDone
}

func (s *Server) startReader(r *reader) {
	s.nreaders++
	go r.run()
}

// readerDone is called by each reader goroutine as it exits.
func (s *Server) readerDone(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.fatal == nil {
		s.fatal = err
	}
	s.nreaders--
	if s.nreaders == 0 {
		s.gone.Store(true)
		close(s.readersDone)
		s.checkWorkersDone()
	}
}

func (s *Server) readersGone() bool { return s.gone.Load() }

// startWorker starts w's goroutine, once; s.mu is held.
func (s *Server) startWorker(w *worker) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return
	}
	w.started = true
	select {
	case <-s.hardCh:
		w.hard = true
		return
	default:
	}
	s.nworkers++
	go w.run(s)
}

func (s *Server) workerDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nworkers--
	s.checkWorkersDone()
}

// checkWorkersDone closes workersDone once readers and workers are all
// gone; s.mu is held.
func (s *Server) checkWorkersDone() {
	if s.nworkers == 0 && s.gone.Load() {
		s.workersOnce.Do(func() { close(s.workersDone) })
	}
}
