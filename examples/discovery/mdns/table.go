package mdns

import (
	"cmp"
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

type ptrKey struct{ typ, instance string } // lower case

type ptrEntry struct {
	owner, target string // as received
	expires       time.Time
}

type srvEntry struct {
	host     string
	port     uint16
	expires  time.Time
	received time.Time
}

type txtEntry struct {
	txt      []string
	expires  time.Time
	received time.Time
}

type addrEntry struct {
	expires  time.Time
	received time.Time
}

// Table is the cache of service records that the agent keeps, fed with
// mDNS responses. It is not safe for concurrent use; the Agent guards it.
type Table struct {
	ptr   map[ptrKey]ptrEntry
	srv   map[string]srvEntry
	txt   map[string]txtEntry
	addrs map[string]map[netip.Addr]addrEntry // host -> address
	last  map[string]Service                  // instance -> as last reported
}

// NewTable returns an empty Table.
func NewTable() *Table {
	return &Table{
		ptr:   map[ptrKey]ptrEntry{},
		srv:   map[string]srvEntry{},
		txt:   map[string]txtEntry{},
		addrs: map[string]map[netip.Addr]addrEntry{},
		last:  map[string]Service{},
	}
}

// goodbyeDelay is how long a record with TTL 0 (a goodbye) stays: RFC 6762
// section 10.1 has receivers keep it one second, so that a goodbye sent by
// mistake can be corrected.
const goodbyeDelay = time.Second

// flushAge is how old a record must be for a cache-flush record of the
// same name and type to replace it (RFC 6762 section 10.2: one second).
const flushAge = time.Second

func expiry(ttl uint32, now time.Time) time.Time {
	if ttl == 0 {
		return now.Add(goodbyeDelay)
	}
	return now.Add(time.Duration(ttl) * time.Second)
}

// Update adds the records of an mDNS response (its answer, authority and
// additional sections) received at now, and returns the changes to the
// table. Queries, and records of other kinds, are ignored.
func (t *Table) Update(m *dns.Msg, now time.Time) []Change {
	if !m.Response {
		return nil
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			t.add(rr, now)
		}
	}
	return t.diff(now)
}

func (t *Table) add(rr dns.RR, now time.Time) {
	h := rr.Header()
	name := strings.ToLower(h.Name)
	flush := h.Class&0x8000 != 0
	exp := expiry(h.Ttl, now)
	switch r := rr.(type) {
	case *dns.PTR:
		if _, _, ok := serviceType(h.Name); !ok {
			return // reverse-address and enumeration PTRs are not services
		}
		if !strings.HasSuffix(strings.ToLower(r.Ptr), "."+name) {
			return
		}
		t.ptr[ptrKey{name, strings.ToLower(r.Ptr)}] = ptrEntry{owner: h.Name, target: r.Ptr, expires: exp}
	case *dns.SRV:
		t.srv[name] = srvEntry{host: r.Target, port: r.Port, expires: exp, received: now}
	case *dns.TXT:
		txt := r.Txt
		if len(txt) == 1 && txt[0] == "" {
			txt = nil // an empty TXT record is one empty string (RFC 6763 section 6.1)
		}
		t.txt[name] = txtEntry{txt: slices.Clone(txt), expires: exp, received: now}
	case *dns.A, *dns.AAAA:
		var a netip.Addr
		switch r := r.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(r.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(r.AAAA.To16())
		}
		if !a.IsValid() {
			return
		}
		set := t.addrs[name]
		if set == nil {
			set = map[netip.Addr]addrEntry{}
			t.addrs[name] = set
		}
		if flush {
			// The host's other addresses of the same family, if received
			// over a second ago, are replaced by this announcement.
			for old, e := range set {
				if old.Is4() == a.Is4() && old != a && now.Sub(e.received) > flushAge {
					delete(set, old)
				}
			}
		}
		set[a] = addrEntry{expires: exp, received: now}
	}
}

// Expire removes the records whose TTL has run out by now, and returns
// the changes to the table.
func (t *Table) Expire(now time.Time) []Change {
	for k, e := range t.ptr {
		if !now.Before(e.expires) {
			delete(t.ptr, k)
		}
	}
	for k, e := range t.srv {
		if !now.Before(e.expires) {
			delete(t.srv, k)
		}
	}
	for k, e := range t.txt {
		if !now.Before(e.expires) {
			delete(t.txt, k)
		}
	}
	for host, set := range t.addrs {
		for a, e := range set {
			if !now.Before(e.expires) {
				delete(set, a)
			}
		}
		if len(set) == 0 {
			delete(t.addrs, host)
		}
	}
	return t.diff(now)
}

// NextExpiry returns the earliest time a record expires, or the zero Time
// for an empty table.
func (t *Table) NextExpiry() time.Time {
	var next time.Time
	early := func(e time.Time) {
		if next.IsZero() || e.Before(next) {
			next = e
		}
	}
	for _, e := range t.ptr {
		early(e.expires)
	}
	for _, e := range t.srv {
		early(e.expires)
	}
	for _, e := range t.txt {
		early(e.expires)
	}
	for _, set := range t.addrs {
		for _, e := range set {
			early(e.expires)
		}
	}
	return next
}

// Services returns the services in the table, sorted by type and name.
func (t *Table) Services() []Service {
	var out []Service
	seen := map[string]bool{}
	for k, p := range t.ptr {
		if seen[k.instance] {
			continue // announced under several types (subtypes): once
		}
		seen[k.instance] = true
		out = append(out, t.service(k, p))
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Instance, b.Instance))
	})
	return out
}

func (t *Table) service(k ptrKey, p ptrEntry) Service {
	typ, domain, _ := serviceType(p.owner)
	label := p.target[:len(p.target)-len(p.owner)-1]
	s := Service{Instance: p.target, Name: unescape(label), Type: typ, Domain: domain, Expires: p.expires}
	if srv, ok := t.srv[k.instance]; ok {
		s.Host, s.Port = srv.host, srv.port
		for a := range t.addrs[strings.ToLower(srv.host)] {
			s.Addrs = append(s.Addrs, a)
		}
		slices.SortFunc(s.Addrs, netip.Addr.Compare)
	}
	if txt, ok := t.txt[k.instance]; ok {
		s.TXT = txt.txt
	}
	return s
}

// diff compares the table with what was last reported.
func (t *Table) diff(now time.Time) []Change {
	var changes []Change
	cur := map[string]Service{}
	for _, s := range t.Services() {
		k := strings.ToLower(s.Instance)
		cur[k] = s
		old, ok := t.last[k]
		switch {
		case !ok:
			changes = append(changes, Change{Kind: Added, Service: s, At: now})
		case !old.same(&s):
			changes = append(changes, Change{Kind: Updated, Service: s, At: now})
		}
	}
	for k, s := range t.last {
		if _, ok := cur[k]; !ok {
			changes = append(changes, Change{Kind: Removed, Service: s, At: now})
		}
	}
	slices.SortStableFunc(changes, func(a, b Change) int {
		return cmp.Compare(a.Service.Instance, b.Service.Instance)
	})
	t.last = cur
	return changes
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
