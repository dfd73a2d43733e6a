package mdns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// Port is the mDNS port (RFC 6762 section 3).
const Port = 5353

// GroupIPv4 and GroupIPv6 are the mDNS groups (RFC 6762 section 3).
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.251")
	GroupIPv6 = netip.MustParseAddr("ff02::fb")
)

// ErrInvalidConfig reports a bad Config.
var ErrInvalidConfig = errors.New("mdns: invalid configuration")

// Config configures [New]. The zero value listens on IPv4 and IPv6 on
// every interface that is up and can do multicast.
type Config struct {
	// Interfaces names the interfaces to listen on (names, indexes or
	// addresses, as package group reads them); empty means "*", every
	// interface that is up and has the MULTICAST flag.
	Interfaces []string

	// NoIPv4 and NoIPv6 turn a family off.
	NoIPv4, NoIPv6 bool

	// OnChange, if set, is called for every change to the table, in
	// order, one call at a time, with the Agent's lock held: it must not
	// call Services or Stats.
	OnChange func(Change)

	// Table holds the limits of the Agent's table of records; its zero
	// value means the defaults (see [TableConfig]).
	Table TableConfig

	// Logger receives the Agent's log events: joins, malformed packets
	// (sampled), send errors. The zero value logs nothing.
	Logger zerolog.Logger
}

// Agent listens for mDNS responses on port 5353, shared with any other
// mDNS stack on the host, and keeps the table of the services announced.
// Its methods are safe for concurrent use.
type Agent struct {
	cfg   Config
	log   zerolog.Logger
	slog  zerolog.Logger
	socks []*socket
	srv   *dispatch.Server

	mu    sync.Mutex // guards table and serialises OnChange
	table *Table

	statsMu                                sync.Mutex
	packets, malformed, queries, wrongPort uint64

	pubMu   sync.Mutex
	pub     *publisher   // the service published, if any
	lastPub PublishStats // the counters of the last one withdrawn

	closeOnce sync.Once
	closeErr  error
}

type socket struct {
	conn  *mcast.Conn
	set   *group.Set
	group netip.Addr
	v6    bool
	mu    sync.Mutex // serialises sends, which set the interface
}

// New opens the sockets on port 5353 and joins the mDNS groups on the
// configured interfaces. A family whose join fails on every interface is
// an error unless the other family joined (then it is logged).
func New(ctx context.Context, cfg *Config) (a *Agent, err error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.NoIPv4 && cfg.NoIPv6 {
		return nil, fmt.Errorf("%w: both IPv4 and IPv6 turned off", ErrInvalidConfig)
	}
	table, err := NewTable(&cfg.Table)
	if err != nil {
		return nil, err
	}
	a = &Agent{cfg: *cfg, log: cfg.Logger, table: table}
	a.slog = a.log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second})
	ifaces := cfg.Interfaces
	if len(ifaces) == 0 {
		ifaces = []string{"*"}
	}
	agent := a // a is nil once an error is returned
	defer func() {
		if err != nil {
			agent.Close()
		}
	}()
	var mux dispatch.Mux
	if err := mux.HandleFunc(dispatch.Pattern{Port: Port}, a.serve, &dispatch.HandlerConfig{Name: "mdns", Overflow: dispatch.Block}); err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	a.srv, err = dispatch.NewServer(&mux, &dispatch.Config{Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	var errs []error
	for _, fam := range []struct {
		network string
		group   netip.Addr
		off     bool
	}{{"udp4", GroupIPv4, cfg.NoIPv4}, {"udp6", GroupIPv6, cfg.NoIPv6}} {
		if fam.off {
			continue
		}
		s, err := a.open(ctx, fam.network, fam.group, ifaces)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.socks = append(a.socks, s)
		if err := a.srv.AddSource(fam.network, s.conn); err != nil {
			return nil, fmt.Errorf("mdns: %w", err)
		}
	}
	if len(a.socks) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, e := range errs {
		a.log.Warn().Err(e).Msg("one address family not joined")
	}
	return a, nil
}

// open opens the family's socket on port 5353 and joins g on each of
// ifaces. It does not use dispatch.Listen, which joins all or nothing: an
// mDNS agent joins on every interface it can and goes on without the ones
// that refuse (an interface with no address of the family, say), logging
// them, and it sends its queries out of this same socket, interface by
// interface, so that answers to port 5353 reach every agent on the host.
func (a *Agent) open(ctx context.Context, network string, g netip.Addr, ifaces []string) (*socket, error) {
	conn, err := mcast.Listen(ctx, network, fmt.Sprintf(":%d", Port), &mcast.Config{Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	set, err := group.New(conn, &group.Config{Logger: a.log})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mdns: %w", err)
	}
	s := &socket{conn: conn, set: set, group: g, v6: g.Is6()}
	var errs []error
	for _, ifi := range ifaces {
		spec := group.Spec{Group: g, Port: Port, Interface: ifi}
		if err := set.Join(spec); err != nil {
			errs = append(errs, err)
			continue
		}
		a.log.Info().Stringer("spec", spec).Msg("joined")
	}
	if len(set.List()) == 0 {
		set.Close()
		conn.Close()
		errs = append(errs, fmt.Errorf("mdns: %s joined on no interface", g))
		return nil, errors.Join(errs...)
	}
	for _, e := range errs {
		a.log.Warn().Err(e).Msg("join failed")
	}
	if s.v6 {
		p := ipv6.NewPacketConn(conn.UDPConn())
		err = errors.Join(p.SetMulticastHopLimit(255), p.SetHopLimit(255), p.SetMulticastLoopback(true))
	} else {
		p := ipv4.NewPacketConn(conn.UDPConn())
		err = errors.Join(p.SetMulticastTTL(255), p.SetTTL(255), p.SetMulticastLoopback(true))
	}
	if err != nil {
		// Only queries and answers need these; receiving works without
		// them. TTL 255 on unicast too: receivers check it (RFC 6762
		// section 11).
		a.log.Warn().Err(err).Str("network", network).Msg("multicast send options")
	}
	return s, nil
}

// Memberships lists where the Agent is joined.
func (a *Agent) Memberships() []group.Membership {
	var out []group.Membership
	for _, s := range a.socks {
		out = append(out, s.set.List()...)
	}
	return out
}

// serve is the dispatch handler: one worker, so calls do not overlap.
func (a *Agent) serve(_ context.Context, d *dispatch.Datagram) {
	// A response (the QR bit, RFC 1035 section 4.1.1) whose source port is
	// not 5353 is not a multicast DNS response (RFC 6762 section 6): it is
	// dropped before it is parsed.
	if p := d.Payload; len(p) >= 12 && p[2]&0x80 != 0 && d.Source.Port() != Port {
		a.statsMu.Lock()
		a.packets++
		a.wrongPort++
		a.statsMu.Unlock()
		a.slog.Debug().Stringer("source", d.Source).Msg("mDNS response not from port 5353 dropped")
		return
	}
	var m dns.Msg
	err := m.Unpack(d.Payload)
	a.statsMu.Lock()
	a.packets++
	switch {
	case err != nil:
		a.malformed++
	case !m.Response:
		a.queries++
	}
	a.statsMu.Unlock()
	if err != nil {
		a.slog.Warn().Stringer("source", d.Source).Int("len", len(d.Payload)).Err(err).Msg("malformed mDNS packet")
		return
	}
	if m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		return // RFC 6762 section 18 has receivers ignore the rest
	}
	a.pubMu.Lock()
	pb := a.pub
	a.pubMu.Unlock()
	if !m.Response {
		if pb != nil {
			pb.handleQuery(&m, d)
		}
		return
	}
	if pb != nil {
		pb.handleResponse(&m, d.IfIndex)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.emit(a.table.Update(&m, d.Time))
}

func (a *Agent) emit(cs []Change) {
	if a.cfg.OnChange == nil {
		return
	}
	for _, c := range cs {
		a.cfg.OnChange(c)
	}
}

// Run reads the sockets until ctx ends or Close is called, expiring
// records as their TTLs run out. It returns nil after Close and ctx's
// error when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	done := make(chan struct{})
	expired := make(chan struct{})
	go func() {
		defer close(expired)
		a.expireLoop(done)
	}()
	err := a.srv.Serve(ctx)
	close(done)
	<-expired
	return err
}

// expireLoop expires records at the earliest expiry, and at least every
// second.
func (a *Agent) expireLoop(done <-chan struct{}) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		a.mu.Lock()
		now := time.Now()
		a.emit(a.table.Expire(now))
		wait := time.Second
		if next := a.table.NextExpiry(); !next.IsZero() && next.Sub(now) < wait {
			wait = max(next.Sub(now), 10*time.Millisecond)
		}
		a.mu.Unlock()
		t.Reset(wait)
	}
}

// Services returns the table: every service announced and not expired,
// sorted by type and name.
func (a *Agent) Services() []Service {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.table.Services()
}

// Stats are the Agent's counters.
type Stats struct {
	// Packets counts the mDNS packets received, Malformed those that did
	// not parse, Queries the queries (from others, or looped back).
	Packets, Malformed, Queries uint64
	// WrongPort counts the responses dropped because their source port
	// was not 5353 (RFC 6762 section 6: they are not multicast DNS
	// responses).
	WrongPort uint64
	// TableStats are the table's sizes (Services is the number of services
	// in the table) and the counters of what its limits evicted, clamped,
	// dropped and refused.
	TableStats
}

// Stats returns the Agent's counters.
func (a *Agent) Stats() Stats {
	a.statsMu.Lock()
	st := Stats{Packets: a.packets, Malformed: a.malformed, Queries: a.queries, WrongPort: a.wrongPort}
	a.statsMu.Unlock()
	a.mu.Lock()
	st.TableStats = a.table.Stats()
	a.mu.Unlock()
	return st
}

// Query sends a query for the instances of a service type ("_ipp._tcp",
// or a full name such as "_ipp._tcp.local.") to the mDNS group of each
// family, on each interface the Agent is joined on, from port 5353, so
// that responders answer by multicast (RFC 6762 section 5.2) and every
// listener, this Agent included, learns the answers.
func (a *Agent) Query(typ string) error {
	b, err := queryMsg(typ, 0)
	if err != nil {
		return err
	}
	var errs []error
	var sent int
	for _, s := range a.socks {
		for _, mem := range s.set.List() {
			if mem.IfIndex == 0 {
				continue
			}
			if err := s.send(b, mem.IfIndex); err != nil {
				errs = append(errs, fmt.Errorf("mdns: query on %s: %w", mem.IfName, err))
				continue
			}
			sent++
		}
	}
	if sent == 0 {
		errs = append(errs, errors.New("mdns: query sent on no interface"))
		return errors.Join(errs...)
	}
	for _, e := range errs {
		a.log.Warn().Err(e).Msg("query")
	}
	return nil
}

// queryMsg packs a PTR query for the instances of typ, with ID id.
func queryMsg(typ string, id uint16) ([]byte, error) {
	name := typ
	if !strings.HasSuffix(name, ".") {
		if _, _, ok := serviceType(name + ".local."); ok {
			name += ".local."
		} else {
			name += "."
		}
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("mdns: query: bad name %q", typ)
	}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypePTR)
	m.Id = id
	m.RecursionDesired = false
	b, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("mdns: query: %w", err)
	}
	return b, nil
}

// QueryOneShot sends a one-shot query (RFC 6762 section 5.1) for the
// instances of typ from a socket of its own, on a port the kernel
// chooses, to the mDNS group of each family on each interface the Agent
// is joined on. Responders answer such a query by unicast to that port
// (section 6.7), so the answers reach this socket and no other program
// on port 5353; they are fed into the table (and OnChange) until ctx
// ends. It returns how many answers came.
func (a *Agent) QueryOneShot(ctx context.Context, typ string) (int, error) {
	id := uint16(rand.Uint32())
	b, err := queryMsg(typ, id)
	if err != nil {
		return 0, err
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers int
		errs    []error
	)
	for _, s := range a.socks {
		network := "udp4"
		if s.v6 {
			network = "udp6"
		}
		uc, err := net.ListenUDP(network, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("mdns: one-shot query: %w", err))
			continue
		}
		sent := 0
		for _, mem := range s.set.List() {
			if mem.IfIndex == 0 {
				continue
			}
			if err := s.sendFrom(uc, b, mem.IfIndex); err != nil {
				errs = append(errs, fmt.Errorf("mdns: one-shot query on %s: %w", mem.IfName, err))
				continue
			}
			sent++
		}
		if sent == 0 {
			uc.Close()
			continue
		}
		wg.Add(2)
		stop := make(chan struct{})
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
			case <-stop:
			}
			uc.Close()
		}()
		go func() {
			defer wg.Done()
			defer close(stop)
			buf := make([]byte, 9000)
			for {
				n, src, err := uc.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				var m dns.Msg
				err = m.Unpack(buf[:n])
				a.statsMu.Lock()
				a.packets++
				switch {
				case src.Port() != Port:
					a.wrongPort++
				case err != nil:
					a.malformed++
				}
				a.statsMu.Unlock()
				if src.Port() != Port || err != nil || !m.Response || m.Id != id {
					continue
				}
				mu.Lock()
				answers++
				mu.Unlock()
				a.mu.Lock()
				a.emit(a.table.Update(&m, time.Now()))
				a.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 && answers == 0 {
		return 0, errors.Join(errs...)
	}
	return answers, nil
}

// send sends b to the socket's group out of interface ifIndex.
func (s *socket) send(b []byte, ifIndex int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendFrom(s.conn.UDPConn(), b, ifIndex)
}

// sendFrom sends b from uc to the socket's group out of interface
// ifIndex, with TTL (hop limit) 255.
func (s *socket) sendFrom(uc *net.UDPConn, b []byte, ifIndex int) error {
	ifi, err := net.InterfaceByIndex(ifIndex)
	if err != nil {
		return err
	}
	dst := &net.UDPAddr{IP: s.group.AsSlice(), Port: Port}
	if s.v6 {
		p := ipv6.NewPacketConn(uc)
		if err := p.SetMulticastHopLimit(255); err != nil {
			return err
		}
		if err := p.SetMulticastInterface(ifi); err != nil {
			return err
		}
		dst.Zone = ifi.Name
		_, err = p.WriteTo(b, nil, dst)
		return err
	}
	p := ipv4.NewPacketConn(uc)
	if err := p.SetMulticastTTL(255); err != nil {
		return err
	}
	if err := p.SetMulticastInterface(ifi); err != nil {
		return err
	}
	_, err = p.WriteTo(b, nil, dst)
	return err
}

// Shutdown stops reading and waits, bounded by ctx, for the queued
// packets to be handled.
func (a *Agent) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// Close stops the Agent: it withdraws the service published, if any
// (goodbyes), stops reading, leaves the groups and closes the sockets. It
// is idempotent.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		// The goodbyes go out before the sockets close.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, a.Unpublish(ctx))
		cancel()
		if a.srv != nil {
			if err := a.srv.Close(); err != nil && !errors.Is(err, dispatch.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		for _, s := range a.socks {
			errs = append(errs, s.set.Close(), s.conn.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
