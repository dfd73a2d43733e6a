package soup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/examples/marketdata/rewind"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Defaults for the zero Config fields.
const (
	DefaultMaxClients   = 64
	DefaultHeartbeat    = time.Second
	DefaultIdleTimeout  = 15 * time.Second
	DefaultWriteTimeout = 15 * time.Second
)

// Packet types of SoupBinTCP 3.0.
const (
	TypeLoginRequest  = 'L'
	TypeLoginAccepted = 'A'
	TypeLoginRejected = 'J'
	TypeSequenced     = 'S'
	TypeHeartbeat     = 'H'
	TypeEndOfSession  = 'Z'
	TypeClientBeat    = 'R'
	TypeLogout        = 'O'
	TypeDebug         = '+'
	TypeUnsequenced   = 'U'
)

// LoginLen is the length of a Login Request's payload.
const LoginLen = 6 + 10 + 10 + 20

// maxClientPacket bounds what a client may send in one packet (type and
// payload): a login is 47 bytes; anything far longer is hostile.
const maxClientPacket = 1024

// Errors.
var (
	// ErrInvalidConfig reports a bad Config; the wrapping error says what.
	ErrInvalidConfig = errors.New("soup: invalid configuration")

	// ErrMalformed reports a client packet that is not SoupBinTCP 3.0.
	ErrMalformed = errors.New("soup: malformed packet")
)

// Config configures a [Server]. Its zero value means the defaults, except
// Store, which must be set.
type Config struct {
	// Store holds the session served.
	Store *rewind.Store

	// Username and Password, if Username is set, are required at login
	// (compared as the packet's space-padded fields); otherwise any login
	// is accepted.
	Username, Password string

	// MaxClients bounds the connections at once; 0 means
	// DefaultMaxClients (64).
	MaxClients int

	// Heartbeat is how long the server waits with nothing to send before
	// a Server Heartbeat; 0 means DefaultHeartbeat (1s).
	Heartbeat time.Duration

	// IdleTimeout is how long a client may send nothing (heartbeats
	// included) before it is disconnected, and the time it has to log in;
	// 0 means DefaultIdleTimeout (15s).
	IdleTimeout time.Duration

	// WriteTimeout is how long a write may block on a client that does not
	// read before it is disconnected; 0 means DefaultWriteTimeout (15s).
	WriteTimeout time.Duration

	// Logger receives connections and disconnections, and malformed
	// packets (sampled). The zero value logs nothing.
	Logger zerolog.Logger
}

// Stats counts a Server's connections and what they were sent.
type Stats struct {
	// Connections counts those accepted, Refused those closed at once
	// (MaxClients), Active those open now.
	Connections, Refused uint64
	Active               int64

	// Logins counts the accepted logins, Rejected the rejected ones,
	// Malformed the connections closed for a malformed, oversized or
	// out-of-order packet, Idle those closed after IdleTimeout, Slow those
	// closed after WriteTimeout, Gaps those closed at a message not held.
	Logins, Rejected, Malformed, Idle, Slow, Gaps uint64

	// Messages counts the Sequenced Data packets sent, Heartbeats the
	// Server Heartbeats, Ends the End of Session packets.
	Messages, Heartbeats, Ends uint64
}

// Server serves SoupBinTCP clients from a Store. Its methods are safe for
// concurrent use.
type Server struct {
	cfg  Config
	ln   net.Listener
	slog zerolog.Logger
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	connections, refused, logins, rejected, malformed, idle, slow, gaps atomic.Uint64
	messages, heartbeats, ends                                          atomic.Uint64
	active                                                              atomic.Int64

	closeOnce sync.Once
	closed    chan struct{}
}

// Listen opens a TCP listener on address and returns a Server; Serve
// accepts.
func Listen(address string, cfg *Config) (*Server, error) {
	if cfg == nil || cfg.Store == nil {
		return nil, fmt.Errorf("%w: no Store", ErrInvalidConfig)
	}
	c := *cfg
	if c.MaxClients < 0 || c.Heartbeat < 0 || c.IdleTimeout < 0 || c.WriteTimeout < 0 || len(c.Username) > 6 || len(c.Password) > 10 {
		return nil, fmt.Errorf("%w: negative limit, or Username over 6 or Password over 10 bytes", ErrInvalidConfig)
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("soup: %w", err)
	}
	s := &Server{cfg: c, ln: ln, conns: map[net.Conn]struct{}{}, closed: make(chan struct{})}
	s.slog = c.Logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second})
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts and serves clients until ctx ends or the Server is
// closed; it closes every connection and waits for them before returning
// nil.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.slog.Warn().Err(err).Msg("accept")
			continue
		}
		s.mu.Lock()
		full := len(s.conns) >= s.cfg.MaxClients
		select {
		case <-s.closed:
			full = true
		default:
		}
		if !full {
			s.conns[conn] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			s.refused.Add(1)
			conn.Close()
			continue
		}
		s.connections.Add(1)
		s.active.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.active.Add(-1)
			s.serveConn(conn)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
			conn.Close()
		}()
	}
}

// Close stops accepting and closes every connection. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return err
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.connections.Load(), Refused: s.refused.Load(), Active: s.active.Load(),
		Logins: s.logins.Load(), Rejected: s.rejected.Load(), Malformed: s.malformed.Load(), Idle: s.idle.Load(),
		Slow: s.slow.Load(), Gaps: s.gaps.Load(), Messages: s.messages.Load(), Heartbeats: s.heartbeats.Load(), Ends: s.ends.Load(),
	}
}

// Login is a decoded Login Request.
type Login struct {
	Username, Password string // trailing spaces removed
	Session            moldudp64.Session
	Seq                uint64
}

// ParseLogin decodes the payload of a Login Request (after the type). It
// returns an error wrapping ErrMalformed for a payload of the wrong
// length or a sequence number that is not a space-padded decimal number
// that fits in 64 bits.
func ParseLogin(b []byte) (Login, error) {
	var l Login
	if len(b) != LoginLen {
		return l, fmt.Errorf("login of %d bytes, want %d: %w", len(b), LoginLen, ErrMalformed)
	}
	l.Username = string(bytes.TrimRight(b[:6], " "))
	l.Password = string(bytes.TrimRight(b[6:16], " "))
	copy(l.Session[:], b[16:26])
	num := bytes.TrimSpace(b[26:46])
	if len(num) == 0 {
		return l, nil
	}
	seq, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return l, fmt.Errorf("sequence number %q: %w", num, ErrMalformed)
	}
	l.Seq = seq
	return l, nil
}

// AppendLogin appends a Login Request packet (length, type and payload).
func AppendLogin(dst []byte, l Login) []byte {
	dst = append(dst, 0, 1+LoginLen, TypeLoginRequest)
	dst = appendField(dst, l.Username, 6, false)
	dst = appendField(dst, l.Password, 10, false)
	dst = append(dst, l.Session[:]...)
	return appendField(dst, strconv.FormatUint(l.Seq, 10), 20, true)
}

// appendField appends s padded with spaces to n bytes, on the right
// (alpha) or on the left (numeric).
func appendField(dst []byte, s string, n int, right bool) []byte {
	if len(s) > n {
		s = s[:n]
	}
	pad := bytes.Repeat([]byte{' '}, n-len(s))
	if right {
		return append(append(dst, pad...), s...)
	}
	return append(append(dst, s...), pad...)
}

// readPacket reads one client packet into buf: its type and payload.
func readPacket(r io.Reader, buf []byte) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 || n > maxClientPacket {
		return 0, nil, fmt.Errorf("packet of %d bytes: %w", n, ErrMalformed)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return 0, nil, err
	}
	return buf[0], buf[1:n], nil
}

// serveConn runs one client: login, then a reader (heartbeats, logout)
// beside the writer of the session.
func (s *Server) serveConn(conn net.Conn) {
	log := s.cfg.Logger.With().Stringer("client", conn.RemoteAddr()).Logger()
	buf := make([]byte, maxClientPacket)
	conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	typ, payload, err := readPacket(conn, buf)
	if err != nil {
		s.dropRead(log, err)
		return
	}
	if typ != TypeLoginRequest {
		s.malformed.Add(1)
		s.slog.Warn().Stringer("client", conn.RemoteAddr()).Str("type", string(rune(typ))).Msg("first packet is not a login")
		return
	}
	login, err := ParseLogin(payload)
	if err != nil {
		s.malformed.Add(1)
		s.slog.Warn().Stringer("client", conn.RemoteAddr()).Err(err).Msg("malformed login")
		return
	}
	w := bufio.NewWriterSize(conn, 64<<10)
	if s.cfg.Username != "" && (login.Username != s.cfg.Username || login.Password != s.cfg.Password) {
		s.rejected.Add(1)
		s.reject(conn, w, 'A')
		return
	}
	st := s.cfg.Store.Stats()
	sess := login.Session
	if sess == (moldudp64.Session{}) || sess == moldudp64.MustParseSession("") {
		sess = st.Session
	}
	if st.Sessions == 0 || sess != st.Session {
		s.rejected.Add(1)
		s.reject(conn, w, 'S')
		return
	}
	seq := login.Seq
	if seq == 0 {
		seq = st.Next
	}
	seq = max(seq, st.First)
	s.logins.Add(1)
	log.Info().Stringer("session", sess).Uint64("seq", seq).Msg("login")

	// The reader: heartbeats and logout; a malformed packet or silence
	// ends the connection.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
			typ, _, err := readPacket(conn, buf)
			if err != nil {
				s.dropRead(log, err)
				conn.Close()
				return
			}
			switch typ {
			case TypeClientBeat, TypeDebug, TypeUnsequenced:
			case TypeLogout:
				log.Info().Msg("logout")
				conn.Close()
				return
			default:
				s.malformed.Add(1)
				s.slog.Warn().Stringer("client", conn.RemoteAddr()).Str("type", string(rune(typ))).Msg("unexpected packet")
				conn.Close()
				return
			}
		}
	}()
	defer func() { conn.Close(); <-done }()

	out := make([]byte, 0, 64)
	lastSent := time.Now()
	write := func(typ byte, payload []byte) {
		var hdr [3]byte
		binary.BigEndian.PutUint16(hdr[:], uint16(1+len(payload)))
		hdr[2] = typ
		w.Write(hdr[:]) // a write error is kept by w and returned by Flush
		w.Write(payload)
	}
	flush := func() bool {
		if w.Buffered() == 0 {
			return true
		}
		lastSent = time.Now()
		conn.SetWriteDeadline(lastSent.Add(s.cfg.WriteTimeout))
		if err := w.Flush(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.slow.Add(1)
				log.Warn().Msg("client does not read: disconnected")
			}
			return false
		}
		return true
	}
	accepted := append(append([]byte(nil), sess[:]...), appendField(nil, strconv.FormatUint(seq, 10), 20, true)...)
	write(TypeLoginAccepted, accepted)
	if !flush() {
		return
	}
	hb := time.NewTimer(s.cfg.Heartbeat)
	defer hb.Stop()
	for {
		changed := s.cfg.Store.Changed()
		var res int
		out, res = s.cfg.Store.Get(sess, seq, out[:0])
		switch res {
		case rewind.GetOK:
			if len(out) > 0xFFFE {
				out = out[:0xFFFE] // cannot happen: a MoldUDP64 message is at most 0xFFFF bytes
			}
			write(TypeSequenced, out)
			s.messages.Add(1)
			seq++
			if w.Buffered() < 32<<10 {
				continue
			}
			if !flush() {
				return
			}
			continue
		case rewind.GetEnded, rewind.GetForeign:
			write(TypeEndOfSession, nil)
			s.ends.Add(1)
			flush()
			return
		case rewind.GetMissing:
			s.gaps.Add(1)
			write(TypeDebug, []byte("message "+strconv.FormatUint(seq, 10)+" is not held (a gap): log in again after it"))
			flush()
			log.Warn().Uint64("seq", seq).Msg("message not held: disconnected")
			return
		}
		// Not yet: send what is buffered, then wait.
		if !flush() {
			return
		}
		select {
		case <-changed:
			continue
		case <-done:
			return
		case <-s.closed:
			return
		case <-hb.C:
			if quiet := time.Since(lastSent); quiet < s.cfg.Heartbeat {
				hb.Reset(s.cfg.Heartbeat - quiet) // something was sent since
				continue
			}
			write(TypeHeartbeat, nil)
			s.heartbeats.Add(1)
			if !flush() {
				return
			}
			hb.Reset(s.cfg.Heartbeat)
		}
	}
}

// dropRead counts why a read ended the connection.
func (s *Server) dropRead(log zerolog.Logger, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, ErrMalformed):
		s.malformed.Add(1)
		s.slog.Warn().Err(err).Msg("malformed packet")
	case errors.As(err, &ne) && ne.Timeout():
		s.idle.Add(1)
		log.Info().Msg("client idle: disconnected")
	default:
		log.Info().Err(err).Msg("disconnected")
	}
}

// reject sends a Login Rejected packet with reason.
func (s *Server) reject(conn net.Conn, w *bufio.Writer, reason byte) {
	conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	w.Write([]byte{0, 2, TypeLoginRejected, reason})
	w.Flush()
}
