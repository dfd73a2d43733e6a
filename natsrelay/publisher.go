package natsrelay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
)

// PublisherConfig configures a [Publisher]. Subject is required; for the
// other fields the zero value means the default each documents.
type PublisherConfig struct {
	// Subject is the subject that each datagram is published to. A stream
	// must hold it ([EnsureStream]).
	Subject string

	// RelayID names this relay in each message (HeaderRelay), and so the
	// numbering of HeaderSeq, and makes the message IDs by which the
	// server drops a retry of a message it has stored already. Empty
	// means 16 random hexadecimal digits: a restarted relay numbers
	// afresh, under a new name, and its consumers see a new flow.
	RelayID string

	// MaxInFlight bounds the messages published and not yet acknowledged
	// by the server; 0 means 4096.
	MaxInFlight int

	// Buffer bounds the datagrams held: in flight, waiting to be
	// published, or waiting to be retried; 0 means 65536. A datagram that
	// comes when the buffer is full is not published and is counted
	// (PublisherStats.Overflow); it keeps its sequence number, so that
	// consumers see the gap. Buffer is what covers a server outage: at
	// R datagrams a second, an outage of Buffer/R seconds loses nothing.
	Buffer int

	// AckTimeout is how long a publish waits for the server's
	// acknowledgement before it counts as failed and is retried; 0 means
	// 5 s.
	AckTimeout time.Duration

	// RetryWait is the pause before a failed publish is tried again; 0
	// means 250 ms. While a retry waits, no newer datagram is published,
	// and while the connection is down nothing is, so that the stream
	// keeps the datagrams in order as far as the client can tell (a
	// publish in flight that fails while a later one succeeds, on a
	// timeout, is stored after it: the Source counts it as Late).
	RetryWait time.Duration

	// RetryFor is how long after it was received a datagram is retried
	// before it is given up and counted (PublisherStats.Failed); 0 means
	// 1 minute. It should be shorter than the stream's duplicates window
	// (StreamConfig.Duplicates), within which the server drops the retry
	// of a message whose acknowledgement was lost.
	RetryFor time.Duration

	// Logger receives the Publisher's events: failed publishes and
	// overflows, through a sampler. The zero value logs nothing.
	Logger zerolog.Logger
}

// PublisherStats counts what a Publisher did. Once Close has returned,
// Received = Published + Overflow + Failed + Abandoned + Rejected, exactly;
// before, the difference is Held.
type PublisherStats struct {
	// Received counts the datagrams given to ServeDatagram: each took a
	// sequence number.
	Received uint64 `json:"received"`
	// Published counts those that the server acknowledged as stored.
	Published uint64 `json:"published"`
	// Duplicates counts, of Published, those whose acknowledgement said
	// the server had stored them already (a retry after a lost
	// acknowledgement: stored once).
	Duplicates uint64 `json:"duplicates"`
	// Errors counts publish attempts that failed (no acknowledgement in
	// time, disconnection, an error from the server).
	Errors uint64 `json:"errors"`
	// Retries counts attempts after the first.
	Retries uint64 `json:"retries"`
	// Overflow counts datagrams not published because the buffer was
	// full.
	Overflow uint64 `json:"overflow"`
	// Failed counts datagrams given up after RetryFor.
	Failed uint64 `json:"failed"`
	// Abandoned counts datagrams still unacknowledged when Close gave up
	// waiting for them (some may have been stored).
	Abandoned uint64 `json:"abandoned"`
	// Rejected counts datagrams given to ServeDatagram after Close.
	Rejected uint64 `json:"rejected"`
	// Held is the number of datagrams held now; InFlight, of them, those
	// published and awaiting acknowledgement.
	Held     int `json:"held"`
	InFlight int `json:"in_flight"`
}

// Lost is the number of datagrams received and not published:
// Overflow + Failed + Abandoned + Rejected.
func (s *PublisherStats) Lost() uint64 { return s.Overflow + s.Failed + s.Abandoned + s.Rejected }

// Publisher is a [dispatch.Handler] that publishes each datagram to a
// JetStream subject, asynchronously, with its metadata in the message's
// headers (see HeaderRelay and the others) and a sequence number of the
// relay's own. At most MaxInFlight publishes await acknowledgement; a
// failed one is retried, in order, until RetryFor; what is not published
// is counted ([PublisherStats]), never dropped silently.
//
// ServeDatagram copies the datagram and returns without waiting for the
// server; it never blocks on the network, so the Publisher can be an
// inline handler. It allocates (a message, its headers, a copy of the
// payload) per datagram. Its methods are safe for concurrent use;
// datagrams are numbered in the order of the calls.
type Publisher struct {
	nc          *nats.Conn
	js          jetstream.JetStream
	subject     string
	relay       string
	maxInFlight int
	buffer      int
	retryWait   time.Duration
	retryFor    time.Duration
	slog        zerolog.Logger

	mu       sync.Mutex
	seq      uint64
	pending  map[*nats.Msg]*entry // every datagram held
	fresh    []*entry             // not yet tried, in order
	retry    []*entry             // waiting to be retried, by sequence number
	inflight int
	closing  bool
	ifnames  map[int]string
	st       PublisherStats

	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	drained  chan struct{} // closed when closing and nothing is held
	stopOnce sync.Once
	closeErr error
}

type entry struct {
	msg     *nats.Msg
	seq     uint64
	born    time.Time
	retryAt time.Time
}

// NewPublisher returns a Publisher that publishes on nc, whose owner
// closes it after the Publisher. It does not check that a stream holds
// the subject: [EnsureStream] does.
func NewPublisher(nc *nats.Conn, cfg *PublisherConfig) (*Publisher, error) {
	if cfg == nil || cfg.Subject == "" {
		return nil, fmt.Errorf("natsrelay: publisher: no subject: %w", ErrInvalidConfig)
	}
	c := *cfg
	if c.MaxInFlight < 0 || c.Buffer < 0 || c.AckTimeout < 0 || c.RetryWait < 0 || c.RetryFor < 0 {
		return nil, fmt.Errorf("natsrelay: publisher: negative limit: %w", ErrInvalidConfig)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4096
	}
	if c.Buffer == 0 {
		c.Buffer = 65536
	}
	c.Buffer = max(c.Buffer, c.MaxInFlight)
	if c.AckTimeout == 0 {
		c.AckTimeout = 5 * time.Second
	}
	if c.RetryWait == 0 {
		c.RetryWait = 250 * time.Millisecond
	}
	if c.RetryFor == 0 {
		c.RetryFor = time.Minute
	}
	if c.RelayID == "" {
		var b [8]byte
		rand.Read(b[:])
		c.RelayID = hex.EncodeToString(b[:])
	}
	p := &Publisher{
		nc:          nc,
		subject:     c.Subject,
		relay:       c.RelayID,
		maxInFlight: c.MaxInFlight,
		buffer:      c.Buffer,
		retryWait:   c.RetryWait,
		retryFor:    c.RetryFor,
		slog:        c.Logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		pending:     make(map[*nats.Msg]*entry),
		ifnames:     make(map[int]string),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		drained:     make(chan struct{}),
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(2*c.MaxInFlight),
		jetstream.WithPublishAsyncTimeout(c.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(p.acked),
		jetstream.WithPublishAsyncErrHandler(p.failed))
	if err != nil {
		return nil, fmt.Errorf("natsrelay: publisher: %w", err)
	}
	p.js = js
	go p.run()
	return p, nil
}

// RelayID returns the name under which the Publisher numbers its
// messages.
func (p *Publisher) RelayID() string { return p.relay }

// ServeDatagram numbers d and queues a copy of it for publishing, or
// counts it if the buffer is full or the Publisher closed.
func (p *Publisher) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Received++
	p.seq++
	switch {
	case p.closing:
		p.st.Rejected++
		return
	case len(p.pending) >= p.buffer:
		p.st.Overflow++
		p.slog.Warn().Uint64("seq", p.seq).Int("buffer", p.buffer).Msg("natsrelay: buffer full; datagram not published")
		return
	}
	m := Meta{Relay: p.relay, Seq: p.seq, Source: d.Source, Group: d.Group, Port: d.Port,
		Interface: p.ifname(d.IfIndex), IfIndex: d.IfIndex, TTL: d.TTL, Time: d.Time}
	e := &entry{
		msg:  &nats.Msg{Subject: p.subject, Data: bytes.Clone(d.Payload), Header: m.header()},
		seq:  p.seq,
		born: time.Now(),
	}
	p.pending[e.msg] = e
	p.fresh = append(p.fresh, e)
	p.signal()
}

// ifname returns the name of interface i, from a cache (the kernel
// chooses the indexes, and a host has few: the cache is capped anyway).
func (p *Publisher) ifname(i int) string {
	if i <= 0 {
		return ""
	}
	if n, ok := p.ifnames[i]; ok {
		return n
	}
	var n string
	if ifi, err := net.InterfaceByIndex(i); err == nil {
		n = ifi.Name
	}
	if len(p.ifnames) >= 256 {
		clear(p.ifnames)
	}
	p.ifnames[i] = n
	return n
}

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run publishes what is held, retries first, up to MaxInFlight at once.
func (p *Publisher) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// While the connection is down, nothing is published: the client
		// would hold it in its reconnection buffer and send it, on
		// reconnection, ahead of the retries of what was in flight when
		// the connection went (which the client fails all at once), and
		// so out of order. Its state is polled, every 50 ms, meanwhile.
		connected := p.nc.IsConnected()
		p.mu.Lock()
		for connected && p.inflight < p.maxInFlight {
			e := p.nextLocked()
			if e == nil {
				break
			}
			p.inflight++
			p.mu.Unlock()
			_, err := p.js.PublishMsgAsync(e.msg)
			p.mu.Lock()
			if err != nil {
				p.failLocked(e, err)
			}
		}
		wait := time.Hour
		if len(p.retry) > 0 {
			wait = max(time.Until(p.retry[0].retryAt), time.Millisecond)
		}
		if !connected {
			wait = min(wait, 50*time.Millisecond)
		}
		p.checkDrainedLocked()
		p.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.stop:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// nextLocked returns the next datagram to publish: the first retry if its
// time has come; none while a retry waits (to keep the order); else the
// oldest fresh one.
func (p *Publisher) nextLocked() *entry {
	if len(p.retry) > 0 {
		if time.Now().Before(p.retry[0].retryAt) {
			return nil
		}
		e := p.retry[0]
		p.retry = p.retry[1:]
		p.st.Retries++
		return e
	}
	if len(p.fresh) == 0 {
		return nil
	}
	e := p.fresh[0]
	p.fresh[0] = nil
	p.fresh = p.fresh[1:]
	if len(p.fresh) == 0 {
		p.fresh = p.fresh[:0:0] // let the backing array go
	}
	return e
}

func (p *Publisher) checkDrainedLocked() {
	if p.closing && len(p.pending) == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// acked is the JetStream client's acknowledgement callback.
func (p *Publisher) acked(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pending[m]; !ok {
		return // abandoned by Close
	}
	delete(p.pending, m)
	p.inflight--
	p.st.Published++
	if ack != nil && ack.Duplicate {
		p.st.Duplicates++
	}
	p.checkDrainedLocked()
	p.signal()
}

// failed is the JetStream client's error callback.
func (p *Publisher) failed(_ jetstream.JetStream, m *nats.Msg, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.pending[m]
	if !ok {
		return
	}
	p.failLocked(e, err)
	p.signal()
}

// failLocked counts a failed attempt at e, and queues it to be retried or
// gives it up.
func (p *Publisher) failLocked(e *entry, err error) {
	p.inflight--
	p.st.Errors++
	now := time.Now()
	if now.Sub(e.born) >= p.retryFor {
		delete(p.pending, e.msg)
		p.st.Failed++
		p.slog.Error().Err(err).Uint64("seq", e.seq).Msg("natsrelay: publish failed; giving the datagram up")
		p.checkDrainedLocked()
		return
	}
	p.slog.Warn().Err(err).Uint64("seq", e.seq).Msg("natsrelay: publish failed; retrying")
	e.retryAt = now.Add(p.retryWait)
	i, _ := slices.BinarySearchFunc(p.retry, e.seq, func(x *entry, s uint64) int {
		switch {
		case x.seq < s:
			return -1
		case x.seq > s:
			return 1
		}
		return 0
	})
	p.retry = slices.Insert(p.retry, i, e)
	// The whole queue waits for the first retry: a later one waits no
	// less than the one in front.
	for _, r := range p.retry {
		if r.retryAt.Before(e.retryAt) {
			r.retryAt = e.retryAt
		}
	}
}

// Stats returns the Publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Held = len(p.pending)
	st.InFlight = p.inflight
	return st
}

// Close stops taking datagrams (those that come after are counted as
// Rejected) and waits, until ctx ends, for those held to be published or
// given up; those still held then are counted as Abandoned, and Close
// returns an error that says how many, wrapping ctx's. It is idempotent;
// it does not close the NATS connection.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.checkDrainedLocked()
	p.mu.Unlock()
	p.signal()
	var err error
	select {
	case <-p.drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.stopOnce.Do(func() {
		close(p.stop)
		<-p.done
		p.mu.Lock()
		n := len(p.pending)
		p.st.Abandoned += uint64(n)
		clear(p.pending)
		p.fresh, p.retry, p.inflight = nil, nil, 0
		p.mu.Unlock()
		if n > 0 {
			p.closeErr = fmt.Errorf("natsrelay: publisher closed with %d datagrams unacknowledged: %w", n, err)
		}
	})
	return p.closeErr
}
