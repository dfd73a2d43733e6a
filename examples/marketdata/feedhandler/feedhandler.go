package feedhandler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/rerequest"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/mcast"
)

// Defaults for the zero Config fields.
const (
	DefaultTickInterval = 5 * time.Millisecond
	DefaultQueueLen     = 8192

	// DefaultRecoveryTimeout is arbiter.Config.RecoveryTimeout's default
	// when a Rewinder is set: how long a missing run is waited for from
	// the rewinder before it is given up in a gap.
	DefaultRecoveryTimeout = 500 * time.Millisecond
)

// ErrInvalidConfig reports a bad Config; the wrapping error says what.
var ErrInvalidConfig = errors.New("feedhandler: invalid configuration")

// Config configures [New]. Its zero value is not usable: A and B must be
// set; every other field's zero value means the default it documents.
type Config struct {
	// A and B are the group specs of the two lines. They must name
	// different groups, or the same group on different ports.
	A, B group.Spec

	// Arbiter configures the arbitration (Window, GapTimeout, LineTimeout,
	// StartSeq) and the callbacks that report messages, gaps, lines and
	// sessions; see the package doc for how they are called.
	Arbiter arbiter.Config

	// Rewinder, if set, is the unicast address of a MoldUDP64 re-request
	// server: the runs that neither line filled within the arbiter's
	// GapTimeout are asked for there (package rerequest), from a socket
	// of the Handler's own on an ephemeral port, and what it sends back is
	// delivered in order; what it has not sent within
	// Arbiter.RecoveryTimeout (DefaultRecoveryTimeout if 0) is reported
	// in a gap as without it.
	Rewinder netip.AddrPort

	// Rerequest configures the re-request client (request size, rate,
	// retries); its Server and Deliver are set by New.
	Rerequest rerequest.Config

	// OnMalformed, if set, is called (with the lock held, like the
	// arbiter's callbacks) for every datagram that is not a valid
	// MoldUDP64 packet, with its line, its bytes (valid only during the
	// call) and the decode error.
	OnMalformed func(line arbiter.Line, payload []byte, err error)

	// TickInterval is how often the arbiter is told the time while no
	// datagrams arrive; 0 means DefaultTickInterval (5ms).
	TickInterval time.Duration

	// QueueLen is the length of the handler's queue; 0 means
	// DefaultQueueLen (8192 datagrams).
	QueueLen int

	// ReadBuffer is each socket's receive buffer; 0 means mcast's default
	// (4 MiB).
	ReadBuffer int

	// Share says with whom the sockets share their port; the default is
	// mcast.ShareAnyUser.
	Share mcast.Share

	// Logger receives the Handler's log events: joins, malformed packets
	// (sampled), errors. The zero value logs nothing.
	Logger zerolog.Logger
}

// Handler is a running feed handler: sockets joined to both lines, a
// dispatch server, and the arbiter. Its methods are safe for concurrent
// use.
type Handler struct {
	cfg   Config
	log   zerolog.Logger
	slog  zerolog.Logger // sampled, for per-datagram events
	lines [2]netip.AddrPort
	r     *dispatch.Receiver
	srv   *dispatch.Server

	mu  sync.Mutex // guards arb, and serialises the callbacks
	arb *arbiter.Arbiter
	rc  *rerequest.Client // nil without a Rewinder

	handled   atomic.Uint64 // datagrams the handler was called with
	malformed [2]atomic.Uint64
	foreign   atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// New opens the sockets, joins both lines and returns a Handler ready to
// [Handler.Run]. On failure it undoes what it did.
func New(ctx context.Context, cfg *Config) (h *Handler, err error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no lines", ErrInvalidConfig)
	}
	if err := cfg.A.Validate(); err != nil {
		return nil, fmt.Errorf("%w: line A: %w", ErrInvalidConfig, err)
	}
	if err := cfg.B.Validate(); err != nil {
		return nil, fmt.Errorf("%w: line B: %w", ErrInvalidConfig, err)
	}
	if cfg.A.AddrPort() == cfg.B.AddrPort() {
		return nil, fmt.Errorf("%w: lines A and B are both %s", ErrInvalidConfig, cfg.A.AddrPort())
	}
	if cfg.TickInterval < 0 || cfg.QueueLen < 0 {
		return nil, fmt.Errorf("%w: negative TickInterval or QueueLen", ErrInvalidConfig)
	}
	h = &Handler{cfg: *cfg, log: cfg.Logger, lines: [2]netip.AddrPort{cfg.A.AddrPort(), cfg.B.AddrPort()}}
	h.slog = h.log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second})
	if h.cfg.TickInterval == 0 {
		h.cfg.TickInterval = DefaultTickInterval
	}
	if h.cfg.QueueLen == 0 {
		h.cfg.QueueLen = DefaultQueueLen
	}
	handler := h // h is nil once an error is returned
	defer func() {
		if err != nil {
			handler.Close()
		}
	}()
	if cfg.Rewinder.IsValid() {
		rcfg := cfg.Rerequest
		rcfg.Server = cfg.Rewinder
		rcfg.Logger = h.log
		rcfg.Deliver = h.fill
		if h.rc, err = rerequest.New(&rcfg); err != nil {
			return nil, fmt.Errorf("feedhandler: %w", err)
		}
		if h.cfg.Arbiter.RecoveryTimeout == 0 {
			h.cfg.Arbiter.RecoveryTimeout = DefaultRecoveryTimeout
		}
		onRequest := h.cfg.Arbiter.OnRequest
		h.cfg.Arbiter.OnRequest = func(r arbiter.Request) {
			if onRequest != nil {
				onRequest(r)
			}
			h.rc.Want(r)
		}
		h.log.Info().Stringer("rewinder", cfg.Rewinder).Stringer("local", h.rc.LocalAddr()).Msg("re-requests")
	}
	h.arb, err = arbiter.New(&h.cfg.Arbiter)
	if err != nil {
		return nil, fmt.Errorf("feedhandler: %w", err)
	}

	var mux dispatch.Mux
	if err := mux.HandleFunc(dispatch.Pattern{}, h.serve, &dispatch.HandlerConfig{
		Name: "arbiter", QueueLen: h.cfg.QueueLen, Overflow: dispatch.Block,
	}); err != nil {
		return nil, fmt.Errorf("feedhandler: %w", err)
	}
	// One socket per address family and port, shared by the lines that
	// have the same.
	h.r, err = dispatch.Listen(ctx, []string{cfg.A.String(), cfg.B.String()}, &mux, &dispatch.ListenConfig{
		Share: cfg.Share, ReadBuffer: cfg.ReadBuffer, Logger: h.log,
	})
	if err != nil {
		return nil, fmt.Errorf("feedhandler: lines A %s and B %s: %w", cfg.A, cfg.B, err)
	}
	h.srv = h.r.Server()
	for i, spec := range []group.Spec{cfg.A, cfg.B} {
		h.log.Info().Str("line", arbiter.Line(i).String()).Stringer("spec", spec).Msg("joined")
	}
	return h, nil
}

// Lines returns the groups and ports of lines A and B.
func (h *Handler) Lines() [2]netip.AddrPort { return h.lines }

func (h *Handler) lineOf(d *dispatch.Datagram) (arbiter.Line, bool) {
	for i, l := range h.lines {
		if d.Group == l.Addr() && d.Port == l.Port() {
			return arbiter.Line(i), true
		}
	}
	return 0, false
}

// serve is the dispatch handler: one worker, so calls do not overlap.
func (h *Handler) serve(_ context.Context, d *dispatch.Datagram) {
	defer h.handled.Add(1)
	line, ok := h.lineOf(d)
	if !ok {
		h.foreign.Add(1)
		return
	}
	p, err := moldudp64.Decode(d.Payload)
	if err != nil {
		h.malformed[line].Add(1)
		h.slog.Warn().Str("line", line.String()).Stringer("source", d.Source).
			Int("len", len(d.Payload)).Err(err).Msg("malformed packet")
		if h.cfg.OnMalformed != nil {
			h.mu.Lock()
			h.cfg.OnMalformed(line, d.Payload, err)
			h.mu.Unlock()
		}
		return
	}
	h.mu.Lock()
	err = h.arb.Feed(line, p, d.Time)
	next := h.arb.Next()
	h.mu.Unlock()
	if h.rc != nil {
		h.rc.Advance(next)
	}
	switch {
	case errors.Is(err, arbiter.ErrForeignSession):
		h.slog.Warn().Str("line", line.String()).Stringer("source", d.Source).Stringer("session", p.Session).
			Msg("packet of a foreign session dropped")
	case err != nil:
		h.slog.Warn().Str("line", line.String()).Stringer("source", d.Source).Err(err).Msg("packet dropped")
	}
}

// fill hands the arbiter an answer from the rewinder (the re-request
// client's Deliver).
func (h *Handler) fill(p moldudp64.Packet, now time.Time) {
	h.mu.Lock()
	err := h.arb.Recover(p, now)
	next := h.arb.Next()
	h.mu.Unlock()
	h.rc.Advance(next)
	if err != nil {
		h.slog.Warn().Err(err).Stringer("session", p.Session).Msg("answer dropped")
	}
}

// RequestAddr returns the address of the re-request socket, or the zero
// AddrPort without a Rewinder.
func (h *Handler) RequestAddr() netip.AddrPort {
	if h.rc == nil {
		return netip.AddrPort{}
	}
	return h.rc.LocalAddr()
}

// Run reads both lines and feeds the arbiter until ctx ends or
// [Handler.Shutdown] or [Handler.Close] is called. It returns nil after
// Shutdown or Close, and ctx's error when ctx ends. Run may be called
// once.
func (h *Handler) Run(ctx context.Context) error {
	done := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		h.ticker(done)
	}()
	rcDone := make(chan struct{})
	if h.rc != nil {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			defer close(rcDone)
			h.rc.Run(rctx)
		}()
	} else {
		close(rcDone)
	}
	err := h.srv.Serve(ctx)
	close(done)
	<-ticked
	if h.rc != nil {
		h.rc.Close()
	}
	<-rcDone
	return err
}

// ticker calls the arbiter's Tick every TickInterval while the handler is
// idle: nothing handled since the last look, and every datagram that the
// server read handled.
func (h *Handler) ticker(done <-chan struct{}) {
	t := time.NewTicker(h.cfg.TickInterval)
	defer t.Stop()
	last := h.handled.Load()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		n := h.handled.Load()
		if n != last {
			last = n
			continue
		}
		var read uint64
		st := h.srv.Stats()
		for _, s := range st.Sockets {
			read += s.Datagrams
		}
		if read != n {
			continue
		}
		h.mu.Lock()
		h.arb.Tick(time.Now())
		next := h.arb.Next()
		h.mu.Unlock()
		if h.rc != nil {
			h.rc.Advance(next)
		}
	}
}

// Flush gives up every message still missing (arbiter.Flush, reason
// GapFlush), delivering whatever is buffered: call it when the feed is
// over or being handed over, after Run has returned.
func (h *Handler) Flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.arb.Flush(time.Now())
}

// Shutdown stops reading and waits, bounded by ctx, for the queued
// datagrams to be handled (see dispatch.Server.Shutdown).
func (h *Handler) Shutdown(ctx context.Context) error {
	return h.srv.Shutdown(ctx)
}

// Close stops the handler at once, leaves the groups and closes the
// sockets. It is idempotent.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		var errs []error
		if h.r != nil {
			errs = append(errs, h.r.Close())
		}
		if h.rc != nil {
			errs = append(errs, h.rc.Close())
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// Stats is a snapshot of a Handler's counters.
type Stats struct {
	// Feed is the arbiter's: per line (packets, messages, first,
	// duplicates, late, silences) and for the feed (delivered, gaps,
	// missing, arbitration delay and line skew).
	Feed arbiter.Stats

	// Lines are the groups and ports of lines A and B.
	Lines [2]netip.AddrPort

	// Malformed counts, per line, the datagrams that were not MoldUDP64
	// packets.
	Malformed [2]uint64

	// Foreign counts datagrams of neither line.
	Foreign uint64

	// Sockets are the sockets' counters, as dispatch reports them (with
	// the kernel's).
	Sockets []dispatch.SocketStats

	// KernelDrops sums the datagrams that the kernel dropped on the
	// sockets because their buffers were full, and QueueDrops those
	// dropped from the handler's queue (only at a hard stop: the queue
	// blocks when full).
	KernelDrops, QueueDrops uint64

	// Rerequest is the re-request client's (nil without a Rewinder), and
	// Rewinder its server.
	Rerequest *rerequest.Stats
	Rewinder  netip.AddrPort
}

// Stats returns a snapshot of the counters.
func (h *Handler) Stats() Stats {
	st := Stats{Lines: h.lines, Foreign: h.foreign.Load()}
	for i := range st.Malformed {
		st.Malformed[i] = h.malformed[i].Load()
	}
	ds := h.srv.Stats()
	st.Sockets = ds.Sockets
	for _, s := range ds.Sockets {
		if s.Kernel != nil {
			st.KernelDrops += s.Kernel.KernelDrops
		}
	}
	for _, hs := range ds.Handlers {
		st.QueueDrops += hs.Drops.Total()
	}
	h.mu.Lock()
	st.Feed = h.arb.Stats()
	h.mu.Unlock()
	if h.rc != nil {
		rs := h.rc.Stats()
		st.Rerequest, st.Rewinder = &rs, h.cfg.Rewinder
	}
	return st
}

// WriteText writes st for people: a table of the lines, a line for the
// feed, and one for the sockets.
func (st *Stats) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "line\tgroup\tpackets\tmessages\tfirst\tduplicates\tlate\theartbeats\tmalformed\tinvalid\tsilences\t")
	for i, l := range st.Feed.Lines {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", arbiter.Line(i), st.Lines[i],
			l.Packets, l.Messages, l.First, l.Duplicates, l.Late, l.Heartbeats, st.Malformed[i], l.Invalid, l.Silences)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	f := &st.Feed
	if f.Lines[0].Packets+f.Lines[1].Packets == 0 {
		if _, err := fmt.Fprintln(w, "feed: no data yet"); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "feed: session %q, next %d; delivered %d, gaps %d (missing %d); delay mean %v p99<=%v max %v; skew mean %v p99<=%v max %v; buffered max %d\n",
		f.Session, f.Next, f.Delivered, f.Gaps, f.Missing,
		f.Delay.Mean(), f.Delay.Quantile(0.99), f.Delay.Max,
		f.Skew.Mean(), f.Skew.Quantile(0.99), f.Skew.Max, f.BufferedMax)
	if err != nil {
		return err
	}
	var jumps, unconfirmed, overflow uint64
	for _, l := range f.Lines {
		jumps, unconfirmed, overflow = jumps+l.Jumps, unconfirmed+l.Unconfirmed, overflow+l.Overflow
	}
	_, err = fmt.Fprintf(w, "refused: jumps beyond the window %d (confirmed %d, refused %d, their messages %d); messages over the buffer's bytes %d (retained max %d bytes)\n",
		jumps, f.JumpsConfirmed, f.JumpsRefused, unconfirmed, overflow, f.RetainedMax)
	if err != nil {
		return err
	}
	var read, truncated uint64
	for _, s := range st.Sockets {
		read += s.Datagrams
		if s.Kernel != nil {
			truncated += s.Kernel.Truncated
		}
	}
	_, err = fmt.Fprintf(w, "sockets: %d, datagrams %d, kernel drops %d, truncated %d, queue drops %d, foreign %d; foreign sessions %d\n",
		len(st.Sockets), read, st.KernelDrops, truncated, st.QueueDrops, st.Foreign, f.Lines[0].Foreign+f.Lines[1].Foreign)
	if err != nil || st.Rerequest == nil {
		return err
	}
	r := st.Rerequest
	rc := &f.Recovery
	_, err = fmt.Fprintf(w, "recovery from %s: recovered %d messages (runs asked %d, %d messages); requests %d, retries %d, unanswered %d, unavailable %d, partial %d; answers %d (duplicate %d, stale %d; refused: foreign %d, unasked %d, wrong session %d, malformed %d; arbiter: late %d, duplicate %d, not missing %d); fill latency p50<=%v p99<=%v max %v\n",
		st.Rewinder, f.Recovered, f.Requests, f.Requested, r.Requests, r.Retries, r.Unanswered, r.Unavailable, r.Partial,
		r.Answers, r.Duplicates, r.Stale, r.Foreign, r.Unasked, r.WrongSession, r.Malformed, rc.Late, rc.Duplicates, rc.Invalid,
		r.Latency.Quantile(0.5), r.Latency.Quantile(0.99), r.Latency.Max)
	return err
}
