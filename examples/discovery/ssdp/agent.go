package ssdp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// Port is the SSDP port (UDA 2.0 section 1.1.2).
const Port = 1900

// GroupIPv4 and GroupIPv6 are the SSDP groups: 239.255.255.250 and the
// link-local ff02::c (UDA 2.0 section 1.1.2; the agent joins only the
// link-local scope of IPv6).
var (
	GroupIPv4 = netip.MustParseAddr("239.255.255.250")
	GroupIPv6 = netip.MustParseAddr("ff02::c")
)

// Host headers of the two groups.
const (
	HostIPv4 = "239.255.255.250:1900"
	HostIPv6 = "[FF02::C]:1900"
)

// Config configures [New]. The zero value listens on IPv4 and IPv6 on
// every interface that is up and can do multicast, and fetches
// descriptions with the defaults of [FetchConfig].
type Config struct {
	// Interfaces names the interfaces to listen on (names, indexes or
	// addresses, as package group reads them); empty means "*", every
	// interface that is up and has the MULTICAST flag.
	Interfaces []string

	// NoIPv4 and NoIPv6 turn a family off.
	NoIPv4, NoIPv6 bool

	// SearchFromSharedPort sends searches from the shared socket on port
	// 1900 instead of the agent's own: the trap that the agent exists to
	// avoid. The answers, unicast to port 1900, then reach whichever one
	// socket on the port the kernel picks (on Linux, the last one bound
	// with SO_REUSEADDR), seldom this one. For demonstrations and tests.
	SearchFromSharedPort bool

	// OnChange, if set, is called for every change to the table, in
	// order, one call at a time, with the Agent's lock held: it must not
	// call Devices or Stats.
	OnChange func(Change)

	// Table holds the limits of the table; Fetch configures the fetching
	// of descriptions. Their zero values mean the defaults.
	Table TableConfig
	Fetch FetchConfig

	// Logger receives the Agent's log events: joins, malformed messages
	// (sampled), send errors. The zero value logs nothing.
	Logger zerolog.Logger
}

// Stats are an Agent's counters.
type Stats struct {
	// Multicast counts the datagrams received on port 1900, Answers the
	// datagrams received on the agent's own search sockets (the unicast
	// answers to its searches).
	Multicast, Answers uint64
	// AnswersOnSharedPort counts the search responses (HTTP/1.1 200)
	// that arrived on port 1900: answers to a search sent from that
	// port, which the kernel gave to this socket of the several on it.
	AnswersOnSharedPort uint64
	// Truncated counts the datagrams longer than MaxMessage, dropped
	// unread; KernelDrops those the kernel dropped for want of room in a
	// socket's receive buffer.
	Truncated, KernelDrops uint64
	// Notifies and Searches count the NOTIFYs and the M-SEARCHes
	// received (those of other control points: the agent's own, looped
	// back from its search sockets, are not counted).
	Notifies, Searches uint64
	// Malformed counts the datagrams that did not parse; the other
	// counters below say which rule each broke.
	Malformed                                                   uint64
	NoLineEnd, BadStartLine, BadHeader, TooManyHeaders, TooLong uint64
	// Fetches counts the descriptions fetched, FetchErrors the fetches
	// that failed (of which LocationsRefused were not tried, TooLarge
	// were cut off at the size limit and FetchTimeouts at the timeout),
	// FetchesDropped those that found the queue full.
	Fetches, FetchErrors, LocationsRefused, TooLarge, FetchTimeouts, FetchesDropped uint64
	// TableStats are the table's sizes and counters.
	TableStats
}

// Agent listens for SSDP on port 1900, shared with the host's other SSDP
// stacks, searches from sockets of its own, and keeps the table of the
// devices announced. Its methods are safe for concurrent use.
type Agent struct {
	cfg    Config
	log    zerolog.Logger
	slog   zerolog.Logger
	shared []*socket
	search []*unicastSource
	srv    *dispatch.Server
	fetch  *fetcher
	msg    Message // the dispatch worker's, one at a time

	mu    sync.Mutex // guards table, st and cs; serialises OnChange
	table *Table
	cs    []Change
	st    Stats

	closeOnce sync.Once
	closeErr  error
}

type socket struct {
	conn *mcast.Conn
	set  *group.Set // nil on a search socket
	v6   bool
	mu   sync.Mutex // serialises sends, which set the interface
}

// New opens the shared sockets on port 1900, joins the SSDP groups on the
// configured interfaces, and opens a search socket of its own per family
// on a port the kernel chooses. A family that fails is an error unless the
// other one works (then it is logged).
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
	fc, err := cfg.Fetch.withDefaults()
	if err != nil {
		return nil, err
	}
	a = &Agent{cfg: *cfg, log: cfg.Logger, table: table}
	a.slog = a.log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second})
	a.fetch = newFetcher(fc, a.described)
	ifaces := cfg.Interfaces
	if len(ifaces) == 0 {
		ifaces = []string{"*"}
	}
	agent := a
	defer func() {
		if err != nil {
			agent.Close()
		}
	}()
	var mux dispatch.Mux
	if err := mux.HandleFunc(dispatch.Pattern{}, a.serve, &dispatch.HandlerConfig{Name: "ssdp", Overflow: dispatch.Block}); err != nil {
		return nil, fmt.Errorf("ssdp: %w", err)
	}
	if a.srv, err = dispatch.NewServer(&mux, &dispatch.Config{Logger: a.log, BufferSize: MaxMessage}); err != nil {
		return nil, fmt.Errorf("ssdp: %w", err)
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
		sh, se, err := a.open(ctx, fam.network, fam.group, ifaces)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.shared, a.search = append(a.shared, sh), append(a.search, se)
		if err := errors.Join(a.srv.AddSource(fam.network, sh.conn), a.srv.AddSource("search-"+fam.network, se)); err != nil {
			return nil, fmt.Errorf("ssdp: %w", err)
		}
	}
	if len(a.shared) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, e := range errs {
		a.log.Warn().Err(e).Msg("one address family not joined")
	}
	return a, nil
}

// open opens the family's shared socket on port 1900, joins g on each of
// ifaces (going on without those that refuse), and opens the search
// socket.
func (a *Agent) open(ctx context.Context, network string, g netip.Addr, ifaces []string) (sh *socket, se *unicastSource, err error) {
	// AcceptUnicast: answers to a search sent from port 1900 (by this
	// agent with SearchFromSharedPort, or by another program) that the
	// kernel gives this socket are counted, not filtered.
	conn, err := mcast.Listen(ctx, network, fmt.Sprintf(":%d", Port), &mcast.Config{Logger: a.log, AcceptUnicast: true})
	if err != nil {
		return nil, nil, fmt.Errorf("ssdp: %w", err)
	}
	set, err := group.New(conn, &group.Config{Logger: a.log})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssdp: %w", err)
	}
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
		errs = append(errs, fmt.Errorf("ssdp: %s joined on no interface", g))
		return nil, nil, errors.Join(errs...)
	}
	for _, e := range errs {
		a.log.Warn().Err(e).Msg("join failed")
	}
	sh = &socket{conn: conn, set: set, v6: g.Is6()}
	// The search socket: a port of its own, so that the unicast answers
	// to its searches come to it and to nobody else.
	if se, err = listenUnicast(network); err != nil {
		set.Close()
		conn.Close()
		return nil, nil, fmt.Errorf("ssdp: search socket: %w", err)
	}
	for _, uc := range []*net.UDPConn{conn.UDPConn(), se.uc} {
		if err := sendOptions(uc, sh.v6); err != nil {
			// Only searches need these; receiving works without them.
			a.log.Warn().Err(err).Str("network", network).Msg("multicast send options")
		}
	}
	return sh, se, nil
}

// sendOptions sets the TTL of searches to 2, UDA 2.0's default, and
// loops them back, so that the host's own devices see them.
func sendOptions(uc *net.UDPConn, v6 bool) error {
	if v6 {
		p := ipv6.NewPacketConn(uc)
		return errors.Join(p.SetMulticastHopLimit(2), p.SetMulticastLoopback(true))
	}
	p := ipv4.NewPacketConn(uc)
	return errors.Join(p.SetMulticastTTL(2), p.SetMulticastLoopback(true))
}

// Memberships lists where the Agent is joined.
func (a *Agent) Memberships() []group.Membership {
	var out []group.Membership
	for _, s := range a.shared {
		out = append(out, s.set.List()...)
	}
	return out
}

// SearchAddrs returns the local addresses of the search sockets.
func (a *Agent) SearchAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range a.search {
		out = append(out, s.local)
	}
	return out
}

// serve is the dispatch handler: one worker, so calls do not overlap.
func (a *Agent) serve(_ context.Context, d *dispatch.Datagram) {
	own := strings.HasPrefix(d.Socket, "search-")
	m := &a.msg
	err := Parse(m, d.Payload)
	src := d.Source.Addr().WithZone("").Unmap()
	a.mu.Lock()
	defer a.mu.Unlock()
	if own {
		a.st.Answers++
	} else {
		a.st.Multicast++
	}
	if err != nil {
		a.countMalformed(err)
		a.slog.Warn().Stringer("source", d.Source).Int("len", len(d.Payload)).Err(err).Msg("malformed SSDP message")
		return
	}
	switch m.Kind {
	case Notify:
		a.st.Notifies++
	case Search:
		if !a.ownSearch(d.Source) {
			a.st.Searches++
		}
		return
	case Response:
		if !own {
			a.st.AnswersOnSharedPort++
		}
	}
	var f Fetch
	var ok bool
	a.cs, f, ok = a.table.Update(a.cs[:0], m, src, d.Time)
	a.emit()
	if ok && !a.fetch.cfg.Disable && !a.fetch.enqueue(f) {
		a.st.FetchesDropped++
		a.slog.Warn().Str("location", f.Location).Msg("description fetch queue full; dropped")
	}
}

// ownSearch reports whether a search came from one of the agent's search
// sockets (looped back), by its source port.
func (a *Agent) ownSearch(src netip.AddrPort) bool {
	for _, s := range a.search {
		if s.local.Port() == src.Port() {
			return true
		}
	}
	return false
}

func (a *Agent) countMalformed(err error) {
	a.st.Malformed++
	switch {
	case errors.Is(err, ErrNoLineEnd):
		a.st.NoLineEnd++
	case errors.Is(err, ErrStartLine):
		a.st.BadStartLine++
	case errors.Is(err, ErrHeaderLine):
		a.st.BadHeader++
	case errors.Is(err, ErrTooManyHeaders):
		a.st.TooManyHeaders++
	case errors.Is(err, ErrLineTooLong), errors.Is(err, ErrTooLarge):
		a.st.TooLong++
	}
}

// described is the fetcher's callback.
func (a *Agent) described(f Fetch, d *Description, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err == nil:
		a.st.Fetches++
	default:
		a.st.FetchErrors++
		if errors.Is(err, ErrLocationRefused) {
			a.st.LocationsRefused++
		}
		if errors.Is(err, ErrDescriptionTooLarge) {
			a.st.TooLarge++
		}
		if errors.Is(err, ErrFetchTimeout) {
			a.st.FetchTimeouts++
		}
		a.slog.Info().Err(err).Str("uuid", f.UUID).Msg("description")
	}
	a.cs = a.table.Describe(a.cs[:0], f, d, err, time.Now())
	a.emit()
}

// emit passes a.cs to OnChange; a.mu is held.
func (a *Agent) emit() {
	if a.cfg.OnChange == nil {
		return
	}
	for _, c := range a.cs {
		a.cfg.OnChange(c)
	}
}

// Run reads the sockets, fetches descriptions and expires announcements
// until ctx ends or Close is called. It returns nil after Close and ctx's
// error when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.fetch.run(bg)
	}()
	go func() {
		defer wg.Done()
		a.expireLoop(bg)
	}()
	err := a.srv.Serve(ctx)
	cancel()
	wg.Wait()
	return err
}

// expireLoop expires announcements every second.
func (a *Agent) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.mu.Lock()
			a.cs = a.table.Expire(a.cs[:0], now)
			a.emit()
			a.mu.Unlock()
		}
	}
}

// Devices returns the table, sorted by UUID.
func (a *Agent) Devices() []Device {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.table.Devices()
}

// Stats returns the Agent's counters.
func (a *Agent) Stats() Stats {
	var sockets []dispatch.SocketStats
	if a.srv != nil {
		sockets = a.srv.Stats().Sockets
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	st.TableStats = a.table.Stats()
	for _, s := range a.search {
		st.Truncated += s.truncated.Load()
	}
	for _, s := range sockets {
		if s.Kernel != nil {
			st.Truncated += s.Kernel.Truncated
			st.KernelDrops += s.Kernel.KernelDrops
		}
	}
	return st
}

// Search sends an M-SEARCH for st (SearchAll, "upnp:rootdevice", a
// "uuid:...", or a device or service type "urn:...") with MX mx seconds
// (clamped to 1..5) to the SSDP group of each family on each interface
// the Agent is joined on, from the Agent's own search socket (or the
// shared one, with Config.SearchFromSharedPort), and returns how many
// were sent. The answers come by unicast to the socket it was sent from.
func (a *Agent) Search(st string, mx int) (int, error) {
	if st == "" || strings.ContainsAny(st, "\r\n") || len(st) > MaxLine-4 {
		return 0, fmt.Errorf("%w: search target %q", ErrInvalidConfig, st)
	}
	mx = min(max(mx, 1), 5)
	var errs []error
	var sent int
	for i, sh := range a.shared {
		from := a.search[i].uc
		if a.cfg.SearchFromSharedPort {
			from = sh.conn.UDPConn()
		}
		host := HostIPv4
		if sh.v6 {
			host = HostIPv6
		}
		b := AppendSearch(nil, host, st, mx)
		for _, mem := range sh.set.List() {
			if mem.IfIndex == 0 {
				continue
			}
			if err := sh.send(from, b, mem.Spec.Group, mem.IfIndex); err != nil {
				errs = append(errs, fmt.Errorf("ssdp: search on %s: %w", mem.IfName, err))
				continue
			}
			sent++
		}
	}
	if sent == 0 {
		errs = append(errs, errors.New("ssdp: search sent on no interface"))
		return 0, errors.Join(errs...)
	}
	for _, e := range errs {
		a.log.Warn().Err(e).Msg("search")
	}
	return sent, nil
}

// send sends b to g:1900 out of interface ifIndex, from uc (s's own
// socket or the search socket of its family).
func (s *socket) send(uc *net.UDPConn, b []byte, g netip.Addr, ifIndex int) error {
	ifi, err := net.InterfaceByIndex(ifIndex)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dst := &net.UDPAddr{IP: g.AsSlice(), Port: Port}
	if s.v6 {
		p := ipv6.NewPacketConn(uc)
		if err := p.SetMulticastInterface(ifi); err != nil {
			return err
		}
		dst.Zone = ifi.Name
		_, err = p.WriteTo(b, nil, dst)
		return err
	}
	p := ipv4.NewPacketConn(uc)
	if err := p.SetMulticastInterface(ifi); err != nil {
		return err
	}
	_, err = p.WriteTo(b, nil, dst)
	return err
}

// Shutdown stops reading and waits, bounded by ctx, for the queued
// datagrams to be handled.
func (a *Agent) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// Close stops the Agent, leaves the groups and closes the sockets. It is
// idempotent.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.srv != nil {
			if err := a.srv.Close(); err != nil && !errors.Is(err, dispatch.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		for _, s := range a.shared {
			errs = append(errs, s.set.Close(), s.conn.Close())
		}
		for _, s := range a.search {
			errs = append(errs, s.uc.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
