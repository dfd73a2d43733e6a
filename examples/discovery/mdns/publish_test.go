package mdns_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sharecast/sharecast/examples/discovery/internal/mdnstest"
	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// publish makes a publishes p and returns its events.
func publish(t *testing.T, a *mdns.Agent, p mdns.Publication) <-chan mdns.PublishEvent {
	t.Helper()
	ev := make(chan mdns.PublishEvent, 100)
	if err := a.Publish(p, func(e mdns.PublishEvent) { ev <- e }); err != nil {
		t.Fatal(err)
	}
	return ev
}

// waitEvent waits for an event of kind and returns it.
func waitEvent(t *testing.T, ev <-chan mdns.PublishEvent, kind mdns.PublishEventKind) mdns.PublishEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-ev:
			t.Logf("publish: %s %q", e.Kind, e.Name)
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within 20 s", kind)
		}
	}
}

// TestPublishOnLo: an agent publishes a service on lo; another agent
// sees it announced, finds it again by a one-shot query from a socket of
// its own (answered by unicast), and sees it go when the first stops
// (goodbyes); a third agent publishing the same name is renamed.
func TestPublishOnLo(t *testing.T) {
	testbed.Require(t)
	b, bchanges := startAgent(t, "lo")
	a, _ := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}})
	ev := publish(t, a, mdns.Publication{Name: "Lo Test", Type: "_lotest._tcp", Port: 4242, TXT: []string{"a=1", "b=two"}, Host: "lohost"})
	waitEvent(t, ev, mdns.Probing)
	e := waitEvent(t, ev, mdns.Established)
	const instance = `Lo\ Test._lotest._tcp.local.`
	if e.Name != "Lo Test" || e.Instance != instance || e.Host != "lohost.local." {
		t.Errorf("established %+v", e)
	}
	s := waitChange(t, bchanges, mdns.Added, instance, 10*time.Second)
	if s.Port != 4242 || s.Host != "lohost.local." || !slices.Equal(s.TXT, []string{"a=1", "b=two"}) ||
		!slices.Contains(s.Addrs, netip.MustParseAddr("127.0.0.1")) || !slices.Contains(s.Addrs, netip.MustParseAddr("::1")) {
		t.Errorf("service %+v", s)
	}

	// A one-shot query from another agent's own socket: the answers come
	// by unicast to it.
	c, cchanges := startAgent(t, "lo")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	n, err := c.QueryOneShot(ctx, "_lotest._tcp")
	cancel()
	if err != nil || n < 2 { // one answer a family
		t.Errorf("one-shot query: %d answers, %v", n, err)
	}
	waitChange(t, cchanges, mdns.Added, instance, 5*time.Second)
	if st := a.PublishStats(); st.AnsweredUnicast < 2 || st.Probes < 6 || st.Announcements < 2 {
		t.Errorf("publish stats %+v", st)
	}

	// The same name from a third agent: renamed.
	ev2 := publish(t, c, mdns.Publication{Name: "Lo Test", Type: "_lotest._tcp", Port: 4343, Host: "lohost2"})
	waitEvent(t, ev2, mdns.Conflict)
	e = waitEvent(t, ev2, mdns.Established)
	if e.Name != "Lo Test (2)" {
		t.Errorf("renamed to %q", e.Name)
	}
	waitChange(t, bchanges, mdns.Added, `Lo\ Test\ \(2\)._lotest._tcp.local.`, 10*time.Second)

	// Stopping sends goodbyes.
	if err := a.Unpublish(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ev, mdns.Withdrawn)
	waitChange(t, bchanges, mdns.Removed, instance, 10*time.Second)
	if got := b.Services(); len(got) != 1 || got[0].Name != "Lo Test (2)" {
		t.Errorf("services %+v", got)
	}
}

// TestPublishQueryFlood: 1,000 queries for the published service, by
// multicast from port 5353 and then from another port (legacy, answered
// by unicast), are each answered or counted as held back, and most are
// held back: a record is multicast at most once a second, unicast
// answers are rate-limited.
func TestPublishQueryFlood(t *testing.T) {
	testbed.Require(t)
	a, _ := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}, NoIPv6: true})
	ev := publish(t, a, mdns.Publication{Name: "Flood", Type: "_flood-pub._tcp", Port: 1, Host: "floodhost"})
	waitEvent(t, ev, mdns.Established)
	q := new(dns.Msg)
	q.SetQuestion("_flood-pub._tcp.local.", dns.TypePTR)
	q.RecursionDesired = false
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	send := func(s interface{ Send([]byte) error }) {
		for i := range n {
			if i%32 == 0 {
				if err := testbed.Pace(mdns.Port, 64<<10, 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Send(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := a.PublishStats()
	send(mdnstest.NewResponder(t, mdns.GroupIPv4)) // from port 5353: multicast answers
	waitPublishStats(t, a, func(st mdns.PublishStats) bool {
		return st.Answered+st.Suppressed-before.Answered-before.Suppressed == n
	})
	mid := a.PublishStats()
	if got := mid.Answered - before.Answered; got >= n/2 {
		t.Errorf("%d of %d queries answered by multicast", got, n)
	}
	send(testbed.NewSender(t, netip.AddrPortFrom(mdns.GroupIPv4, mdns.Port), nil, netip.Addr{})) // another port: unicast
	st := waitPublishStats(t, a, func(st mdns.PublishStats) bool {
		return st.AnsweredUnicast+st.Suppressed-mid.AnsweredUnicast-mid.Suppressed == n
	})
	if got := st.AnsweredUnicast - mid.AnsweredUnicast; got >= n/2 {
		t.Errorf("%d of %d queries answered by unicast", got, n)
	}
	t.Logf("stats %+v", st)
}

func waitPublishStats(t *testing.T, a *mdns.Agent, cond func(mdns.PublishStats) bool) mdns.PublishStats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := a.PublishStats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 20 s: %+v", st)
		}
		time.Sleep(5 * time.Millisecond) // polls the counters
	}
}

// TestPublishQU: a question with the unicast-response bit, from port
// 5353, is answered by unicast to where it came from (RFC 6762 section
// 5.4), as a normal mDNS response: no question echoed, the cache-flush
// bit on the unique records. The asking socket is bound last to port
// 5353, so the kernel gives it the answer.
func TestPublishQU(t *testing.T) {
	testbed.Require(t)
	a, _ := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}, NoIPv6: true})
	ev := publish(t, a, mdns.Publication{Name: "QU", Type: "_qu._udp", Port: 9, Host: "quhost"})
	waitEvent(t, ev, mdns.Established)
	c, err := mcast.Listen(context.Background(), "udp4", ":5353", &mcast.Config{ReadBuffer: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := new(dns.Msg)
	q.Question = []dns.Question{{Name: `QU._qu._udp.local.`, Qtype: dns.TypeSRV, Qclass: dns.ClassINET | 1<<15}}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	before := a.PublishStats()
	if _, err := c.UDPConn().WriteToUDPAddrPort(b, netip.AddrPortFrom(mdns.GroupIPv4, mdns.Port)); err != nil {
		t.Fatal(err)
	}
	c.UDPConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 9000)
	for {
		n, src, err := c.UDPConn().ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no unicast answer: %v", err)
		}
		var r dns.Msg
		if r.Unpack(buf[:n]) != nil || !r.Response {
			continue // our own question, looped back
		}
		if src.Port() != mdns.Port || len(r.Question) != 0 || len(r.Answer) != 1 {
			t.Fatalf("answer from %v: %v", src, &r)
		}
		srv, ok := r.Answer[0].(*dns.SRV)
		if !ok || srv.Port != 9 || srv.Target != "quhost.local." || srv.Hdr.Class != dns.ClassINET|1<<15 {
			t.Errorf("answer %v", r.Answer[0])
		}
		break
	}
	if st := a.PublishStats(); st.AnsweredUnicast != before.AnsweredUnicast+1 || st.Answered != before.Answered {
		t.Errorf("stats %+v, before %+v", st, before)
	}
}

// TestPublishHostConflict: a response that gives the published host name
// an address of another host renames the host ("host-2"), not the
// service, and the service is announced again under it.
func TestPublishHostConflict(t *testing.T) {
	testbed.Require(t)
	_, bchanges := startAgent(t, "lo")
	a, _ := startAgentWith(t, &mdns.Config{Interfaces: []string{"lo"}, NoIPv6: true})
	ev := publish(t, a, mdns.Publication{Name: "Hosted", Type: "_hosted._tcp", Port: 5, Host: "taken"})
	waitEvent(t, ev, mdns.Established)
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "taken.local.", Rrtype: dns.TypeA, Class: dns.ClassINET | 1<<15, Ttl: 120}, A: net.IPv4(10, 9, 9, 9)}}
	mdnstest.NewResponder(t, mdns.GroupIPv4).SendAll(t, m)
	e := waitEvent(t, ev, mdns.Conflict)
	if e.Name != "Hosted" || e.Host != "taken-2.local." {
		t.Errorf("conflict %+v", e)
	}
	waitEvent(t, ev, mdns.Established)
	for {
		s := waitChange(t, bchanges, mdns.Updated, `Hosted._hosted._tcp.local.`, 10*time.Second)
		if s.Host == "taken-2.local." {
			break
		}
	}
	if st := a.PublishStats(); st.Conflicts != 1 {
		t.Errorf("stats %+v", st)
	}
}
