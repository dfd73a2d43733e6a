package natsrelay

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/bitring"
	"github.com/sharecast/sharecast/mcast"
)

// SourceConfig configures a [Source]. Subject is required; for the other
// fields the zero value means the default each documents.
type SourceConfig struct {
	// Subject is the subject to read, as a relay published it (a filter:
	// wildcards allowed).
	Subject string

	// Stream is the stream to read; empty means the one that holds
	// Subject.
	Stream string

	// Durable names the durable consumer, which the server keeps, so that
	// a Source made again with the same name resumes where the last one
	// stopped; empty means "sharecast". It is created if missing (from the
	// start of the stream), and left on the server by Close.
	Durable string

	// New makes a consumer that does not exist yet start with the
	// messages published after it is made, as a socket that joins a group
	// receives what is sent after; false starts it at the beginning of
	// the stream.
	New bool

	// InactiveThreshold, if set, has the server delete the consumer once
	// it has been idle that long (for consumers made for one run, such as
	// a listen's); 0 keeps it for ever.
	InactiveThreshold time.Duration

	// Port is the destination port that the Source reports to a
	// dispatch.Server (as a socket reports the port it is bound to), and
	// so Datagram.Port; a message relayed from another port is skipped
	// and counted (SourceStats.OtherPort), as a socket would not receive
	// it. 0 takes every port and reports 0.
	Port uint16

	// Window is how many of each relay's sequence numbers below the
	// highest seen the Source remembers, to tell a late message from a
	// duplicate (a redelivery); 0 means 65536 (a bit each). A number
	// further behind counts as Stale and is skipped.
	Window int

	// MaxRelays caps the relays (HeaderRelay) whose numbering is tracked;
	// 0 means 64. A new relay beyond it evicts the one idle longest
	// (counted in SourceStats.Evicted).
	MaxRelays int

	// PullBatch is how many messages the client fetches ahead; 0 means
	// 1024.
	PullBatch int

	// Logger receives the Source's events: consumer errors, gaps, through
	// a sampler. The zero value logs nothing.
	Logger zerolog.Logger
}

// SourceStats counts what a Source read. Every message read is delivered
// or counted once in Duplicates, Stale, Malformed, OtherPort or Truncated.
type SourceStats struct {
	// Messages counts the messages read from the consumer.
	Messages uint64 `json:"messages"`
	// Delivered counts the datagrams returned by ReadBatch.
	Delivered uint64 `json:"delivered"`
	// Gaps counts jumps forward over one or more of a relay's numbers;
	// Missing counts the numbers jumped and not seen since: the
	// datagrams the relay received and did not publish, or that the
	// stream lost (its limits), as KernelDrops on a socket.
	Gaps    uint64 `json:"gaps"`
	Missing uint64 `json:"missing"`
	// Late counts datagrams delivered after a higher number (a retry
	// that the stream stored after newer ones).
	Late uint64 `json:"late"`
	// Duplicates counts messages skipped because their number was
	// delivered already (a redelivery).
	Duplicates uint64 `json:"duplicates"`
	// Stale counts messages skipped because their number was further
	// behind than the window.
	Stale uint64 `json:"stale"`
	// Resets counts jumps forward further than the window: tracking
	// restarts there, and nothing counts as missing.
	Resets uint64 `json:"resets"`
	// Malformed counts messages without a relay name and number.
	Malformed uint64 `json:"malformed"`
	// OtherPort counts messages relayed from another port than
	// SourceConfig.Port.
	OtherPort uint64 `json:"other_port"`
	// Truncated counts messages longer than the reader's buffer.
	Truncated uint64 `json:"truncated"`
	// Evicted counts relays no longer tracked, under MaxRelays.
	Evicted uint64 `json:"evicted"`
	// Errors counts errors of the consumer (each followed by a retry).
	Errors uint64 `json:"errors"`
}

// Source is a dispatch.Source that reads a JetStream subject through a
// durable pull consumer: a dispatch.Server serves the handlers of a host
// without multicast from it as it would from a socket. Each datagram keeps
// the metadata that the relay saw (source, group, interface index on the
// relay host, TTL, kernel receive time there); the relay's numbering
// (HeaderSeq) is followed per relay, so that gaps are counted
// (SourceStats.Missing) and redeliveries skipped. The payloads are the
// original datagrams, so a sequence tracker or a MoldUDP64 arbiter on the
// handlers' side works as on a socket.
//
// Each message is acknowledged as ReadBatch reads it: a consumer made
// again resumes after the last message read. (One acknowledgement each,
// not one a batch with AckAll: a delivery lost with a connection would be
// acknowledged by a later one, and never redelivered.) ReadBatch is for one reader at a time; SetReadDeadline, Stats and
// Close are safe for concurrent use.
type Source struct {
	it     jetstream.MessagesContext
	port   uint16
	window uint64
	relays int
	slog   zerolog.Logger

	msgs   chan jetstream.Msg
	fatal  chan error
	closed chan struct{}
	done   chan struct{}
	once   sync.Once

	dlMu     sync.Mutex
	deadline time.Time
	dlWake   chan struct{}

	mu    sync.Mutex
	st    SourceStats
	flows map[string]*relayFlow
	tick  uint64
}

type relayFlow struct {
	next uint64 // the number after the highest seen
	seen []uint64
	used uint64
}

// NewSource makes (or finds) the durable consumer that cfg names, and
// starts reading it.
func NewSource(ctx context.Context, js jetstream.JetStream, cfg *SourceConfig) (*Source, error) {
	if cfg == nil || cfg.Subject == "" {
		return nil, fmt.Errorf("natsrelay: source: no subject: %w", ErrInvalidConfig)
	}
	c := *cfg
	if c.Window < 0 || c.MaxRelays < 0 || c.PullBatch < 0 {
		return nil, fmt.Errorf("natsrelay: source: negative limit: %w", ErrInvalidConfig)
	}
	if c.Window == 0 {
		c.Window = 65536
	}
	if c.MaxRelays == 0 {
		c.MaxRelays = 64
	}
	if c.PullBatch == 0 {
		c.PullBatch = 1024
	}
	if c.Durable == "" {
		c.Durable = "sharecast"
	}
	if c.Stream == "" {
		name, err := js.StreamNameBySubject(ctx, c.Subject)
		if err != nil {
			return nil, fmt.Errorf("natsrelay: source: the stream of subject %s: %w", c.Subject, err)
		}
		c.Stream = name
	}
	st, err := js.Stream(ctx, c.Stream)
	if err != nil {
		return nil, fmt.Errorf("natsrelay: source: stream %s: %w", c.Stream, err)
	}
	w := uint64(1) << bits.Len(uint(max(c.Window, 64)-1))
	deliver := jetstream.DeliverAllPolicy
	if c.New {
		deliver = jetstream.DeliverNewPolicy
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:           c.Durable,
		FilterSubject:     c.Subject,
		AckPolicy:         jetstream.AckExplicitPolicy,
		DeliverPolicy:     deliver,
		AckWait:           30 * time.Second,
		MaxAckPending:     int(min(w/2, 1<<20)),
		InactiveThreshold: c.InactiveThreshold,
	})
	if err != nil {
		return nil, fmt.Errorf("natsrelay: source: consumer %s on stream %s: %w", c.Durable, c.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(c.PullBatch))
	if err != nil {
		return nil, fmt.Errorf("natsrelay: source: consumer %s: %w", c.Durable, err)
	}
	s := &Source{
		it:     it,
		port:   c.Port,
		window: w,
		relays: c.MaxRelays,
		slog:   c.Logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		msgs:   make(chan jetstream.Msg, c.PullBatch),
		fatal:  make(chan error, 1),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
		dlWake: make(chan struct{}, 1),
		flows:  make(map[string]*relayFlow),
	}
	go s.pump()
	return s, nil
}

// pump moves messages from the iterator to ReadBatch.
func (s *Source) pump() {
	defer close(s.done)
	for {
		m, err := s.it.Next()
		if err != nil {
			switch {
			case errors.Is(err, jetstream.ErrMsgIteratorClosed):
				return
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
				s.fatal <- fmt.Errorf("natsrelay: source: %w", err)
				return
			}
			s.mu.Lock()
			s.st.Errors++
			s.mu.Unlock()
			s.slog.Warn().Err(err).Msg("natsrelay: consumer error; going on")
			t := time.NewTimer(50 * time.Millisecond) // the client retries by itself; do not spin meanwhile
			select {
			case <-t.C:
			case <-s.closed:
				t.Stop()
				return
			}
			continue
		}
		select {
		case s.msgs <- m:
		case <-s.closed:
			return
		}
	}
}

// LocalAddr reports SourceConfig.Port, which dispatch takes as the
// datagrams' destination port.
func (s *Source) LocalAddr() netip.AddrPort {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), s.port)
}

// SetReadDeadline sets the time after which a ReadBatch waiting for a
// message returns os.ErrDeadlineExceeded; the zero time means none.
func (s *Source) SetReadDeadline(t time.Time) error {
	s.dlMu.Lock()
	s.deadline = t
	s.dlMu.Unlock()
	select {
	case s.dlWake <- struct{}{}:
	default:
	}
	return nil
}

// ReadBatch waits for at least one datagram and returns up to len(ds) of
// them, each copied into its Payload buffer (its capacity), with the
// relay's metadata. It returns an error that matches net.ErrClosed after
// Close, os.ErrDeadlineExceeded past the deadline, and the consumer's
// error if the server deleted it.
func (s *Source) ReadBatch(ds []mcast.Datagram) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.dlMu.Lock()
		dl := s.deadline
		s.dlMu.Unlock()
		var tc <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tc = timer.C
		}
		select {
		case <-s.closed:
			return 0, ErrClosed
		case err := <-s.fatal:
			s.fatal <- err
			return 0, err
		case <-s.dlWake:
			continue
		case <-tc:
			continue
		case m := <-s.msgs:
			if n := s.batch(m, ds); n > 0 {
				return n, nil
			}
		}
	}
}

// batch takes m and whatever else is ready, up to len(ds), and
// acknowledges each message read.
func (s *Source) batch(m jetstream.Msg, ds []mcast.Datagram) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for {
		if s.take(m, &ds[n]) {
			n++
		}
		// An error here (the connection is down) leaves the message to be
		// redelivered, and skipped then as a duplicate.
		if err := m.Ack(); err != nil {
			s.st.Errors++
		}
		if n == len(ds) {
			break
		}
		select {
		case m = <-s.msgs:
			continue
		default:
		}
		break
	}
	return n
}

// take reads m into d, if it is to be delivered.
func (s *Source) take(m jetstream.Msg, d *mcast.Datagram) bool {
	s.st.Messages++
	meta, ok := ParseMeta(m.Headers())
	if !ok {
		s.st.Malformed++
		return false
	}
	if s.port != 0 && meta.Port != s.port {
		s.st.OtherPort++
		return false
	}
	data := m.Data()
	if len(data) > cap(d.Payload) {
		s.st.Truncated++
		return false
	}
	if !s.sequence(meta.Relay, meta.Seq) {
		return false
	}
	d.Payload = append(d.Payload[:0], data...)
	d.Source = meta.Source
	d.Group = meta.Group
	d.IfIndex = meta.IfIndex
	d.TTL = meta.TTL
	d.Time = meta.Time
	s.st.Delivered++
	return true
}

// sequence follows relay's numbering and says whether seq is to be
// delivered (not seen before).
func (s *Source) sequence(relay string, seq uint64) bool {
	s.tick++
	f := s.flows[relay]
	if f == nil {
		if len(s.flows) >= s.relays {
			var oldest string
			var used uint64 = ^uint64(0)
			for k, v := range s.flows {
				if v.used < used {
					oldest, used = k, v.used
				}
			}
			delete(s.flows, oldest)
			s.st.Evicted++
		}
		f = &relayFlow{next: seq, seen: make([]uint64, s.window/64)}
		s.flows[relay] = f
	}
	f.used = s.tick
	w, mask := s.window, s.window-1
	if seq >= f.next {
		gap := seq - f.next
		switch {
		case gap >= w:
			s.st.Resets++
			clear(f.seen)
		default:
			if gap > 0 {
				s.st.Gaps++
				s.st.Missing += gap
				s.slog.Warn().Str("relay", relay).Uint64("from", f.next).Uint64("to", seq-1).Msg("natsrelay: relay numbers missing")
			}
			bitring.Clear(f.seen, f.next, gap)
		}
		f.seen[(seq&mask)/64] |= 1 << (seq & 63)
		f.next = seq + 1
		return true
	}
	if f.next-seq > w {
		s.st.Stale++
		return false
	}
	bit := uint64(1) << (seq & 63)
	if f.seen[(seq&mask)/64]&bit != 0 {
		s.st.Duplicates++
		return false
	}
	f.seen[(seq&mask)/64] |= bit
	s.st.Late++
	if s.st.Missing > 0 {
		s.st.Missing--
	}
	return true
}

// Stats returns the Source's counters.
func (s *Source) Stats() SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Close stops reading; a ReadBatch waiting returns ErrClosed. The durable
// consumer stays on the server. It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.it.Stop()
		<-s.done
	})
	return nil
}

var _ dispatch.Source = (*Source)(nil)
