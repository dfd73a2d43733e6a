package rewind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Defaults for the zero ServerConfig fields.
const (
	DefaultRate       = 2000
	DefaultBurst      = 64
	DefaultMaxPayload = 1400
)

// ErrInvalidConfig reports a bad configuration; the wrapping error says
// what.
var ErrInvalidConfig = errors.New("rewind: invalid configuration")

// ServerConfig configures a [Server]. Its zero value means the defaults,
// except Store, which must be set.
type ServerConfig struct {
	// Store holds the messages the Server answers with.
	Store *Store

	// Rate is the most answers sent a second, over all askers, and Burst
	// the most sent at once after a quiet time (a token bucket). A request
	// that finds no token is dropped and counted (Stats.Limited): the
	// Server never answers faster than this, whatever it is sent. 0 means
	// DefaultRate (2,000 a second) and DefaultBurst (64).
	Rate  float64
	Burst int

	// MaxPayload is the largest answer, in bytes, header included; 0
	// means DefaultMaxPayload (1,400, which fits an Ethernet MTU).
	MaxPayload int

	// Logger receives malformed and refused requests, sampled (a burst of
	// 5 a second). The zero value logs nothing.
	Logger zerolog.Logger
}

// Stats counts what a Server was asked and what it answered.
type Stats struct {
	// Requests counts the datagrams received, Malformed those that were
	// not 20-byte request packets, Limited those dropped by the rate
	// limit, Foreign those for another session (not answered).
	Requests, Malformed, Limited, Foreign uint64

	// Answers counts the answers sent, by kind: Messages packets of
	// messages (holding MessagesSent messages, BytesSent bytes in all
	// answers), NotHeld heartbeats for what the Store does not hold, Ends
	// ends of session, Heartbeats answers to a count of 0.
	Answers, Messages, NotHeld, Ends, Heartbeats uint64
	MessagesSent, BytesSent                      uint64

	// SendErrors counts the answers that could not be sent.
	SendErrors uint64
}

// Server answers MoldUDP64 request packets from a [Store], by unicast to
// the address and port each came from, rate-limited. Its methods are safe
// for concurrent use.
type Server struct {
	cfg  ServerConfig
	conn *net.UDPConn
	slog zerolog.Logger

	mu     sync.Mutex // guards the bucket and buf
	tokens float64
	last   time.Time
	buf    []byte

	requests, malformed, limited, foreign                     atomic.Uint64
	answers, messages, notHeld, ends, heartbeats, msgs, bytes atomic.Uint64
	sendErrors                                                atomic.Uint64

	closeOnce sync.Once
}

// Listen opens a UDP socket on address (host:port; port 0 for one the
// kernel picks) and returns a Server on it; [Server.Serve] answers.
func Listen(address string, cfg *ServerConfig) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, fmt.Errorf("rewind: %w", err)
	}
	s.conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("rewind: %w", err)
	}
	return s, nil
}

// New returns a Server with no socket, whose [Server.Handle] works out
// answers without sending them (for tests, fuzzing, or a caller with a
// socket of its own); Listen is New with a socket, for Serve.
func New(cfg *ServerConfig) (*Server, error) {
	if cfg == nil || cfg.Store == nil {
		return nil, fmt.Errorf("%w: no Store", ErrInvalidConfig)
	}
	c := *cfg
	if c.Rate < 0 || c.Burst < 0 || c.MaxPayload < 0 {
		return nil, fmt.Errorf("%w: negative Rate, Burst or MaxPayload", ErrInvalidConfig)
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	c.MaxPayload = max(c.MaxPayload, moldudp64.HeaderLen+2)
	s := &Server{cfg: c, tokens: float64(c.Burst)}
	s.slog = c.Logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second})
	return s, nil
}

// Addr returns the address the Server listens on (one made by Listen).
func (s *Server) Addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Serve reads requests and answers them until ctx ends or the Server is
// closed; it then returns nil (ctx's end is a clean stop).
func (s *Server) Serve(ctx context.Context) error {
	if s.conn == nil {
		return fmt.Errorf("%w: Serve on a Server without a socket (use Listen)", ErrInvalidConfig)
	}
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	b := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(b)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.slog.Warn().Err(err).Msg("read")
			continue // ICMP errors and the like: temporary
		}
		if ans, ok := s.Handle(b[:n], from, time.Now()); ok {
			if _, err := s.conn.WriteToUDPAddrPort(ans, from); err != nil {
				s.sendErrors.Add(1)
				s.slog.Warn().Err(err).Stringer("to", from).Msg("answer not sent")
			}
		}
	}
}

// Handle works out the answer to the datagram req that came from from at
// time now: it decodes the request, takes a token from the rate limit and
// asks the Store. It returns the answer (valid until the next call) and
// true, or false when nothing is to be sent (malformed, rate-limited,
// foreign session), counting each case. Serve calls it for each datagram;
// it is exported for tests and fuzzing, and sends nothing itself.
func (s *Server) Handle(req []byte, from netip.AddrPort, now time.Time) ([]byte, bool) {
	s.requests.Add(1)
	r, err := moldudp64.DecodeRequest(req)
	if err != nil {
		s.malformed.Add(1)
		s.slog.Warn().Stringer("from", from).Int("len", len(req)).Err(err).Msg("malformed request")
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.take(now) {
		s.limited.Add(1)
		s.slog.Warn().Stringer("from", from).Msg("request over the rate limit dropped")
		return nil, false
	}
	var kind int
	s.buf, kind = s.cfg.Store.Answer(s.buf[:0], r, s.cfg.MaxPayload)
	switch kind {
	case AnswerForeign:
		s.foreign.Add(1)
		s.slog.Warn().Stringer("from", from).Stringer("session", r.Session).Msg("request for another session")
		return nil, false
	case AnswerMessages:
		s.messages.Add(1)
		s.msgs.Add(uint64(s.buf[18])<<8 | uint64(s.buf[19]))
	case AnswerNotHeld:
		s.notHeld.Add(1)
	case AnswerEnd:
		s.ends.Add(1)
	case AnswerHeartbeat:
		s.heartbeats.Add(1)
	}
	s.answers.Add(1)
	s.bytes.Add(uint64(len(s.buf)))
	return s.buf, true
}

// take takes a token from the bucket, refilled at Rate a second up to
// Burst, reporting whether there was one. A clock that goes backwards
// refills nothing.
func (s *Server) take(now time.Time) bool {
	if !s.last.IsZero() {
		if d := now.Sub(s.last); d > 0 {
			s.tokens = min(float64(s.cfg.Burst), s.tokens+d.Seconds()*s.cfg.Rate)
		}
	}
	if s.last.IsZero() || now.After(s.last) {
		s.last = now
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests: s.requests.Load(), Malformed: s.malformed.Load(), Limited: s.limited.Load(), Foreign: s.foreign.Load(),
		Answers: s.answers.Load(), Messages: s.messages.Load(), NotHeld: s.notHeld.Load(), Ends: s.ends.Load(),
		Heartbeats: s.heartbeats.Load(), MessagesSent: s.msgs.Load(), BytesSent: s.bytes.Load(), SendErrors: s.sendErrors.Load(),
	}
}

// Close closes the socket; Serve returns. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.conn != nil {
			err = s.conn.Close()
		}
	})
	return err
}
