package mdns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/sharecast/sharecast/dispatch"
)

// Errors of publishing.
var (
	// ErrPublishing: the Agent publishes a service already.
	ErrPublishing = errors.New("mdns: already publishing a service")
	// ErrBadPublication: a Publication that cannot be published.
	ErrBadPublication = errors.New("mdns: bad publication")
	// ErrNoFreeName: every name tried was taken.
	ErrNoFreeName = errors.New("mdns: no free name")
)

// TTLs of the records published (RFC 6762 section 10): 120 s for those
// that name a host (SRV, A, AAAA), 75 minutes for the others.
const (
	hostTTL  = 120
	otherTTL = 4500
)

// cacheFlush is the top bit of the class of a unique record (RFC 6762
// section 10.2), and of a question's class the unicast-response bit
// (section 5.4).
const cacheFlush = 1 << 15

// maxRenames bounds the renames after conflicts.
const maxRenames = 100

// Publication is a service to publish with [Agent.Publish], as
// avahi-publish -s takes it.
type Publication struct {
	// Name is the instance name ("My Service"), at most 63 bytes.
	Name string
	// Type is the service type, "_http._tcp" or "_x._udp".
	Type string
	// Port is the service's port.
	Port uint16
	// TXT holds the TXT record's strings ("key=value"); none makes an
	// empty TXT record, as RFC 6763 section 6.1 asks.
	TXT []string
	// Host is the host name to publish the addresses under, a label
	// without ".local" (the OS host name followed by "-discovery" when
	// empty): a name of the Agent's own, since avahi-daemon or
	// mDNSResponder owns the host's usual name.
	Host string
}

// PublishEventKind says what a [PublishEvent] reports.
type PublishEventKind uint8

// The steps of publishing.
const (
	// Probing: the name is being probed (RFC 6762 section 8.1).
	Probing PublishEventKind = iota + 1
	// Established: no one objected; the records are announced and
	// answered for (section 8.3).
	Established
	// Conflict: another host owns the instance name, and the service
	// is renamed ("Name (2)"), or the host name, and that is renamed
	// ("host-2"); then it is probed again (section 9).
	Conflict
	// Withdrawn: the goodbyes (TTL 0) were sent (section 10.1).
	Withdrawn
)

func (k PublishEventKind) String() string {
	switch k {
	case Probing:
		return "probing"
	case Established:
		return "established"
	case Conflict:
		return "conflict"
	case Withdrawn:
		return "withdrawn"
	}
	return "PublishEventKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (k PublishEventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// PublishEvent reports a step of publishing.
type PublishEvent struct {
	Kind PublishEventKind `json:"event"`
	// Name is the instance name in use (after a Conflict, the new one),
	// Instance the full name, Host the host name.
	Name     string    `json:"name"`
	Instance string    `json:"instance"`
	Host     string    `json:"host"`
	At       time.Time `json:"at"`
}

// PublishStats counts what the responder did.
type PublishStats struct {
	// Probes and Announcements count the probe queries and the
	// unsolicited announcements sent (one a packet an interface).
	Probes, Announcements uint64
	// Answered counts the queries answered by multicast,
	// AnsweredUnicast those answered by unicast (the QU bit, or a
	// legacy query from another port than 5353).
	Answered, AnsweredUnicast uint64
	// Suppressed counts the answers not sent: the querier knew them
	// (known-answer suppression), or the record was multicast on that
	// interface less than a second before (RFC 6762 section 6), or
	// unicast answers over their rate limit.
	Suppressed uint64
	// Conflicts counts the conflicts that renamed the service, TieBreaks
	// the simultaneous probes it lost.
	Conflicts, TieBreaks uint64
}

type publisher struct {
	a   *Agent
	pub Publication
	on  func(PublishEvent)

	mu          sync.Mutex
	name        string // the instance label in use
	instance    string // its full name, escaped
	typeName    string // "_x._tcp.local."
	host        string // "host.local."
	established bool
	lastMcast   map[mcastKey]time.Time // keys: the published records (a few) by interface joined
	addrCache   map[int]cachedAddrs
	tokens      float64 // unicast answers
	tokensAt    time.Time
	st          PublishStats

	conflict  chan bool // true: a name is taken; false: lost a tie-break
	hostTaken bool      // the name taken is the host name (guarded by mu)
	stop      chan struct{}
	done      chan struct{}
}

type mcastKey struct {
	ifIndex int
	name    string
	rrtype  uint16
}

// Publish starts publishing p: it probes the name, renames on conflict,
// announces, answers queries for the service until [Agent.Unpublish] or
// Close, then sends goodbyes. on, if not nil, gets each step, from
// another goroutine. An Agent publishes one service at a time.
func (a *Agent) Publish(p Publication, on func(PublishEvent)) error {
	if p.Name == "" || len(p.Name) > 63 || p.Port == 0 {
		return fmt.Errorf("%w: name %q (1 to 63 bytes), port %d", ErrBadPublication, p.Name, p.Port)
	}
	typeName := strings.TrimSuffix(p.Type, ".") + ".local."
	if _, _, ok := serviceType(typeName); !ok {
		return fmt.Errorf("%w: type %q (want _name._tcp or _name._udp)", ErrBadPublication, p.Type)
	}
	if p.Host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "sharecast"
		}
		p.Host = strings.SplitN(h, ".", 2)[0] + "-discovery"
	}
	host := escapeLabel(p.Host) + ".local."
	if _, ok := dns.IsDomainName(host); !ok || strings.Contains(p.Host, ".") {
		return fmt.Errorf("%w: host %q", ErrBadPublication, p.Host)
	}
	for _, t := range p.TXT {
		if len(t) > 255 {
			return fmt.Errorf("%w: TXT string longer than 255 bytes", ErrBadPublication)
		}
	}
	pb := &publisher{a: a, pub: p, on: on, typeName: strings.ToLower(typeName), host: host,
		lastMcast: map[mcastKey]time.Time{}, addrCache: map[int]cachedAddrs{}, tokens: unicastBurst,
		conflict: make(chan bool, 1), stop: make(chan struct{}), done: make(chan struct{})}
	pb.setName(p.Name)
	a.pubMu.Lock()
	defer a.pubMu.Unlock()
	if a.pub != nil {
		return ErrPublishing
	}
	a.pub = pb
	go pb.run()
	return nil
}

// Unpublish stops publishing: it sends the goodbyes and waits for them,
// bounded by ctx. It does nothing if nothing is published.
func (a *Agent) Unpublish(ctx context.Context) error {
	a.pubMu.Lock()
	pb := a.pub
	a.pub = nil
	a.pubMu.Unlock()
	if pb == nil {
		return nil
	}
	close(pb.stop)
	select {
	case <-pb.done:
		pb.mu.Lock()
		st := pb.st
		pb.mu.Unlock()
		a.pubMu.Lock()
		a.lastPub = st
		a.pubMu.Unlock()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mdns: unpublish: %w", ctx.Err())
	}
}

// PublishStats returns the responder's counters: those of the service
// published, or after Unpublish (or Close) those of the last one.
func (a *Agent) PublishStats() PublishStats {
	a.pubMu.Lock()
	pb, last := a.pub, a.lastPub
	a.pubMu.Unlock()
	if pb == nil {
		return last
	}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.st
}

func (pb *publisher) setName(name string) {
	pb.name = name
	pb.instance = escapeLabel(name) + "." + pb.typeName
}

func (pb *publisher) event(k PublishEventKind) {
	pb.mu.Lock()
	ev := PublishEvent{Kind: k, Name: pb.name, Instance: pb.instance, Host: pb.host, At: time.Now()}
	pb.mu.Unlock()
	if pb.on != nil {
		pb.on(ev)
	}
}

// run probes, announces and waits for a conflict or the stop.
func (pb *publisher) run() {
	defer close(pb.done)
	wait := func(d time.Duration) (stopped bool, conflict, taken bool) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-pb.stop:
			return true, false, false
		case taken := <-pb.conflict:
			return false, true, taken
		case <-t.C:
			return false, false, false
		}
	}
	renames := 0
	for {
		pb.mu.Lock()
		pb.established = false
		pb.mu.Unlock()
		select { // a conflict from before this round is stale
		case <-pb.conflict:
		default:
		}
		pb.event(Probing)
		// RFC 6762 section 8.1: a random delay of 0-250 ms, then three
		// probes 250 ms apart. They do not set the QU bit: an answer by
		// unicast to port 5353 would reach one socket of the several on
		// it, maybe avahi-daemon's, not this one.
		stopped, conflict, taken := wait(rand.N(250 * time.Millisecond))
		for i := 0; i < 3 && !stopped && !conflict; i++ {
			pb.sendAll(pb.probe)
			stopped, conflict, taken = wait(250 * time.Millisecond)
		}
		if stopped {
			return
		}
		if conflict {
			if !taken {
				// Section 8.2: the other host's probe won; try again in
				// a second, with the same name.
				if stopped, _, _ = wait(time.Second); stopped {
					return
				}
				continue
			}
			if renames++; renames > maxRenames {
				pb.a.log.Error().Err(ErrNoFreeName).Str("name", pb.pub.Name).Msg("publish")
				return
			}
			pb.rename()
			continue
		}
		pb.mu.Lock()
		pb.established = true
		pb.mu.Unlock()
		// Section 8.3: announce, twice, a second apart.
		pb.sendAll(pb.announcement)
		pb.event(Established)
		stopped, conflict, taken = wait(time.Second)
		if !stopped && !conflict {
			pb.sendAll(pb.announcement)
			stopped, _, taken = wait(1<<63 - 1)
		}
		if stopped {
			pb.mu.Lock()
			pb.established = false
			pb.mu.Unlock()
			pb.sendAll(pb.goodbye)
			pb.event(Withdrawn)
			return
		}
		if taken {
			if renames++; renames > maxRenames {
				pb.a.log.Error().Err(ErrNoFreeName).Str("name", pb.pub.Name).Msg("publish")
				return
			}
			pb.rename()
		}
	}
}

// rename moves to the next name: "Name (2)", "Name (3)", ... or, if
// the host name was taken, to the next host name: "host-2", "host-3", ...
func (pb *publisher) rename() {
	pb.mu.Lock()
	if pb.hostTaken {
		pb.hostTaken = false
		label, n := strings.TrimSuffix(pb.host, ".local."), 1
		if i := strings.LastIndexByte(label, '-'); i > 0 {
			if k, err := strconv.Atoi(label[i+1:]); err == nil && k > 1 {
				label, n = label[:i], k
			}
		}
		suffix := fmt.Sprintf("-%d", n+1)
		if len(label)+len(suffix) > 63 {
			label = label[:63-len(suffix)]
		}
		pb.host = label + suffix + ".local."
		pb.st.Conflicts++
		pb.mu.Unlock()
		pb.event(Conflict)
		return
	}
	name, n := pb.name, 1
	if i := strings.LastIndex(name, " ("); i > 0 && strings.HasSuffix(name, ")") {
		if k, err := strconv.Atoi(name[i+2 : len(name)-1]); err == nil && k > 1 {
			name, n = name[:i], k
		}
	}
	suffix := fmt.Sprintf(" (%d)", n+1)
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	pb.setName(name + suffix)
	pb.st.Conflicts++
	pb.mu.Unlock()
	pb.event(Conflict)
}

// records returns the records to publish on interface ifIndex with ttl
// scale: ttl false for goodbyes (TTL 0).
func (pb *publisher) records(ifIndex int, live bool) (shared, unique []dns.RR) {
	pb.mu.Lock()
	instance, host := pb.instance, pb.host
	pb.mu.Unlock()
	ttl := func(t uint32) uint32 {
		if live {
			return t
		}
		return 0
	}
	hdr := func(name string, t uint16, class uint16, secs uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: class, Ttl: ttl(secs)}
	}
	shared = []dns.RR{
		&dns.PTR{Hdr: hdr(pb.typeName, dns.TypePTR, dns.ClassINET, otherTTL), Ptr: instance},
		&dns.PTR{Hdr: hdr("_services._dns-sd._udp.local.", dns.TypePTR, dns.ClassINET, otherTTL), Ptr: pb.typeName},
	}
	txt := pb.pub.TXT
	if len(txt) == 0 {
		txt = []string{""}
	}
	unique = []dns.RR{
		&dns.SRV{Hdr: hdr(instance, dns.TypeSRV, dns.ClassINET|cacheFlush, hostTTL), Port: pb.pub.Port, Target: host},
		&dns.TXT{Hdr: hdr(instance, dns.TypeTXT, dns.ClassINET|cacheFlush, otherTTL), Txt: escapeTXT(txt)},
	}
	for _, ip := range pb.addrs(ifIndex) {
		if ip.Is4() {
			unique = append(unique, &dns.A{Hdr: hdr(host, dns.TypeA, dns.ClassINET|cacheFlush, hostTTL), A: ip.AsSlice()})
		} else {
			unique = append(unique, &dns.AAAA{Hdr: hdr(host, dns.TypeAAAA, dns.ClassINET|cacheFlush, hostTTL), AAAA: ip.AsSlice()})
		}
	}
	return shared, unique
}

// addrs returns the addresses of interface ifIndex, read again when they
// are more than a second old, so that a flood of queries does not make a
// netlink dump each.
func (pb *publisher) addrs(ifIndex int) []netip.Addr {
	now := time.Now()
	pb.mu.Lock()
	c, ok := pb.addrCache[ifIndex]
	pb.mu.Unlock()
	if ok && now.Sub(c.at) < time.Second {
		return c.addrs
	}
	as := interfaceAddrs(ifIndex)
	pb.mu.Lock()
	if len(pb.addrCache) >= 256 { // interfaces come and go; the cache does not grow
		clear(pb.addrCache)
	}
	pb.addrCache[ifIndex] = cachedAddrs{as, now}
	pb.mu.Unlock()
	return as
}

type cachedAddrs struct {
	addrs []netip.Addr
	at    time.Time
}

// interfaceAddrs returns the addresses of interface ifIndex, IPv4 first.
func interfaceAddrs(ifIndex int) []netip.Addr {
	ifi, err := net.InterfaceByIndex(ifIndex)
	if err != nil {
		return nil
	}
	as, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().WithZone(""))
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// probe is the probe query for interface ifIndex: a question of type ANY
// for the instance and the host, with the records proposed in the
// authority section (RFC 6762 section 8.1).
func (pb *publisher) probe(ifIndex int) *dns.Msg {
	_, unique := pb.records(ifIndex, true)
	pb.mu.Lock()
	instance, host := pb.instance, pb.host
	pb.st.Probes++
	pb.mu.Unlock()
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: instance, Qtype: dns.TypeANY, Qclass: dns.ClassINET}, {Name: host, Qtype: dns.TypeANY, Qclass: dns.ClassINET}}
	for _, rr := range unique {
		rr = dns.Copy(rr)
		rr.Header().Class &^= cacheFlush // section 8.1: no cache-flush bit in probes
		m.Ns = append(m.Ns, rr)
	}
	return m
}

func (pb *publisher) announcement(ifIndex int) *dns.Msg {
	shared, unique := pb.records(ifIndex, true)
	pb.mu.Lock()
	pb.st.Announcements++
	pb.mu.Unlock()
	m := response()
	m.Answer = append(shared, unique...)
	return m
}

func (pb *publisher) goodbye(ifIndex int) *dns.Msg {
	shared, unique := pb.records(ifIndex, false)
	m := response()
	m.Answer = append(shared, unique...)
	return m
}

func response() *dns.Msg {
	m := new(dns.Msg)
	m.Response, m.Authoritative, m.Compress = true, true, true
	return m
}

// sendAll sends the message that build makes for each interface the
// Agent is joined on, from port 5353, to the group.
func (pb *publisher) sendAll(build func(ifIndex int) *dns.Msg) {
	for _, s := range pb.a.socks {
		for _, mem := range s.set.List() {
			if mem.IfIndex == 0 {
				continue
			}
			b, err := build(mem.IfIndex).Pack()
			if err == nil {
				err = s.send(b, mem.IfIndex)
			}
			if err != nil {
				pb.a.slog.Warn().Err(err).Str("interface", mem.IfName).Msg("publish: send")
			}
		}
	}
}

// Unicast answers (to the QU bit and to legacy queries) are limited to
// unicastRate a second, beyond a burst: anyone can ask, with a forged
// source address, and each answer is larger than the question.
const (
	unicastRate  = 20
	unicastBurst = 40
)

// handleQuery answers m, a query that d carried, if it asks for the
// published records, or takes part in a probe tie-break.
func (pb *publisher) handleQuery(m *dns.Msg, d *dispatch.Datagram) {
	pb.mu.Lock()
	established, instance, host := pb.established, pb.instance, pb.host
	pb.mu.Unlock()
	if len(m.Ns) > 0 && !established {
		pb.tieBreak(m, d.IfIndex, instance, host)
	}
	if !established {
		return
	}
	legacy := d.Source.Port() != Port
	shared, unique := pb.records(d.IfIndex, true)
	all := append(shared, unique...)
	var answers []dns.RR
	unicast := legacy
	for _, q := range m.Question {
		if q.Qclass&cacheFlush != 0 {
			unicast = true
		}
		for _, rr := range all {
			h := rr.Header()
			if strings.EqualFold(h.Name, q.Name) && (q.Qtype == dns.TypeANY || q.Qtype == h.Rrtype) && !slices.Contains(answers, rr) && !known(m, rr) {
				answers = append(answers, rr)
			}
		}
	}
	if len(answers) == 0 {
		return
	}
	// The additional records (RFC 6763 section 12): the SRV, TXT and
	// addresses with a PTR, the addresses with an SRV.
	var extra []dns.RR
	for _, rr := range all {
		if slices.Contains(answers, rr) {
			continue
		}
		switch rr.Header().Rrtype {
		case dns.TypeSRV, dns.TypeTXT:
			if slices.ContainsFunc(answers, func(a dns.RR) bool { p, ok := a.(*dns.PTR); return ok && p.Ptr == instance }) {
				extra = append(extra, rr)
			}
		case dns.TypeA, dns.TypeAAAA:
			if slices.ContainsFunc(answers, func(a dns.RR) bool { return a.Header().Rrtype == dns.TypeSRV || a.Header().Rrtype == dns.TypePTR }) {
				extra = append(extra, rr)
			}
		}
	}
	r := response()
	if unicast {
		if !pb.takeToken() {
			return
		}
		if legacy {
			// Section 6.7: echo the ID and the question, TTLs of at most
			// 10 s, no cache-flush bit.
			r.Id, r.Question = m.Id, m.Question
			answers, extra = legacyCopy(answers), legacyCopy(extra)
		}
		r.Answer, r.Extra = answers, extra
		pb.sendUnicast(r, d)
		return
	}
	now := time.Now()
	pb.mu.Lock()
	kept := answers[:0]
	for _, rr := range answers {
		k := mcastKey{d.IfIndex, strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		if now.Sub(pb.lastMcast[k]) < time.Second {
			pb.st.Suppressed++
			continue
		}
		pb.lastMcast[k] = now
		kept = append(kept, rr)
	}
	if len(kept) > 0 {
		pb.st.Answered++
	}
	pb.mu.Unlock()
	if len(kept) == 0 {
		return
	}
	r.Answer, r.Extra = kept, extra
	for _, s := range pb.a.socks {
		if s.v6 == d.Source.Addr().Is6() {
			if b, err := r.Pack(); err == nil {
				if err := s.send(b, d.IfIndex); err != nil {
					pb.a.slog.Warn().Err(err).Msg("publish: answer")
				}
			}
		}
	}
}

func (pb *publisher) takeToken() bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	now := time.Now()
	if !pb.tokensAt.IsZero() {
		pb.tokens = min(unicastBurst, pb.tokens+now.Sub(pb.tokensAt).Seconds()*unicastRate)
	}
	pb.tokensAt = now
	if pb.tokens < 1 {
		pb.st.Suppressed++
		return false
	}
	pb.tokens--
	pb.st.AnsweredUnicast++
	return true
}

// sendUnicast sends r to d's source from the socket on port 5353 of its
// family: sending from a shared port is safe; only receiving on it is a
// lottery.
func (pb *publisher) sendUnicast(r *dns.Msg, d *dispatch.Datagram) {
	b, err := r.Pack()
	if err != nil {
		return
	}
	for _, s := range pb.a.socks {
		if s.v6 != d.Source.Addr().Is6() {
			continue
		}
		dst := net.UDPAddrFromAddrPort(d.Source)
		if _, err := s.conn.UDPConn().WriteToUDP(b, dst); err != nil {
			pb.a.slog.Warn().Err(err).Stringer("to", d.Source).Msg("publish: unicast answer")
		}
	}
}

// known reports whether the query's answer section holds rr with at
// least half its TTL (known-answer suppression, RFC 6762 section 7.1).
func known(m *dns.Msg, rr dns.RR) bool {
	for _, k := range m.Answer {
		if k.Header().Ttl*2 >= rr.Header().Ttl && sameRecord(k, rr) {
			return true
		}
	}
	return false
}

func legacyCopy(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		rr = dns.Copy(rr)
		h := rr.Header()
		h.Class &^= cacheFlush
		h.Ttl = min(h.Ttl, 10)
		out[i] = rr
	}
	return out
}

// handleResponse looks for a conflict in m: a record of another host for
// the published instance or host name (RFC 6762 section 9). Goodbyes
// and copies of the published records (our own, looped back) are none.
func (pb *publisher) handleResponse(m *dns.Msg, ifIndex int) {
	pb.mu.Lock()
	instance, host := pb.instance, pb.host
	pb.mu.Unlock()
	_, unique := pb.records(ifIndex, true)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Ttl == 0 {
				continue
			}
			mine := strings.EqualFold(h.Name, instance) && (h.Rrtype == dns.TypeSRV || h.Rrtype == dns.TypeTXT) ||
				strings.EqualFold(h.Name, host) && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA)
			if !mine || slices.ContainsFunc(unique, func(u dns.RR) bool { return sameRecord(u, rr) }) {
				continue
			}
			if h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA {
				// An address of ours on another interface is no conflict.
				if a, ok := netip.AddrFromSlice(rrIP(rr)); ok && ownAddr(a.Unmap()) {
					continue
				}
			}
			pb.a.log.Info().Str("record", rr.String()).Msg("publish: conflict")
			pb.mu.Lock()
			pb.hostTaken = strings.EqualFold(h.Name, host)
			pb.mu.Unlock()
			select {
			case pb.conflict <- true:
			default:
			}
			return
		}
	}
}

// tieBreak compares a probe for the published names with the records
// proposed (RFC 6762 section 8.2): if the other host's are greater, it
// wins, and the probing starts again in a second.
func (pb *publisher) tieBreak(m *dns.Msg, ifIndex int, instance, host string) {
	_, unique := pb.records(ifIndex, true)
	for _, name := range []string{instance, host} {
		var theirs, ours []dns.RR
		for _, rr := range m.Ns {
			if strings.EqualFold(rr.Header().Name, name) {
				theirs = append(theirs, rr)
			}
		}
		if len(theirs) == 0 {
			continue
		}
		for _, rr := range unique {
			if strings.EqualFold(rr.Header().Name, name) {
				ours = append(ours, rr)
			}
		}
		if compareRecords(theirs, ours) > 0 {
			pb.mu.Lock()
			pb.st.TieBreaks++
			pb.mu.Unlock()
			select {
			case pb.conflict <- false:
			default:
			}
			return
		}
	}
}

// compareRecords compares two sets of records as section 8.2 says:
// sorted, then record by record (class, type, rdata), the longer set
// greater when one is a prefix of the other.
func compareRecords(a, b []dns.RR) int {
	key := func(rrs []dns.RR) [][]byte {
		out := make([][]byte, 0, len(rrs))
		for _, rr := range rrs {
			h := rr.Header()
			k := []byte{byte(h.Class >> 8 & 0x7f), byte(h.Class), byte(h.Rrtype >> 8), byte(h.Rrtype)}
			out = append(out, append(k, rdata(rr)...))
		}
		slices.SortFunc(out, bytes.Compare)
		return out
	}
	return slices.CompareFunc(key(a), key(b), bytes.Compare)
}

// rdata returns rr's RDATA in wire format, uncompressed.
func rdata(rr dns.RR) []byte {
	buf := make([]byte, dns.Len(rr)+16)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	return buf[off-int(rr.Header().Rdlength) : off]
}

// sameRecord reports whether a and b have the same name, type and data.
func sameRecord(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return ha.Rrtype == hb.Rrtype && strings.EqualFold(ha.Name, hb.Name) && bytes.Equal(rdata(a), rdata(b))
}

func rrIP(rr dns.RR) net.IP {
	switch r := rr.(type) {
	case *dns.A:
		return r.A
	case *dns.AAAA:
		return r.AAAA
	}
	return nil
}

// ownAddr reports whether a is an address of this host.
func ownAddr(a netip.Addr) bool {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range as {
		if p, err := netip.ParsePrefix(x.String()); err == nil && p.Addr().WithZone("") == a.WithZone("") {
			return true
		}
	}
	return false
}

// escapeLabel writes a label in presentation format: dots, backslashes,
// spaces, quotes and bytes outside printable ASCII escaped.
func escapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' || c == '\\' || c == ' ' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x21 || c > 0x7e:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// escapeTXT escapes TXT strings for miekg/dns, which reads them in
// presentation format.
func escapeTXT(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		var b strings.Builder
		for j := 0; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c > 0x7e:
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		out[i] = b.String()
	}
	return out
}
