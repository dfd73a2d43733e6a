package group

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/internal/sockerr"
	"github.com/sharecast/sharecast/mcast"
)

// DefaultSettle is how long the link watcher waits, by default, after a
// link or address event for the events that come with it, before it acts
// on them all at once.
const DefaultSettle = 100 * time.Millisecond

// Config configures [New]. The zero value is ready to use and means the
// defaults that each field documents. New does not modify it.
type Config struct {
	// Logger receives the Set's log events: joins and leaves at debug
	// level, re-joins and lost interfaces at info, failures at warn and
	// error. The zero value logs nothing.
	Logger zerolog.Logger

	// NoWatch turns the link watcher off. By default, on Linux, New
	// subscribes to the kernel's link and address events (netlink) and
	// keeps the memberships right while interfaces come and go; elsewhere
	// there is no watcher and NoWatch changes nothing.
	NoWatch bool

	// Settle is how long the watcher waits after an event for the events
	// that come with it (a link coming up brings several), so that it
	// re-joins once per change. 0 means DefaultSettle.
	Settle time.Duration
}

// Set keeps the group memberships of one socket: it joins and leaves them
// by [Spec], so that joins are idempotent and leaves undo exactly what
// joins did, lists what is joined where, leaves everything on Close, and,
// on Linux, joins again when interfaces come back.
//
// A Set works through the *mcast.Conn it was made with, and is the only
// thing that should join or leave groups on it. Its methods are safe for
// concurrent use.
//
// Interfaces are looked up in the network namespace of the calling thread,
// and the watcher runs in the namespace of the thread that called New;
// programs that use one namespace need not care.
type Set struct {
	be     backend
	ifs    interfaces
	log    zerolog.Logger
	settle time.Duration

	mu      sync.Mutex
	reqs    map[reqKey]*request
	members map[memberKey]*member
	closed  bool

	rejoins, added, lost, failures, events atomic.Uint64

	w         *watcher
	closeOnce sync.Once
	closeErr  error
}

// Stats are the counters of a Set. All but Memberships only grow.
type Stats struct {
	// Memberships is the number of memberships (group, source, interface)
	// that the Set holds in the kernel now.
	Memberships int
	// Rejoins counts memberships joined again by the watcher after their
	// interface came back: up again, given an address again, or created
	// again after it was deleted. It counts every re-join made, also those
	// that found the membership still in place in the kernel.
	Rejoins uint64
	// Added counts memberships of "*" specs joined by the watcher on an
	// interface that came up after the Join.
	Added uint64
	// Lost counts memberships dropped because their interface was deleted
	// (or, for a spec that names an interface, renamed).
	Lost uint64
	// Failures counts what the watcher tried and could not do (a re-join
	// or join that the kernel refused, an interface list it could not read).
	Failures uint64
	// Events counts the link and address events the watcher received.
	Events uint64
}

// Membership is one entry of [Set.List]: a spec that was joined, and one
// interface it is joined on.
type Membership struct {
	// Spec is the spec as joined, its Port the socket's port.
	Spec Spec
	// IfIndex and IfName are the interface the membership is on. Both are
	// zero for the kernel's choice (a spec without an interface) and while
	// Waiting.
	IfIndex int
	IfName  string
	// Waiting reports a spec that has no interface now, because its
	// interface went away; the watcher joins it again when one comes.
	Waiting bool
	// Excluded lists the sources blocked with ExcludeSource, sorted.
	Excluded []netip.Addr
}

// String formats m as the spec followed by where it is joined.
func (m Membership) String() string {
	s := m.Spec.String()
	switch {
	case m.Waiting:
		s += " (waiting for an interface)"
	case m.IfIndex != 0:
		s += fmt.Sprintf(" on %s (index %d)", m.IfName, m.IfIndex)
	}
	for i, a := range m.Excluded {
		if i == 0 {
			s += " excluding "
		} else {
			s += ","
		}
		s += a.String()
	}
	return s
}

// reqKey identifies a request: what Join was asked.
type reqKey struct {
	group, source netip.Addr
	sel           selector
}

// request is one joined spec and where it is joined now.
type request struct {
	key    reqKey
	spec   Spec
	follow selector // what the watcher follows: sel, or for an address the index it resolved to
	on     map[int]string
	excl   map[netip.Addr]struct{}
	lost   map[string]struct{} // names of interfaces lost, for counting their return as a re-join
}

// maxLost bounds request.lost, which would otherwise grow with every
// interface that a "*" spec sees go away.
const maxLost = 256

// memberKey identifies a membership in the kernel.
type memberKey struct {
	group, source netip.Addr
	index         int
}

// member is one kernel membership, shared by the requests that want it.
type member struct {
	refs    int
	ifi     net.Interface      // Index 0 for the kernel's choice
	blocked map[netip.Addr]int // source -> requests that exclude it
}

func (m *member) iface() *net.Interface {
	if m.ifi.Index == 0 {
		return nil
	}
	ifi := m.ifi
	return &ifi
}

// New returns a Set that keeps the memberships of c. A nil cfg means the
// zero Config. On Linux, unless cfg.NoWatch, it starts the link watcher,
// whose netlink sockets belong to the network namespace of the calling
// thread; an error to subscribe is returned.
//
// The Set does not own c: Close leaves the Set's groups but does not close
// c (closing c leaves every group too).
func New(c *mcast.Conn, cfg *Config) (*Set, error) {
	if c == nil {
		return nil, fmt.Errorf("group: new: nil *mcast.Conn: %w", mcast.ErrInvalidConfig)
	}
	return newSet(connBackend{c}, sysInterfaces{}, cfg)
}

func newSet(be backend, ifs interfaces, cfg *Config) (*Set, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	s := &Set{
		be:      be,
		ifs:     ifs,
		log:     cfg.Logger.With().Str("component", "group").Logger(),
		settle:  cfg.Settle,
		reqs:    make(map[reqKey]*request),
		members: make(map[memberKey]*member),
	}
	if s.settle <= 0 {
		s.settle = DefaultSettle
	}
	if !cfg.NoWatch {
		w, err := startWatcher(s)
		if err != nil {
			return nil, fmt.Errorf("group: watch links: %w", err)
		}
		s.w = w
	}
	return s, nil
}

// normalize checks spec for this Set's socket and returns its request key
// and the spec with the socket's port.
func (s *Set) normalize(spec Spec) (reqKey, Spec, error) {
	text := spec.String()
	if err := spec.check(text, false); err != nil {
		return reqKey{}, spec, err
	}
	if spec.Group.Is6() != s.be.ipv6() {
		fam := "IPv4"
		if s.be.ipv6() {
			fam = "IPv6"
		}
		return reqKey{}, spec, &SpecError{Spec: text, Part: "group", Value: spec.Group.String(), Reason: "not of the socket's family, " + fam}
	}
	port := s.be.port()
	if spec.Port != 0 && spec.Port != port {
		return reqKey{}, spec, &SpecError{Spec: text, Part: "port", Value: fmt.Sprint(spec.Port),
			Reason: fmt.Sprintf("the socket is bound to port %d", port)}
	}
	spec.Port = port
	return reqKey{group: spec.Group, source: spec.Source, sel: parseSelector(spec.Interface)}, spec, nil
}

// Join joins spec on the interfaces it selects (see [Spec]): a named,
// indexed or addressed interface, which must exist, be up and have the
// MULTICAST flag ([ErrNoInterface], [ErrInterfaceDown],
// [ErrNotMulticastCapable]); every interface that is up and
// multicast-capable for "*", at least one; or the kernel's choice by its
// routing table when spec has no interface. A spec whose Port is 0 means
// the socket's port; another port than the socket's is refused.
//
// Joining a spec already joined does nothing. A join that fails on one of
// several interfaces is undone on the others. A join past the kernel's
// limit of memberships per socket wraps [ErrMembershipLimit] and names the
// limit (on Linux its sysctl and value).
//
// Source-specific groups join with IGMPv3 and MLDv2 (RFC 4607, 3376,
// 3810): on Linux and the BSDs through x/net; on Windows, for IPv4, with
// IP_ADD_SOURCE_MEMBERSHIP, and for IPv6 not at all ([ErrNotSupported]).
func (s *Set) Join(spec Spec) error {
	key, spec, err := s.normalize(spec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("group: join %s: %w", spec, net.ErrClosed)
	}
	if _, ok := s.reqs[key]; ok {
		return nil
	}
	ifs, err := s.ifs.list()
	if err != nil {
		return fmt.Errorf("group: join %s: list interfaces: %w", spec, err)
	}
	targets, err := resolve(key.sel, ifs, s.ifs)
	if err != nil {
		return fmt.Errorf("group: join %s: %w", spec, err)
	}
	r := &request{key: key, spec: spec, follow: key.sel, on: make(map[int]string)}
	if key.sel.kind == selAddr {
		r.follow = selector{kind: selIndex, index: targets[0].Index}
	}
	for _, ifi := range targets {
		if err := s.acquire(r, ifi); err != nil {
			for _, idx := range slices.Sorted(maps.Keys(r.on)) {
				_ = s.release(r, idx) // undoing a join that just succeeded; its error would hide the cause
			}
			if ifi == nil && sockerr.Is(err, sockerr.NoDevice) {
				// The kernel picks the interface by its routing table, and
				// found no route for the group.
				route := "ip route add 224.0.0.0/4 dev IFACE"
				if spec.Group.Is6() {
					route = "ip -6 route add multicast ff00::/8 dev IFACE table local"
				}
				return fmt.Errorf("group: join %s: no interface named, and no route for %s to pick one by: name one (%s%%IFACE) or add a route (%s): %w: %w",
					spec, spec.Group, spec, route, ErrNoInterface, err)
			}
			return fmt.Errorf("group: join %s: %w", spec, err)
		}
	}
	s.reqs[key] = r
	if e := s.log.Debug(); e.Enabled() {
		e.Str("spec", spec.String()).Ints("ifindex", slices.Sorted(maps.Keys(r.on))).Msg("joined")
	}
	return nil
}

// Leave leaves spec, as joined by Join, on every interface it is joined
// on. A membership that another joined spec shares (as "*" and "eth0"
// share eth0) stays until both are left. Leaving a spec that is not joined
// does nothing.
func (s *Set) Leave(spec Spec) error {
	key, spec, err := s.normalize(spec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[key]
	if !ok {
		return nil
	}
	delete(s.reqs, key)
	var errs []error
	for _, idx := range slices.Sorted(maps.Keys(r.on)) {
		if err := s.release(r, idx); err != nil {
			errs = append(errs, err)
		}
	}
	s.log.Debug().Str("spec", spec.String()).Msg("left")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("group: leave %s: %w", spec, err)
	}
	return nil
}

// ExcludeSource blocks datagrams from source on the any-source spec, which
// must be joined, on every interface it is joined on (RFC 3678
// MCAST_BLOCK_SOURCE; IGMPv3 and MLDv2 tell the routers). The exclusion
// follows the spec to the interfaces the watcher joins it on later.
// Excluding a source already excluded does nothing. Memberships are per
// socket and interface, so the exclusion also applies to another joined
// spec that shares one of them.
func (s *Set) ExcludeSource(spec Spec, source netip.Addr) error {
	return s.exclude(spec, source, true)
}

// IncludeSource undoes ExcludeSource.
func (s *Set) IncludeSource(spec Spec, source netip.Addr) error {
	return s.exclude(spec, source, false)
}

func (s *Set) exclude(spec Spec, source netip.Addr, on bool) error {
	op := "exclude"
	if !on {
		op = "include"
	}
	key, spec, err := s.normalize(spec)
	if err != nil {
		return err
	}
	source = source.Unmap()
	switch {
	case spec.Source.IsValid():
		return fmt.Errorf("group: %s %s from %s: a source-specific membership has no other sources: %w", op, source, spec, ErrBadSpec)
	case !source.IsValid() || source.Zone() != "" || source.Is6() != spec.Group.Is6() || source.IsMulticast() || source.IsUnspecified():
		return fmt.Errorf("group: %s %s from %s: not a unicast source of the group's family: %w", op, source, spec, ErrBadSpec)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[key]
	if !ok {
		if !on {
			return nil
		}
		return fmt.Errorf("group: exclude %s from %s: not joined: %w", source, spec, ErrBadSpec)
	}
	if _, ok := r.excl[source]; ok == on {
		return nil
	}
	var done []int
	for _, idx := range slices.Sorted(maps.Keys(r.on)) {
		mk := memberKey{key.group, key.source, idx}
		m := s.members[mk]
		var err error
		if on {
			err = s.block(mk, m, source)
		} else {
			err = s.unblock(mk, m, source)
		}
		if err != nil && on {
			for _, i := range done {
				mk := memberKey{key.group, key.source, i}
				_ = s.unblock(mk, s.members[mk], source) // undo; the block error is the one to report
			}
			return fmt.Errorf("group: exclude %s from %s: %w", source, spec, err)
		}
		if err != nil {
			// The source stays blocked on this interface in the kernel,
			// which the error reports; the request forgets it anyway.
			delete(r.excl, source)
			return fmt.Errorf("group: include %s in %s: %w", source, spec, err)
		}
		done = append(done, idx)
	}
	if on {
		if r.excl == nil {
			r.excl = make(map[netip.Addr]struct{})
		}
		r.excl[source] = struct{}{}
	} else {
		delete(r.excl, source)
	}
	return nil
}

// List returns what is joined where: one entry for each joined spec and
// interface it is joined on, sorted by group, source, interface text and
// index.
func (s *Set) List() []Membership {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Membership
	for _, r := range s.sortedRequests() {
		excl := slices.SortedFunc(maps.Keys(r.excl), netip.Addr.Compare)
		if len(r.on) == 0 {
			out = append(out, Membership{Spec: r.spec, Waiting: true, Excluded: excl})
			continue
		}
		for _, idx := range slices.Sorted(maps.Keys(r.on)) {
			out = append(out, Membership{Spec: r.spec, IfIndex: idx, IfName: r.on[idx], Excluded: slices.Clone(excl)})
		}
	}
	return out
}

func (s *Set) sortedRequests() []*request {
	rs := slices.Collect(maps.Values(s.reqs))
	slices.SortFunc(rs, func(a, b *request) int {
		return cmp.Or(a.key.group.Compare(b.key.group), a.key.source.Compare(b.key.source),
			cmp.Compare(a.key.sel.String(), b.key.sel.String()), cmp.Compare(a.key.sel.kind, b.key.sel.kind))
	})
	return rs
}

// Stats returns a snapshot of the counters.
func (s *Set) Stats() Stats {
	s.mu.Lock()
	n := len(s.members)
	s.mu.Unlock()
	return Stats{
		Memberships: n,
		Rejoins:     s.rejoins.Load(),
		Added:       s.added.Load(),
		Lost:        s.lost.Load(),
		Failures:    s.failures.Load(),
		Events:      s.events.Load(),
	}
}

// Close stops the watcher, waiting for it to finish, and leaves every
// membership the Set holds. It does not close the socket. It is
// idempotent: later calls return what the first returned. After Close,
// Join returns an error that wraps net.ErrClosed.
func (s *Set) Close() error {
	s.closeOnce.Do(func() {
		if s.w != nil {
			s.w.stop()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		var errs []error
		for _, r := range s.sortedRequests() {
			for _, idx := range slices.Sorted(maps.Keys(r.on)) {
				// A socket closed first has left everything already.
				if err := s.release(r, idx); err != nil && !errors.Is(err, net.ErrClosed) {
					errs = append(errs, err)
				}
			}
		}
		clear(s.reqs)
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("group: close: %w", err)
		}
	})
	return s.closeErr
}

// acquire joins r on ifi (nil: the kernel's choice), sharing the kernel
// membership with the other requests that hold it, and blocks r's excluded
// sources there. s.mu is held.
func (s *Set) acquire(r *request, ifi *net.Interface) error {
	mk := memberKey{group: r.key.group, source: r.key.source}
	if ifi != nil {
		mk.index = ifi.Index
	}
	m := s.members[mk]
	fresh := m == nil
	if fresh {
		if err := s.be.join(ifi, mk.group, mk.source); err != nil {
			return s.kernelError(err, mk, ifi, false)
		}
		m = &member{blocked: make(map[netip.Addr]int)}
		if ifi != nil {
			m.ifi = *ifi
		}
		s.members[mk] = m
	}
	var done []netip.Addr
	for _, src := range slices.SortedFunc(maps.Keys(r.excl), netip.Addr.Compare) {
		if err := s.block(mk, m, src); err != nil {
			for _, d := range done {
				_ = s.unblock(mk, m, d) // undo; err is the one to report
			}
			if fresh {
				delete(s.members, mk)
				_ = s.be.leave(ifi, mk.group, mk.source) // undo the join above
			}
			return err
		}
		done = append(done, src)
	}
	m.refs++
	r.on[mk.index] = m.ifi.Name
	return nil
}

// release undoes acquire for r on index, leaving the kernel membership
// when no other request holds it. s.mu is held.
func (s *Set) release(r *request, index int) error {
	mk := memberKey{r.key.group, r.key.source, index}
	delete(r.on, index)
	m := s.members[mk]
	if m == nil {
		return nil
	}
	var errs []error
	for src := range r.excl {
		if err := s.unblock(mk, m, src); err != nil {
			errs = append(errs, err)
		}
	}
	m.refs--
	if m.refs <= 0 {
		delete(s.members, mk)
		if err := s.be.leave(m.iface(), mk.group, mk.source); err != nil {
			errs = append(errs, err)
		}
		if mk.source.IsValid() && mk.index != 0 && s.gone(mk.index) {
			// Linux cannot leave a source-specific membership of a
			// deleted interface (ENODEV), and keeps it in the socket,
			// where it counts against igmp_max_memberships, until the
			// group is left as a whole on that index; which drops
			// nothing else, since every membership there is as dead.
			// An error means there was nothing to drop.
			_ = s.be.purge(m.iface(), mk.group)
		}
	}
	return errors.Join(errs...)
}

// gone reports whether no interface has index now.
func (s *Set) gone(index int) bool {
	ifs, err := s.ifs.list()
	if err != nil {
		return false
	}
	for _, ifi := range ifs {
		if ifi.Index == index {
			return false
		}
	}
	return true
}

func (s *Set) block(mk memberKey, m *member, src netip.Addr) error {
	if m.blocked[src] == 0 {
		if err := s.be.block(m.iface(), mk.group, src, true); err != nil {
			return s.kernelError(err, mk, m.iface(), true)
		}
	}
	m.blocked[src]++
	return nil
}

func (s *Set) unblock(mk memberKey, m *member, src netip.Addr) error {
	if m.blocked[src] == 0 {
		return nil
	}
	m.blocked[src]--
	if m.blocked[src] > 0 {
		return nil
	}
	delete(m.blocked, src)
	return s.be.block(m.iface(), mk.group, src, false)
}

// kernelError names the limit that a refused join or block hit, if any.
func (s *Set) kernelError(err error, mk memberKey, ifi *net.Interface, block bool) error {
	groups, sources := s.be.memberships(mk.group, mk.index)
	if reason := limitReason(err, s.be.ipv6(), block || mk.source.IsValid(), groups, sources); reason != "" {
		where := "the kernel's choice of interface"
		if ifi != nil {
			where = fmt.Sprintf("%s (index %d)", ifi.Name, ifi.Index)
		}
		return fmt.Errorf("on %s: %s: %w: %w", where, reason, ErrMembershipLimit, err)
	}
	return err
}
