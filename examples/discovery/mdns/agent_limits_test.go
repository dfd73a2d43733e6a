package mdns_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sharecast/sharecast/examples/discovery/internal/mdnstest"
	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/internal/testbed"
)

// The attacks of issue 17's finding 4 over real sockets: an Agent on lo
// in the test bed, the attacker a responder socket on port 5353 beside it.

// realAfter announces the real service "real" and waits for it to be
// added: the agent has handled everything sent before.
func realAfter(t *testing.T, r *mdnstest.Responder, c *collector) mdns.Service {
	t.Helper()
	r.SendAll(t, response("real", "_http._tcp", "real.local.", 80, 120, "10.9.9.9"))
	return waitChange(t, c.changes, mdns.Added, "real._http._tcp.local.", 10*time.Second)
}

// TestAgentPTRFlood: 20,000 PTR records with TTL 2^32-1 in 50 packets
// leave MaxServices services, the others evicted and counted, every TTL
// clamped; a real service announced afterwards is seen.
func TestAgentPTRFlood(t *testing.T) {
	testbed.Require(t)
	a, c := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}, NoIPv6: true, Table: mdns.TableConfig{MaxServices: 500, MaxRecords: 1000}})
	r := mdnstest.NewResponder(t, mdns.GroupIPv4)
	r.SendAll(t, mdnstest.PTRFlood(0, 20000, 400, mdnstest.HugeTTL)...)
	s := realAfter(t, r, c)
	flood, _ := c.counts()
	st := a.Stats()
	if st.Packets != 51 || st.Services != 500 || st.Records != 503 || st.Evicted != 19501 || st.Clamped != 20000 ||
		flood[mdns.Added] != 20000 || flood[mdns.Removed] != 19501 {
		t.Errorf("stats %+v, flood changes %v", st, flood)
	}
	if s.Port != 80 || len(s.Addrs) != 1 || s.Expires.After(time.Now().Add(120*time.Second)) {
		t.Errorf("real service %+v", s)
	}
}

// TestAgentOrphanAddrs: 30,000 A records that no PTR reaches (in 100
// packets) leave the
// table at MaxRecords, with no service; a real service announced
// afterwards evicts orphans, not the other way round, and is seen.
func TestAgentOrphanAddrs(t *testing.T) {
	testbed.Require(t)
	// A long grace, so that no orphan goes by time while the test runs
	// (TestTableOrphans checks the grace).
	a, c := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}, NoIPv6: true, Table: mdns.TableConfig{OrphanGrace: time.Hour}})
	r := mdnstest.NewResponder(t, mdns.GroupIPv4)
	r.SendAll(t, mdnstest.AddrFlood(0, 30000, 300, "", mdnstest.HugeTTL)...)
	if st := a.Stats(); st.Services != 0 || st.Records > mdns.DefaultMaxRecords {
		t.Errorf("stats %+v during the flood", st)
	}
	realAfter(t, r, c)
	st := a.Stats()
	if st.Packets != 101 || st.Services != 1 || st.Records != mdns.DefaultMaxRecords || st.Evicted != 30004-mdns.DefaultMaxRecords || st.Clamped != 30000 {
		t.Errorf("stats %+v", st)
	}
	if ss := a.Services(); len(ss) != 1 || len(ss[0].Addrs) != 1 {
		t.Errorf("services %+v", ss)
	}
}

// TestAgentManyAddrs: 30,000 addresses for one service's host leave
// MaxAddrsPerHost of them, in the table and in every change reported, the
// others evicted and counted.
func TestAgentManyAddrs(t *testing.T) {
	testbed.Require(t)
	a, c := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}, NoIPv6: true})
	r := mdnstest.NewResponder(t, mdns.GroupIPv4)
	realAfter(t, r, c)
	r.SendAll(t, mdnstest.AddrFlood(0, 30000, 400, "real.local.", 120)...)
	r.SendAll(t, response("marker", "_http._tcp", "marker.local.", 80, 120))
	waitChange(t, c.changes, mdns.Added, "marker._http._tcp.local.", 10*time.Second)
	_, most := c.counts()
	st := a.Stats()
	if st.Packets != 77 || st.AddrsEvicted != 30001-mdns.DefaultMaxAddrsPerHost || most != mdns.DefaultMaxAddrsPerHost {
		t.Errorf("stats %+v, at most %d addresses in a change", st, most)
	}
	if ss := a.Services(); len(ss) != 2 || len(ss[1].Addrs) != mdns.DefaultMaxAddrsPerHost {
		t.Errorf("services %+v", ss)
	}
}

// TestAgentWrongPort: a response from a port other than 5353 is not a
// multicast DNS response (RFC 6762 section 6): dropped and counted, over
// IPv4 and IPv6; a query from any port is only a query.
func TestAgentWrongPort(t *testing.T) {
	testbed.Require(t)
	a, c := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}})
	for _, g := range []netip.Addr{mdns.GroupIPv4, mdns.GroupIPv6} {
		spoof, err := response("spoof", "_http._tcp", "spoof.local.", 80, 120, "10.6.6.6").Pack()
		if err != nil {
			t.Fatal(err)
		}
		q := new(dns.Msg)
		q.SetQuestion("_http._tcp.local.", dns.TypePTR)
		query, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		s := testbed.NewSender(t, netip.AddrPortFrom(g, mdns.Port), nil, netip.Addr{})
		for _, b := range [][]byte{spoof, query} {
			if err := s.Send(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	realAfter(t, mdnstest.NewResponder(t, mdns.GroupIPv4), c)
	// The IPv6 socket's datagrams reach the handler by a reader of their
	// own, in no order with the IPv4 ones: wait until all five are handled.
	st := a.Stats()
	for deadline := time.Now().Add(10 * time.Second); st.Packets < 5 && time.Now().Before(deadline); st = a.Stats() {
		time.Sleep(5 * time.Millisecond) // polling a counter; the agent has no signal for "handled"
	}
	if st.WrongPort != 2 || st.Queries != 2 || st.Services != 1 {
		t.Errorf("stats %+v", st)
	}
	if ss := a.Services(); len(ss) != 1 || ss[0].Name != "real" {
		t.Errorf("services %+v", ss)
	}
}
