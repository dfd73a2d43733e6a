package rerequest

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

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Defaults for the zero Config fields.
const (
	DefaultMaxCount     = 256
	DefaultRate         = 1000
	DefaultBurst        = 32
	DefaultRetryTimeout = 20 * time.Millisecond
	DefaultMaxPending   = 4096
)

// ErrInvalidConfig reports a bad Config; the wrapping error says what.
var ErrInvalidConfig = errors.New("rerequest: invalid configuration")

// Config configures a [Client]. Its zero value means the defaults, except
// Server and Deliver, which must be set.
type Config struct {
	// Server is the re-request server's unicast address and port.
	Server netip.AddrPort

	// Local is the address the client's socket binds to; the zero value
	// means the unspecified address of the Server's family and port 0: an
	// ephemeral port of its own, never the feed's shared port.
	Local netip.AddrPort

	// MaxCount is the most messages asked for in one request; 0 means
	// DefaultMaxCount (256); at most moldudp64.MaxMessages.
	MaxCount int

	// Rate is the most requests sent a second, retries included, and
	// Burst the most at once (a token bucket); 0 means DefaultRate (1,000)
	// and DefaultBurst (32).
	Rate  float64
	Burst int

	// RetryTimeout is how long an answer is waited for before the request
	// is sent again; 0 means DefaultRetryTimeout (20ms).
	RetryTimeout time.Duration

	// MaxPending is the most requests queued or waiting for an answer;
	// 0 means DefaultMaxPending (4,096).
	MaxPending int

	// Deliver is called with each accepted answer, on the client's
	// reading goroutine, and the time it arrived: the feed handler passes
	// it to arbiter.Recover. p is valid only during the call.
	Deliver func(p moldudp64.Packet, now time.Time)

	// Logger receives refused answers and errors, sampled (5 a second).
	// The zero value logs nothing.
	Logger zerolog.Logger
}

// Stats counts what a Client asked and was answered.
type Stats struct {
	// Runs counts the runs wanted (Client.Want), Dropped the requests that
	// did not fit in MaxPending.
	Runs, Dropped uint64

	// Requests counts the request packets sent, Retries those among them
	// sent again after RetryTimeout, Limited the times a request waited
	// for the rate limit.
	Requests, Retries, Limited uint64

	// Answers counts the answers accepted and Messages the messages in
	// them; Duplicates the answers whose messages had all come already;
	// Stale the answers (to a retry, say) for messages the arbiter has
	// passed; Unavailable the heartbeats or ends of session by which the
	// server said it does not hold what was asked (the request is sent
	// again after RetryTimeout).
	Answers, Messages, Duplicates, Stale, Unavailable uint64

	// Filled counts the requests answered whole, Unanswered those
	// forgotten (the arbiter moved past them) without any answer, Partial
	// those forgotten with part of an answer.
	Filled, Unanswered, Partial uint64

	// Foreign counts datagrams from another address than Server,
	// Malformed those that were not MoldUDP64 packets, WrongSession those
	// of another session than asked, Unasked those whose messages were
	// not asked for. All are dropped.
	Foreign, Malformed, WrongSession, Unasked uint64

	// SendErrors counts requests that could not be sent.
	SendErrors uint64

	// Latency is, for each request answered whole, the time from its
	// first sending to its last answer.
	Latency arbiter.Histogram

	// Pending is the number of requests queued or waiting now.
	Pending int
}

// request is one request packet's worth of a run.
type request struct {
	session     moldudp64.Session
	first, last uint64 // as asked
	cursor      uint64 // the first not yet answered
	sent        time.Time
	firstSent   time.Time
	tries       int
	answered    bool
}

// Client sends re-requests and takes their answers. Its methods are safe
// for concurrent use.
type Client struct {
	cfg  Config
	conn *net.UDPConn
	slog zerolog.Logger
	next atomic.Uint64 // the arbiter's next sequence number
	wake chan struct{}

	mu      sync.Mutex // guards pending, stats, the bucket, asked
	pending []request
	asked   moldudp64.Session // the session of the last run wanted
	stats   Stats
	tokens  float64
	last    time.Time

	closeOnce sync.Once
}

// New opens the client's socket and returns a Client; [Client.Run] sends
// and reads.
func New(cfg *Config) (*Client, error) {
	if cfg == nil || !cfg.Server.IsValid() || cfg.Server.Port() == 0 || cfg.Deliver == nil {
		return nil, fmt.Errorf("%w: a Server address and port, and Deliver, are required", ErrInvalidConfig)
	}
	c := *cfg
	switch {
	case c.MaxCount < 0 || c.MaxCount > moldudp64.MaxMessages:
		return nil, fmt.Errorf("%w: MaxCount %d, want 0 to %d", ErrInvalidConfig, c.MaxCount, moldudp64.MaxMessages)
	case c.Rate < 0 || c.Burst < 0 || c.RetryTimeout < 0 || c.MaxPending < 0:
		return nil, fmt.Errorf("%w: negative Rate, Burst, RetryTimeout or MaxPending", ErrInvalidConfig)
	}
	if c.MaxCount == 0 {
		c.MaxCount = DefaultMaxCount
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.RetryTimeout == 0 {
		c.RetryTimeout = DefaultRetryTimeout
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if !c.Local.IsValid() {
		if c.Server.Addr().Is4() {
			c.Local = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		} else {
			c.Local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		}
	}
	network := "udp6"
	if c.Local.Addr().Unmap().Is4() {
		network = "udp4"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(c.Local))
	if err != nil {
		return nil, fmt.Errorf("rerequest: request socket %s: %w", c.Local, err)
	}
	cl := &Client{cfg: c, conn: conn, wake: make(chan struct{}, 1), tokens: float64(c.Burst)}
	cl.slog = c.Logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second})
	return cl, nil
}

// LocalAddr returns the address of the client's request socket.
func (c *Client) LocalAddr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Want queues the run r for requests. It does not block: call it from
// arbiter.Config.OnRequest.
func (c *Client) Want(r arbiter.Request) {
	c.mu.Lock()
	c.stats.Runs++
	c.asked = r.Session
	size := uint64(c.cfg.MaxCount)
	for first := r.First; first <= r.Last; {
		if len(c.pending) >= c.cfg.MaxPending {
			// Full: count the requests left out, without making them.
			c.stats.Dropped += (r.Last-first)/size + 1
			break
		}
		last := r.Last
		if r.Last-first >= size {
			last = first + size - 1
		}
		c.pending = append(c.pending, request{session: r.Session, first: first, last: last, cursor: first})
		if last == r.Last {
			break
		}
		first = last + 1
	}
	c.mu.Unlock()
	c.poke()
}

// Advance tells the client the arbiter's next sequence number: the
// requests behind it are forgotten at the client's next pass.
func (c *Client) Advance(next uint64) {
	if old := c.next.Load(); next != old {
		c.next.Store(next)
	}
}

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run sends the requests and reads the answers until ctx ends or the
// Client is closed; it then returns nil.
func (c *Client) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read()
	}()
	defer func() { <-done }()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	buf := make([]byte, 0, moldudp64.RequestLen)
	for {
		select {
		case <-done:
			return nil
		case <-c.wake:
		case <-t.C:
		}
		wait := c.pass(time.Now(), &buf)
		t.Reset(wait)
	}
}

// pass forgets what the arbiter has passed, sends what is due and the
// rate allows, and returns how long to wait before the next pass.
func (c *Client) pass(now time.Time, buf *[]byte) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.forget()
	c.refill(now)
	wait := time.Hour
	kept := c.pending[:0]
	for _, r := range c.pending {
		if r.cursor < next {
			r.cursor = next // filled by the lines meanwhile
		}
		due := r.sent.IsZero() || now.Sub(r.sent) >= c.cfg.RetryTimeout
		if due && c.tokens >= 1 {
			c.tokens--
			*buf = moldudp64.AppendRequest((*buf)[:0], moldudp64.Request{
				Session: r.session, Seq: r.cursor, Count: uint16(r.last - r.cursor + 1)})
			if _, err := c.conn.WriteToUDPAddrPort(*buf, c.cfg.Server); err != nil {
				c.stats.SendErrors++
				c.slog.Warn().Err(err).Stringer("server", c.cfg.Server).Msg("request not sent")
			}
			c.stats.Requests++
			if r.tries > 0 && !r.sent.IsZero() {
				c.stats.Retries++
			}
			if r.firstSent.IsZero() {
				r.firstSent = now
			}
			r.sent = now
			r.tries++
			due = false
		} else if due {
			c.stats.Limited++
		}
		if due {
			wait = min(wait, time.Duration((1-c.tokens)/c.cfg.Rate*float64(time.Second))+time.Microsecond)
		} else {
			wait = min(wait, c.cfg.RetryTimeout-now.Sub(r.sent))
		}
		kept = append(kept, r)
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	return max(wait, 100*time.Microsecond)
}

// forget drops the requests that are done (filled, or the server does not
// hold them) or that the arbiter has moved past, counting those never
// answered whole; it returns the arbiter's next sequence number.
func (c *Client) forget() uint64 {
	next := c.next.Load()
	kept := c.pending[:0]
	for _, r := range c.pending {
		switch {
		case r.cursor > r.last:
			continue
		case r.last >= next:
			kept = append(kept, r)
		case !r.answered:
			c.stats.Unanswered++
		default:
			c.stats.Partial++
		}
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	return next
}

func (c *Client) refill(now time.Time) {
	if !c.last.IsZero() {
		if d := now.Sub(c.last); d > 0 {
			c.tokens = min(float64(c.cfg.Burst), c.tokens+d.Seconds()*c.cfg.Rate)
		}
	}
	if now.After(c.last) {
		c.last = now
	}
}

// read takes the answers until the socket is closed.
func (c *Client) read() {
	b := make([]byte, 65536)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(b)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.slog.Warn().Err(err).Msg("read") // ICMP port unreachable and the like
			continue
		}
		now := time.Now()
		if p, ok := c.take(b[:n], from, now); ok {
			c.cfg.Deliver(p, now)
			c.poke() // the rest of a partial answer is due at once
		}
	}
}

// take checks an answer against the pending requests and reports whether
// it is to be delivered.
func (c *Client) take(b []byte, from netip.AddrPort, now time.Time) (moldudp64.Packet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from.Addr().Unmap() != c.cfg.Server.Addr().Unmap() || from.Port() != c.cfg.Server.Port() {
		c.stats.Foreign++
		c.slog.Warn().Stringer("from", from).Msg("datagram not from the server dropped")
		return moldudp64.Packet{}, false
	}
	p, err := moldudp64.Decode(b)
	if err != nil || !p.Valid() {
		c.stats.Malformed++
		c.slog.Warn().Err(err).Msg("malformed answer dropped")
		return p, false
	}
	sessionSeen := p.Session == c.asked
	for i := range c.pending {
		r := &c.pending[i]
		if r.session != p.Session {
			continue
		}
		sessionSeen = true
		if p.Len() == 0 {
			if p.Seq == r.cursor && r.cursor <= r.last {
				// The server does not hold it (yet: a rewinder on the
				// same feed may be a little behind): ask again after
				// RetryTimeout, until the arbiter gives it up.
				c.stats.Unavailable++
				r.answered = true
				return p, false
			}
			continue
		}
		if p.Seq < r.first || p.NextSeq()-1 > r.last {
			continue
		}
		if p.NextSeq() <= r.cursor {
			c.stats.Duplicates++
			return p, false
		}
		if p.Seq > r.cursor {
			continue // not what was asked: it starts where nothing was asked for yet
		}
		c.stats.Answers++
		c.stats.Messages += uint64(p.Len())
		r.answered = true
		r.cursor = p.NextSeq()
		if r.cursor > r.last {
			c.stats.Filled++
			c.stats.Latency.Record(now.Sub(r.firstSent))
		} else {
			r.sent = time.Time{} // ask for the rest at once
		}
		return p, true
	}
	if sessionSeen && p.Len() > 0 && p.Seq < c.next.Load() {
		// An answer to a request already filled (a retry crossed it) or
		// forgotten: harmless.
		c.stats.Stale++
		return p, false
	}
	if sessionSeen {
		c.stats.Unasked++
		c.slog.Warn().Uint64("seq", p.Seq).Int("count", p.Len()).Msg("answer for what was not asked dropped")
	} else {
		c.stats.WrongSession++
		c.slog.Warn().Stringer("session", p.Session).Msg("answer of another session dropped")
	}
	return p, false
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget()
	s := c.stats
	s.Pending = len(c.pending)
	return s
}

// Close closes the socket; Run returns. It is idempotent.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.conn.Close() })
	return err
}
