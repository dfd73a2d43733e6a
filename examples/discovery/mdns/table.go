package mdns

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Service is one service instance in the table (RFC 6763): what its PTR,
// SRV, TXT and address records say.
type Service struct {
	// Instance is the instance's full name, as in
	// "My Printer._ipp._tcp.local." (presentation format: dots and
	// backslashes in the instance label are escaped).
	Instance string `json:"instance"`
	// Name is the instance label, unescaped ("My Printer").
	Name string `json:"name"`
	// Type is the service type ("_ipp._tcp") and Domain its domain
	// ("local").
	Type   string `json:"type"`
	Domain string `json:"domain"`
	// Host and Port are the SRV record's target and port; empty and 0
	// until an SRV record is heard.
	Host string `json:"host,omitempty"`
	Port uint16 `json:"port,omitempty"`
	// TXT holds the TXT record's strings ("key=value"), in order.
	TXT []string `json:"txt,omitempty"`
	// Addrs are the host's addresses (A and AAAA records), sorted.
	Addrs []netip.Addr `json:"addrs,omitempty"`
	// Expires is when the instance's PTR record expires unless it is
	// announced again.
	Expires time.Time `json:"expires"`
}

// same reports whether a and b describe the service alike, ignoring when
// they expire (a refreshed TTL is no change).
func (a *Service) same(b *Service) bool {
	return a.Instance == b.Instance && a.Host == b.Host && a.Port == b.Port &&
		slices.Equal(a.TXT, b.TXT) && slices.Equal(a.Addrs, b.Addrs)
}

// ChangeKind says what happened to a service.
type ChangeKind uint8

// Change kinds.
const (
	Added ChangeKind = iota + 1
	Updated
	Removed
)

// String returns "added", "updated" or "removed".
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (k ChangeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Change reports a service that appeared, changed or went.
type Change struct {
	Kind    ChangeKind `json:"event"`
	Service Service    `json:"service"`
	At      time.Time  `json:"at"`
}

// TableConfig configures [NewTable]: the limits that keep the table
// bounded whatever the network sends. The zero value means the defaults;
// a negative value, or MaxServices above MaxRecords, is an error
// (ErrInvalidConfig).
//
// When a cap is reached the table evicts rather than refuses, so that a
// real service announced after a flood is still seen: first the records
// that no PTR reaches yet (the oldest first), then the least recently
// refreshed records. Each eviction is counted in [TableStats].
type TableConfig struct {
	// MaxRecords is the most records (PTR, SRV, TXT, A and AAAA) the table
	// holds; 0 means DefaultMaxRecords.
	MaxRecords int

	// MaxServices is the most PTR records (services) the table holds; 0
	// means DefaultMaxServices. The least recently refreshed PTR goes to
	// make room for a new one.
	MaxServices int

	// MaxAddrsPerHost is the most addresses (A and AAAA) kept for one
	// host name; 0 means DefaultMaxAddrsPerHost. The host's least recently
	// refreshed address goes to make room for a new one.
	MaxAddrsPerHost int

	// MaxTTL is the longest a record is kept without being announced
	// again: longer TTLs are clamped to it (and counted). 0 means
	// DefaultMaxTTL.
	MaxTTL time.Duration

	// OrphanGrace is how long an SRV, TXT or address record that no PTR
	// reaches (through an SRV, for addresses) is kept before it is
	// dropped, and counted as an orphan; records of one announcement may
	// come in separate packets, in any order. 0 means DefaultOrphanGrace.
	OrphanGrace time.Duration

	// MaxTXTBytes is the largest TXT record (the sum of its strings and
	// their length bytes) kept; larger ones are refused and counted. 0
	// means DefaultMaxTXTBytes.
	MaxTXTBytes int
}

// Defaults of [TableConfig]. With them the table holds at most 4096
// records of at most about 9 KB each (a TXT record; names are at most 255
// bytes): a few tens of MB in the worst case, about 1 MB for 4096 records
// of ordinary size.
const (
	DefaultMaxRecords      = 4096
	DefaultMaxServices     = 1024
	DefaultMaxAddrsPerHost = 32
	// DefaultMaxTTL is RFC 6762 section 10's TTL for records other than
	// host addresses (4500 s, 75 minutes): responders announce nothing
	// longer.
	DefaultMaxTTL      = 75 * time.Minute
	DefaultOrphanGrace = 10 * time.Second
	// DefaultMaxTXTBytes is RFC 6763 section 6.2's upper bound on a TXT
	// record for DNS-SD over mDNS (8900 bytes).
	DefaultMaxTXTBytes = 8900
)

// resolve returns cfg with the defaults filled in.
func (cfg *TableConfig) resolve() (TableConfig, error) {
	var c TableConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MaxRecords < 0 || c.MaxServices < 0 || c.MaxAddrsPerHost < 0 || c.MaxTTL < 0 || c.OrphanGrace < 0 || c.MaxTXTBytes < 0 {
		return c, fmt.Errorf("%w: negative table limit in %+v", ErrInvalidConfig, c)
	}
	c.MaxRecords = cmp.Or(c.MaxRecords, DefaultMaxRecords)
	c.MaxServices = cmp.Or(c.MaxServices, min(DefaultMaxServices, c.MaxRecords))
	c.MaxAddrsPerHost = cmp.Or(c.MaxAddrsPerHost, DefaultMaxAddrsPerHost)
	c.MaxTTL = cmp.Or(c.MaxTTL, DefaultMaxTTL)
	c.OrphanGrace = cmp.Or(c.OrphanGrace, DefaultOrphanGrace)
	c.MaxTXTBytes = cmp.Or(c.MaxTXTBytes, DefaultMaxTXTBytes)
	if c.MaxServices > c.MaxRecords {
		return c, fmt.Errorf("%w: MaxServices %d above MaxRecords %d", ErrInvalidConfig, c.MaxServices, c.MaxRecords)
	}
	if c.MaxTTL < time.Second {
		return c, fmt.Errorf("%w: MaxTTL %v under a second", ErrInvalidConfig, c.MaxTTL)
	}
	return c, nil
}

// TableStats are a table's sizes and counters. The counters only grow.
type TableStats struct {
	// Records is the number of records held, Services the number of
	// services (instances that a PTR record names).
	Records, Services int
	// Evicted counts the records evicted to make room under MaxRecords or
	// MaxServices, AddrsEvicted the addresses evicted under
	// MaxAddrsPerHost.
	Evicted, AddrsEvicted uint64
	// Clamped counts the records whose TTL was above MaxTTL.
	Clamped uint64
	// Orphaned counts the records dropped because no PTR reached them
	// within OrphanGrace.
	Orphaned uint64
	// Refused counts the records not taken: TXT records above MaxTXTBytes.
	Refused uint64
}

type ptrKey struct{ typ, instance string } // lower case

type kind uint8

const (
	kindPTR kind = iota
	kindSRV
	kindTXT
	kindAddr
)

// record is one record in the table. It is in one of the table's maps, in
// its expiry heap, and in one of its eviction lists.
type record struct {
	kind kind
	// name is the record's key in lower case: the instance for PTR
	// (its target), SRV and TXT records, the host for addresses.
	name string

	typ           string // PTR owner in lower case: its key is {typ, name}
	owner, target string // PTR, as received
	host, hostKey string // SRV target as received and in lower case
	port          uint16 // SRV
	txt           []string
	addr          netip.Addr

	expires  time.Time
	received time.Time // when last announced (refreshed)
	// check, unless zero, is when the record is dropped if no PTR
	// reaches it by then (never set on PTR records).
	check time.Time

	at         int // index in the heap
	list       *lru
	prev, next *record
}

// deadline is when the table next has to look at r.
func (r *record) deadline() time.Time {
	if !r.check.IsZero() && r.check.Before(r.expires) {
		return r.check
	}
	return r.expires
}

// lru is a list of records, least recently refreshed first.
type lru struct {
	head, tail *record
}

func (l *lru) push(r *record) {
	r.list, r.prev, r.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = r
	} else {
		l.head = r
	}
	l.tail = r
}

func (l *lru) remove(r *record) {
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		l.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		l.tail = r.prev
	}
	r.list, r.prev, r.next = nil, nil, nil
}

// moveTo puts r at the back of l (refreshed now).
func (r *record) moveTo(l *lru) {
	r.list.remove(r)
	l.push(r)
}

// Table is the cache of service records that the agent keeps, fed with
// mDNS responses. Its size is bounded by its [TableConfig], and the work
// of Update and Expire is proportional to the records they touch and the
// services these change, not to the size of the table. It is not safe for
// concurrent use; the Agent guards it.
type Table struct {
	cfg   TableConfig
	ptr   map[ptrKey]*record
	inst  map[string][]*record // instance -> the PTR records naming it
	srv   map[string]*record   // instance -> SRV
	txt   map[string]*record   // instance -> TXT
	addrs map[string]map[netip.Addr]*record
	hosts map[string]map[string]struct{} // host -> instances whose SRV names it
	last  map[string]Service             // instance -> as last reported

	heap []*record // by deadline
	// The eviction lists: PTR records, other records that a PTR reaches,
	// and those that none reaches (yet).
	ptrs, reached, orphans lru

	now   time.Time           // of the Update or Expire under way
	dirty map[string]struct{} // instances that it may have changed
	stats TableStats
}

// NewTable returns an empty Table with the limits of cfg (nil: the
// defaults).
func NewTable(cfg *TableConfig) (*Table, error) {
	c, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return &Table{
		cfg:   c,
		ptr:   map[ptrKey]*record{},
		inst:  map[string][]*record{},
		srv:   map[string]*record{},
		txt:   map[string]*record{},
		addrs: map[string]map[netip.Addr]*record{},
		hosts: map[string]map[string]struct{}{},
		last:  map[string]Service{},
		dirty: map[string]struct{}{},
	}, nil
}

// Config returns the table's limits, defaults filled in.
func (t *Table) Config() TableConfig { return t.cfg }

// Stats returns the table's sizes and counters.
func (t *Table) Stats() TableStats {
	st := t.stats
	st.Records, st.Services = len(t.heap), len(t.inst)
	return st
}

// goodbyeDelay is how long a record with TTL 0 (a goodbye) stays: RFC 6762
// section 10.1 has receivers keep it one second, so that a goodbye sent by
// mistake can be corrected.
const goodbyeDelay = time.Second

// flushAge is how old a record must be for a cache-flush record of the
// same name and type to replace it (RFC 6762 section 10.2: one second).
const flushAge = time.Second

func (t *Table) expiry(ttl uint32) time.Time {
	if ttl == 0 {
		return t.now.Add(goodbyeDelay)
	}
	d := time.Duration(ttl) * time.Second
	if d > t.cfg.MaxTTL {
		d = t.cfg.MaxTTL
		t.stats.Clamped++
	}
	return t.now.Add(d)
}

// Update adds the records of an mDNS response (its answer, authority and
// additional sections) received at now, and returns the changes to the
// table. Queries, and records of other kinds, are ignored.
func (t *Table) Update(m *dns.Msg, now time.Time) []Change {
	if !m.Response {
		return nil
	}
	t.now = now
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			t.add(rr)
		}
	}
	return t.changes()
}

func (t *Table) add(rr dns.RR) {
	h := rr.Header()
	name := strings.ToLower(h.Name)
	switch r := rr.(type) {
	case *dns.PTR:
		if _, _, ok := serviceType(h.Name); !ok {
			return // reverse-address and enumeration PTRs are not services
		}
		target := strings.ToLower(r.Ptr)
		if !strings.HasSuffix(target, "."+name) {
			return
		}
		t.addPTR(ptrKey{name, target}, h, r.Ptr)
	case *dns.SRV:
		t.addSRV(name, h, r)
	case *dns.TXT:
		t.addTXT(name, h, r.Txt)
	case *dns.A:
		a, _ := netip.AddrFromSlice(r.A.To4())
		t.addAddr(name, h, a)
	case *dns.AAAA:
		a, _ := netip.AddrFromSlice(r.AAAA.To16())
		t.addAddr(name, h, a)
	}
}

func (t *Table) addPTR(k ptrKey, h *dns.RR_Header, target string) {
	if r := t.ptr[k]; r != nil {
		if r.owner != h.Name || r.target != target {
			r.owner, r.target = h.Name, target
			t.dirty[k.instance] = struct{}{}
		}
		t.refresh(r, h.Ttl, &t.ptrs)
		return
	}
	if len(t.ptr) >= t.cfg.MaxServices {
		t.evict(t.ptrs.head)
	}
	t.makeRoom()
	r := &record{kind: kindPTR, name: k.instance, typ: k.typ, owner: h.Name, target: target}
	t.ptr[k] = r
	t.inst[k.instance] = append(t.inst[k.instance], r)
	if len(t.inst[k.instance]) == 1 {
		t.reach(t.srv[k.instance])
		t.reach(t.txt[k.instance])
	}
	t.insert(r, h.Ttl, &t.ptrs)
	t.dirty[k.instance] = struct{}{}
}

func (t *Table) addSRV(name string, h *dns.RR_Header, s *dns.SRV) {
	hostKey := strings.ToLower(s.Target)
	r, isNew := t.instRecord(t.srv, kindSRV, name, h.Ttl)
	if !isNew {
		if r.host == s.Target && r.port == s.Port {
			return
		}
		t.unlinkHost(r)
	}
	r.host, r.hostKey, r.port = s.Target, hostKey, s.Port
	hs := t.hosts[hostKey]
	if hs == nil {
		hs = map[string]struct{}{}
		t.hosts[hostKey] = hs
		for _, a := range t.addrs[hostKey] {
			t.reach(a)
		}
	}
	hs[name] = struct{}{}
	t.dirty[name] = struct{}{}
}

// unlinkHost undoes the link from SRV record r to its host: when no SRV
// names the host any more, its addresses become orphans.
func (t *Table) unlinkHost(r *record) {
	hs := t.hosts[r.hostKey]
	delete(hs, r.name)
	if len(hs) == 0 {
		delete(t.hosts, r.hostKey)
		for _, a := range t.addrs[r.hostKey] {
			t.orphan(a)
		}
	}
}

func (t *Table) addTXT(name string, h *dns.RR_Header, txt []string) {
	size := 0
	for _, s := range txt {
		size += 1 + len(s)
	}
	if size > t.cfg.MaxTXTBytes {
		t.stats.Refused++
		return
	}
	if len(txt) == 1 && txt[0] == "" {
		txt = nil // an empty TXT record is one empty string (RFC 6763 section 6.1)
	}
	r, isNew := t.instRecord(t.txt, kindTXT, name, h.Ttl)
	if !isNew && slices.Equal(r.txt, txt) {
		return
	}
	r.txt = slices.Clone(txt)
	t.dirty[name] = struct{}{}
}

// instRecord returns instance name's record in m (its SRV or TXT
// record), refreshed with ttl, or a new one of kind k, and reports whether
// it is new.
func (t *Table) instRecord(m map[string]*record, k kind, name string, ttl uint32) (r *record, isNew bool) {
	if r := m[name]; r != nil {
		t.refresh(r, ttl, r.list)
		return r, false
	}
	t.makeRoom()
	r = &record{kind: k, name: name}
	m[name] = r
	t.insert(r, ttl, t.listFor(len(t.inst[name]) > 0))
	return r, true
}

func (t *Table) addAddr(host string, h *dns.RR_Header, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	if h.Class&0x8000 != 0 {
		// Cache flush: the host's other addresses of the same family, if
		// received over a second ago, are replaced by this announcement.
		for old, r := range t.addrs[host] {
			if old.Is4() == a.Is4() && old != a && t.now.Sub(r.received) > flushAge {
				t.remove(r)
			}
		}
	}
	if r := t.addrs[host][a]; r != nil {
		t.refresh(r, h.Ttl, r.list)
		return
	}
	if set := t.addrs[host]; len(set) >= t.cfg.MaxAddrsPerHost {
		var oldest *record
		for _, r := range set {
			if oldest == nil || r.received.Before(oldest.received) {
				oldest = r
			}
		}
		t.remove(oldest)
		t.stats.AddrsEvicted++
	}
	t.makeRoom()
	set := t.addrs[host] // after makeRoom, which may have emptied it
	if set == nil {
		set = map[netip.Addr]*record{}
		t.addrs[host] = set
	}
	r := &record{kind: kindAddr, name: host, addr: a}
	set[a] = r
	t.insert(r, h.Ttl, t.listFor(len(t.hosts[host]) > 0))
	t.dirtyHost(host)
}

// dirtyHost marks the services on host as possibly changed.
func (t *Table) dirtyHost(host string) {
	for inst := range t.hosts[host] {
		t.dirty[inst] = struct{}{}
	}
}

// listFor returns the eviction list of a new record that a PTR reaches or
// not.
func (t *Table) listFor(reached bool) *lru {
	if reached {
		return &t.reached
	}
	return &t.orphans
}

// insert puts the new record r in the heap and list l, with a TTL of ttl
// from now; a record on the orphan list gets OrphanGrace to be reached.
func (t *Table) insert(r *record, ttl uint32, l *lru) {
	r.expires, r.received = t.expiry(ttl), t.now
	if l == &t.orphans {
		r.check = t.now.Add(t.cfg.OrphanGrace)
	}
	l.push(r)
	r.at = len(t.heap)
	t.heap = append(t.heap, r)
	t.up(r.at)
}

// refresh gives r a new TTL and moves it to the back of list l.
func (t *Table) refresh(r *record, ttl uint32, l *lru) {
	r.expires, r.received = t.expiry(ttl), t.now
	r.moveTo(l)
	t.fix(r.at)
}

// reach marks r (if any) as reached by a PTR: it is no longer an orphan.
func (t *Table) reach(r *record) {
	if r == nil || r.check.IsZero() {
		return
	}
	r.check = time.Time{}
	r.moveTo(&t.reached)
	t.fix(r.at)
}

// orphan marks r (if any) as reached by no PTR: it goes after OrphanGrace
// unless one reaches it by then.
func (t *Table) orphan(r *record) {
	if r == nil || !r.check.IsZero() {
		return
	}
	r.check = t.now.Add(t.cfg.OrphanGrace)
	r.moveTo(&t.orphans)
	t.fix(r.at)
}

// makeRoom evicts a record if the table is full: the oldest orphan, or
// else the least recently refreshed record.
func (t *Table) makeRoom() {
	if len(t.heap) < t.cfg.MaxRecords {
		return
	}
	victim := t.orphans.head
	if victim == nil {
		victim = t.ptrs.head
		if r := t.reached.head; victim == nil || r != nil && r.received.Before(victim.received) {
			victim = r
		}
	}
	t.evict(victim)
}

func (t *Table) evict(r *record) {
	t.remove(r)
	t.stats.Evicted++
}

// remove takes r out of the table.
func (t *Table) remove(r *record) {
	r.list.remove(r)
	t.heapRemove(r.at)
	switch r.kind {
	case kindPTR:
		delete(t.ptr, ptrKey{r.typ, r.name})
		ps := slices.DeleteFunc(t.inst[r.name], func(p *record) bool { return p == r })
		if len(ps) == 0 {
			delete(t.inst, r.name)
			t.orphan(t.srv[r.name])
			t.orphan(t.txt[r.name])
		} else {
			t.inst[r.name] = ps
		}
		t.dirty[r.name] = struct{}{}
	case kindSRV:
		delete(t.srv, r.name)
		t.unlinkHost(r)
		t.dirty[r.name] = struct{}{}
	case kindTXT:
		delete(t.txt, r.name)
		t.dirty[r.name] = struct{}{}
	case kindAddr:
		set := t.addrs[r.name]
		delete(set, r.addr)
		if len(set) == 0 {
			delete(t.addrs, r.name)
		}
		t.dirtyHost(r.name)
	}
}

// Expire removes the records whose TTL has run out by now, and the
// orphans whose grace has, and returns the changes to the table.
func (t *Table) Expire(now time.Time) []Change {
	t.now = now
	for len(t.heap) > 0 && !now.Before(t.heap[0].deadline()) {
		r := t.heap[0]
		switch {
		case !now.Before(r.expires):
			t.remove(r)
		case t.reachable(r):
			t.reach(r)
		default:
			t.remove(r)
			t.stats.Orphaned++
		}
	}
	return t.changes()
}

// reachable reports whether a PTR reaches r (through an SRV record for an
// address).
func (t *Table) reachable(r *record) bool {
	switch r.kind {
	case kindAddr:
		return len(t.hosts[r.name]) > 0
	case kindSRV, kindTXT:
		return len(t.inst[r.name]) > 0
	}
	return true
}

// NextExpiry returns the earliest time the table has work for Expire (a
// record's TTL or an orphan's grace runs out), or the zero Time for an
// empty table.
func (t *Table) NextExpiry() time.Time {
	if len(t.heap) == 0 {
		return time.Time{}
	}
	return t.heap[0].deadline()
}

// Services returns the services in the table, sorted by type and name.
func (t *Table) Services() []Service {
	out := make([]Service, 0, len(t.inst))
	for inst := range t.inst {
		out = append(out, t.service(inst))
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Instance, b.Instance))
	})
	return out
}

// service describes instance inst, which has a PTR record. An instance
// announced under several types (subtypes) is described by its first.
func (t *Table) service(inst string) Service {
	p := t.inst[inst][0]
	typ, domain, _ := serviceType(p.owner)
	label := p.target[:len(p.target)-len(p.owner)-1]
	s := Service{Instance: p.target, Name: unescape(label), Type: typ, Domain: domain, Expires: p.expires}
	if srv := t.srv[inst]; srv != nil {
		s.Host, s.Port = srv.host, srv.port
		for a := range t.addrs[srv.hostKey] {
			s.Addrs = append(s.Addrs, a)
		}
		slices.SortFunc(s.Addrs, netip.Addr.Compare)
	}
	if txt := t.txt[inst]; txt != nil {
		s.TXT = txt.txt
	}
	return s
}

// changes compares the instances that the Update or Expire under way
// touched with what was last reported.
func (t *Table) changes() []Change {
	var changes []Change
	for inst := range t.dirty {
		old, had := t.last[inst]
		if len(t.inst[inst]) == 0 {
			if had {
				changes = append(changes, Change{Kind: Removed, Service: old, At: t.now})
				delete(t.last, inst)
			}
			continue
		}
		s := t.service(inst)
		switch {
		case !had:
			changes = append(changes, Change{Kind: Added, Service: s, At: t.now})
		case !old.same(&s):
			changes = append(changes, Change{Kind: Updated, Service: s, At: t.now})
		}
		t.last[inst] = s
	}
	clear(t.dirty)
	slices.SortStableFunc(changes, func(a, b Change) int {
		return cmp.Compare(a.Service.Instance, b.Service.Instance)
	})
	return changes
}

// The heap of records by deadline: up, down, fix and heapRemove keep each
// record's index (at) current.

func (t *Table) less(i, j int) bool { return t.heap[i].deadline().Before(t.heap[j].deadline()) }

func (t *Table) swap(i, j int) {
	h := t.heap
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}

func (t *Table) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !t.less(j, i) {
			break
		}
		t.swap(i, j)
		j = i
	}
}

func (t *Table) down(i int) bool {
	i0, n := i, len(t.heap)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && t.less(j2, j) {
			j = j2
		}
		if !t.less(j, i) {
			break
		}
		t.swap(i, j)
		i = j
	}
	return i > i0
}

func (t *Table) fix(i int) {
	if !t.down(i) {
		t.up(i)
	}
}

func (t *Table) heapRemove(i int) {
	n := len(t.heap) - 1
	if i != n {
		t.swap(i, n)
	}
	t.heap[n] = nil
	t.heap = t.heap[:n]
	if i != n {
		t.fix(i)
	}
}

// serviceType splits a PTR owner such as "_ipp._tcp.local." into the type
// "_ipp._tcp" and the domain "local", and reports whether it is a service
// type (a "_name" label, then "_tcp" or "_udp").
func serviceType(owner string) (typ, domain string, ok bool) {
	labels := dns.SplitDomainName(owner)
	if len(labels) < 3 || !strings.HasPrefix(labels[0], "_") {
		return "", "", false
	}
	proto := strings.ToLower(labels[1])
	if proto != "_tcp" && proto != "_udp" {
		return "", "", false
	}
	return labels[0] + "." + labels[1], strings.Join(labels[2:], "."), true
}

// unescape turns a label in presentation format ("My\ Printer",
// "a\.b", "caf\195\169") back into its bytes.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n, _ := strconv.Atoi(s[i+1 : i+4])
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
