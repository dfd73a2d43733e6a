package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// DefaultShutdownTimeout is how long a Receiver lets its handlers work
// through their queues once its context ends, when
// ListenConfig.ShutdownTimeout is 0.
const DefaultShutdownTimeout = 5 * time.Second

// ListenConfig configures Listen and ListenAndServe. The zero value, as a
// nil *ListenConfig, means the defaults that each field documents.
type ListenConfig struct {
	// Share says with whom each socket shares its port; the zero value is
	// mcast.ShareAnyUser (see mcast.Config.Share).
	Share mcast.Share

	// ReadBuffer is the receive buffer to ask for on each socket, in
	// bytes; 0 means mcast.DefaultReadBuffer, and a negative value keeps
	// the kernel's default (see mcast.Config.ReadBuffer).
	ReadBuffer int

	// Interfaces are where to join a spec that names no interface of its
	// own: each is what may follow "%" in a spec (a name, an index, an
	// address, or "*" for every interface that is up and
	// multicast-capable), and the spec is joined on each. Empty means the
	// kernel's choice, by its routing table. A spec's own %IFACE wins.
	Interfaces []string

	// Handler configures the queue of the handler given to Listen when it
	// is not a *Mux (a Mux's handlers carry their own); nil means the
	// defaults of HandlerConfig.
	Handler *HandlerConfig

	// BatchSize and BufferSize configure the Server, as Config's fields
	// of the same names do; 0 means their defaults.
	BatchSize  int
	BufferSize int

	// ShutdownTimeout bounds how long Receiver.Serve (and so
	// ListenAndServe) lets the handlers work through their queues once its
	// context ends; what is left then is dropped and counted
	// (Drops.Shutdown). 0 means DefaultShutdownTimeout; a negative value
	// stops at once, dropping what is queued.
	ShutdownTimeout time.Duration

	// NoWatch turns off the link watcher that joins the groups again when
	// an interface comes back (see group.Config.NoWatch).
	NoWatch bool

	// Logger receives the log events of the sockets, the memberships and
	// the Server. The zero value logs nothing.
	Logger zerolog.Logger
}

// ReceiverSocket is one socket of a Receiver: one family and port, and the
// memberships joined on it.
type ReceiverSocket struct {
	// Name names the socket in Stats and Datagram.Socket: the family and
	// the port, as "udp4:5000" or "udp6:5353".
	Name string
	// Conn is the socket. The Receiver reads it; use it for what it does
	// not do (sending, socket options), never to read.
	Conn *mcast.Conn
	// Set holds its memberships; Join and Leave on it change them while
	// the Receiver serves.
	Set *group.Set
	// Specs are the memberships that Listen joined on it, one for each
	// spec and each of ListenConfig.Interfaces that applied.
	Specs []group.Spec
}

// Receiver is what Listen opened: one shared socket per family and port of
// its group specs, each joined to its groups (and joined again after a link
// comes back, on Linux), and a Server that reads them into a Handler. Its
// methods are safe for concurrent use.
type Receiver struct {
	socks   []ReceiverSocket
	srv     *Server
	timeout time.Duration

	closeOnce sync.Once
	closeErr  error
}

// ListenAndServe receives the groups that specs name and serves h with
// their datagrams until ctx ends, then lets the handlers drain their queues
// (bounded by ListenConfig.ShutdownTimeout), leaves the groups, closes the
// sockets and returns the final Stats. It is the one call for the common
// case:
//
//	st, err := dispatch.ListenAndServe(ctx, []string{"239.1.2.3:5000%eth0"}, h, nil)
//
// specs are group specs as package group parses them ("239.1.2.3:5000",
// "[ff15::1]:5000%eth0", "232.1.1.1:5000@10.0.0.1"); h is a Handler, or a
// *Mux that routes to several. It returns nil when ctx ended and the queues
// drained; a *ShutdownError when the timeout cut the draining short; and
// otherwise the error that stopped it (see Listen and Receiver.Serve). The
// Stats are valid in every case but a failed Listen.
func ListenAndServe(ctx context.Context, specs []string, h Handler, cfg *ListenConfig) (Stats, error) {
	r, err := Listen(ctx, specs, h, cfg)
	if err != nil {
		return Stats{}, err
	}
	err = r.Serve(ctx)
	st := r.Stats()
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// Listen opens the sockets of specs and joins their groups, ready to serve h
// (see ListenAndServe, which also serves). Specs of one family and port
// share a socket, opened as cfg says; each spec is joined on its own
// interface, on each of cfg.Interfaces, or where the kernel chooses.
//
// Errors name what was wrong and wrap the sentinel errors of package group
// (ErrBadSpec for a spec or an interface text that does not parse,
// ErrNoInterface, ErrInterfaceDown, ErrMembershipLimit...) or of package
// mcast (ErrPortInUse, ErrAccessDenied, ErrNotSupported), so that
// errors.Is matches them; a socket that could not be opened is reported as a
// *ListenError that says which port. On error, whatever was opened is closed.
func Listen(ctx context.Context, specs []string, h Handler, cfg *ListenConfig) (_ *Receiver, err error) {
	if cfg == nil {
		cfg = &ListenConfig{}
	}
	if h == nil {
		return nil, fmt.Errorf("dispatch: listen: no handler: %w", ErrInvalidConfig)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("dispatch: listen: no group spec: %w", ErrInvalidConfig)
	}
	parsed := make([]group.Spec, len(specs))
	for i, s := range specs {
		if parsed[i], err = group.ParseSpec(s); err != nil {
			return nil, err
		}
	}
	for _, name := range cfg.Interfaces {
		if _, err := group.LookupInterfaces(name); err != nil {
			return nil, err
		}
	}
	mux, ok := h.(*Mux)
	if !ok {
		mux = &Mux{}
		if err := mux.Handle(Pattern{}, h, cfg.Handler); err != nil {
			return nil, err
		}
	}
	r := &Receiver{timeout: cfg.ShutdownTimeout}
	if r.timeout == 0 {
		r.timeout = DefaultShutdownTimeout
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := r.open(ctx, parsed, cfg); err != nil {
		return nil, err
	}
	if r.srv, err = NewServer(mux, &Config{BatchSize: cfg.BatchSize, BufferSize: cfg.BufferSize, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	for _, s := range r.socks {
		if err := r.srv.AddSource(s.Name, s.Conn); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// open opens a socket per family and port of specs and joins each spec.
func (r *Receiver) open(ctx context.Context, specs []group.Spec, cfg *ListenConfig) error {
	index := map[string]int{}
	for _, sp := range specs {
		network := "udp4"
		if sp.Group.Is6() {
			network = "udp6"
		}
		port := strconv.Itoa(int(sp.Port))
		name := network + ":" + port
		i, ok := index[name]
		if !ok {
			c, err := mcast.Listen(ctx, network, ":"+port, &mcast.Config{Share: cfg.Share, ReadBuffer: cfg.ReadBuffer, Logger: cfg.Logger})
			if err != nil {
				return &ListenError{Network: network, Port: sp.Port, Err: err}
			}
			set, err := group.New(c, &group.Config{Logger: cfg.Logger, NoWatch: cfg.NoWatch})
			if err != nil {
				c.Close()
				return err
			}
			i = len(r.socks)
			index[name] = i
			r.socks = append(r.socks, ReceiverSocket{Name: name, Conn: c, Set: set})
		}
		s := &r.socks[i]
		joins := []group.Spec{sp}
		if sp.Interface == "" && len(cfg.Interfaces) > 0 {
			joins = joins[:0]
			for _, ifname := range cfg.Interfaces {
				j := sp
				j.Interface = ifname
				joins = append(joins, j)
			}
		}
		for _, j := range joins {
			if err := s.Set.Join(j); err != nil {
				return err
			}
			s.Specs = append(s.Specs, j)
		}
	}
	return nil
}

// Serve reads the sockets into the handlers until ctx ends, then stops
// reading and lets the handlers work through their queues, for at most
// ListenConfig.ShutdownTimeout, and returns. It returns nil when ctx ended
// (or Shutdown or Close was called) and the queues drained; a
// *ShutdownError when the timeout cut the draining short (the rest is
// counted as Drops.Shutdown); and the error of a socket that failed
// otherwise. The handlers' context carries ctx's values. Serve does not
// close the sockets: Close does. Serve may be called once.
func (r *Receiver) Serve(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(context.WithoutCancel(ctx)) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	err := r.shutdown()
	if serr := <-served; serr != nil && !errors.Is(serr, ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// shutdown drains the queues within the Receiver's timeout.
func (r *Receiver) shutdown() error {
	if r.timeout < 0 {
		return r.srv.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	return r.srv.Shutdown(sctx)
}

// Shutdown stops reading and lets the handlers work through their queues,
// bounded by ctx, as Server.Shutdown does; Serve then returns.
func (r *Receiver) Shutdown(ctx context.Context) error { return r.srv.Shutdown(ctx) }

// Close stops the Server at once (see Server.Close), leaves every group and
// closes the sockets. It is idempotent: later calls return what the first
// returned.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		var errs []error
		if r.srv != nil {
			errs = append(errs, r.srv.Close())
		}
		for _, s := range r.socks {
			errs = append(errs, s.Set.Close(), s.Conn.Close())
		}
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// Stats returns the Server's counters (see Server.Stats); safe to call at
// any time.
func (r *Receiver) Stats() Stats { return r.srv.Stats() }

// Server returns the Server that reads the sockets, for AddSource and the
// rest of its API.
func (r *Receiver) Server() *Server { return r.srv }

// Sockets returns the Receiver's sockets, in the order of the specs that
// opened them. The slice is a copy; the sockets are the Receiver's.
func (r *Receiver) Sockets() []ReceiverSocket {
	out := make([]ReceiverSocket, len(r.socks))
	copy(out, r.socks)
	return out
}

// ListenError reports a socket that Listen could not open: which family and
// port. It wraps mcast's error (errors.Is(err, mcast.ErrPortInUse), ...), and
// its message is that error's, which names the port already.
type ListenError struct {
	Network string // "udp4" or "udp6"
	Port    uint16
	Err     error
}

func (e *ListenError) Error() string { return e.Err.Error() }

// Unwrap returns the error of mcast.Listen.
func (e *ListenError) Unwrap() error { return e.Err }
