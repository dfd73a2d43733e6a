package mdns_test

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sharecast/sharecast/examples/discovery/mdns"
)

var t0 = time.Date(2024, 6, 7, 12, 0, 0, 0, time.UTC)

// response builds an mDNS response announcing instance name of type typ
// on host, with ttl, as a responder would (cache-flush on the unique
// records).
func response(name, typ, host string, port uint16, ttl uint32, addrs ...string) *dns.Msg {
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	owner := typ + ".local."
	inst := name + "." + owner
	hdr := func(n string, t uint16, unique bool) dns.RR_Header {
		class := uint16(dns.ClassINET)
		if unique {
			class |= 0x8000
		}
		return dns.RR_Header{Name: n, Rrtype: t, Class: class, Ttl: ttl}
	}
	m.Answer = append(m.Answer,
		&dns.PTR{Hdr: hdr(owner, dns.TypePTR, false), Ptr: inst},
		&dns.SRV{Hdr: hdr(inst, dns.TypeSRV, true), Port: port, Target: host},
		&dns.TXT{Hdr: hdr(inst, dns.TypeTXT, true), Txt: []string{"a=1", "b"}})
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip.To4() != nil {
			m.Extra = append(m.Extra, &dns.A{Hdr: hdr(host, dns.TypeA, true), A: ip.To4()})
		} else {
			m.Extra = append(m.Extra, &dns.AAAA{Hdr: hdr(host, dns.TypeAAAA, true), AAAA: ip})
		}
	}
	return m
}

func kinds(cs []mdns.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind.String()+" "+c.Service.Instance)
	}
	return out
}

func TestTableLifecycle(t *testing.T) {
	tb := newTable(t, nil)
	cs := tb.Update(response(`My\ Printer`, "_ipp._tcp", "printer.local.", 631, 120, "10.0.0.5", "fe80::5"), t0)
	if len(cs) != 1 || cs[0].Kind != mdns.Added {
		t.Fatalf("changes %v", kinds(cs))
	}
	s := cs[0].Service
	want := mdns.Service{Instance: `My\ Printer._ipp._tcp.local.`, Name: "My Printer", Type: "_ipp._tcp", Domain: "local",
		Host: "printer.local.", Port: 631, TXT: []string{"a=1", "b"},
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fe80::5")}, Expires: t0.Add(120 * time.Second)}
	if s.Instance != want.Instance || s.Name != want.Name || s.Type != want.Type || s.Domain != want.Domain || s.Host != want.Host ||
		s.Port != want.Port || !slices.Equal(s.TXT, want.TXT) || !slices.Equal(s.Addrs, want.Addrs) || !s.Expires.Equal(want.Expires) {
		t.Errorf("service %+v\nwant    %+v", s, want)
	}

	// The same announcement again, later: the TTL is refreshed, no change.
	if cs := tb.Update(response(`My\ Printer`, "_ipp._tcp", "printer.local.", 631, 120, "10.0.0.5", "fe80::5"), t0.Add(60*time.Second)); len(cs) != 0 {
		t.Errorf("a refresh changed %v", kinds(cs))
	}
	// A new address, cache-flush, more than a second after the last
	// announcement: it replaces the old IPv4 one (and refreshes the rest).
	cs = tb.Update(response(`My\ Printer`, "_ipp._tcp", "printer.local.", 631, 120, "10.0.0.6"), t0.Add(62*time.Second))
	if len(cs) != 1 || cs[0].Kind != mdns.Updated ||
		!slices.Equal(cs[0].Service.Addrs, []netip.Addr{netip.MustParseAddr("10.0.0.6"), netip.MustParseAddr("fe80::5")}) {
		t.Errorf("address change: %v %+v", kinds(cs), cs)
	}
	// fe80::5, last announced at 60s, expires at 180s: an update.
	if cs := tb.Expire(t0.Add(180 * time.Second)); len(cs) != 1 || cs[0].Kind != mdns.Updated ||
		!slices.Equal(cs[0].Service.Addrs, []netip.Addr{netip.MustParseAddr("10.0.0.6")}) {
		t.Errorf("address expiry: %v %+v", kinds(cs), cs)
	}
	// Nothing else expires before its TTL...
	if cs := tb.Expire(t0.Add(181 * time.Second)); len(cs) != 0 {
		t.Errorf("expired early: %v", kinds(cs))
	}
	// ...and what was announced at 62s goes at 182s.
	cs = tb.Expire(t0.Add(182 * time.Second))
	if len(cs) != 1 || cs[0].Kind != mdns.Removed {
		t.Errorf("expiry: %v", kinds(cs))
	}
	if len(tb.Services()) != 0 || !tb.NextExpiry().IsZero() {
		t.Errorf("left: %+v, next expiry %v", tb.Services(), tb.NextExpiry())
	}
}

// TestGoodbye: a record with TTL 0 goes one second later (RFC 6762
// section 10.1).
func TestGoodbye(t *testing.T) {
	tb := newTable(t, nil)
	tb.Update(response("svc", "_http._tcp", "h.local.", 80, 4500, "10.0.0.1"), t0)
	bye := new(dns.Msg)
	bye.Response = true
	bye.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: "_http._tcp.local.", Rrtype: dns.TypePTR, Class: dns.ClassINET}, Ptr: "svc._http._tcp.local."}}
	if cs := tb.Update(bye, t0.Add(time.Second)); len(cs) != 0 {
		t.Errorf("goodbye removed at once: %v", kinds(cs))
	}
	if next := tb.NextExpiry(); !next.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("next expiry %v, want %v", next, t0.Add(2*time.Second))
	}
	if cs := tb.Expire(t0.Add(2 * time.Second)); len(cs) != 1 || cs[0].Kind != mdns.Removed {
		t.Errorf("after the goodbye: %v", kinds(cs))
	}
}

// TestIgnored: queries, reverse-address PTRs, service-type enumeration and
// subtypes are not services.
func TestIgnored(t *testing.T) {
	tb := newTable(t, nil)
	q := response("svc", "_http._tcp", "h.local.", 80, 120)
	q.Response = false
	rev := new(dns.Msg)
	rev.Response = true
	ptr := func(owner, target string) dns.RR {
		return &dns.PTR{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 120}, Ptr: target}
	}
	rev.Answer = []dns.RR{
		ptr("1.0.0.10.in-addr.arpa.", "h.local."),
		ptr("_services._dns-sd._udp.local.", "_http._tcp.local."),
		ptr("_printer._sub._http._tcp.local.", "svc._http._tcp.local."),
		ptr("_http._tcp.local.", "elsewhere.example."),
	}
	for _, m := range []*dns.Msg{q, rev} {
		if cs := tb.Update(m, t0); len(cs) != 0 {
			t.Errorf("changes from %v", kinds(cs))
		}
	}
}

func TestChangeKind(t *testing.T) {
	for k, want := range map[mdns.ChangeKind]string{mdns.Added: "added", mdns.Updated: "updated", mdns.Removed: "removed", 9: "ChangeKind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}

func newTable(t testing.TB, cfg *mdns.TableConfig) *mdns.Table {
	t.Helper()
	tb, err := mdns.NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}
