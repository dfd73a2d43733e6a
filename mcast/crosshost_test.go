package mcast_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// twoGroupsOneSocketEach opens two sockets of mode share on one port in the
// test's namespace, joined to two groups on the veth from a sender host,
// sends from eight source ports to both groups, and returns what each
// socket got: datagrams per group, and Stats.
func twoGroupsOneSocketEach(t *testing.T, share mcast.Share) ([2]map[netip.Addr]int, [2]mcast.Stats, int) {
	t.Helper()
	snd := testbed.NewHost(t, "snd")
	testbed.Veth(t, snd, "s0", netip.MustParsePrefix("10.9.0.1/24"), nil, "r0", netip.MustParsePrefix("10.9.0.2/24"))
	r0, err := net.InterfaceByName("r0")
	if err != nil {
		t.Fatal(err)
	}
	gs := [2]netip.AddrPort{netip.MustParseAddrPort("239.1.1.1:5700"), netip.MustParseAddrPort("239.2.2.2:5700")}
	var conns [2]*mcast.Conn
	for i := range conns {
		conns[i] = listen(t, "udp4", ":5700", &mcast.Config{Share: share})
		if err := conns[i].JoinGroup(r0, gs[i].Addr()); err != nil {
			t.Fatal(err)
		}
	}
	const per = 10
	sent := 0
	err = snd.Do(func() error {
		s0, err := net.InterfaceByName("s0")
		if err != nil {
			return err
		}
		for k := 0; k < 8; k++ { // eight source ports: eight flows to hash
			for _, g := range gs {
				s, err := testbed.OpenSender(g, s0, netip.Addr{})
				if err != nil {
					return err
				}
				for j := 0; j < per; j++ {
					if err := s.Send([]byte(g.Addr().String())); err != nil {
						s.Close()
						return err
					}
					sent++
				}
				s.Close()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got [2]map[netip.Addr]int
	var st [2]mcast.Stats
	for i, c := range conns {
		got[i] = map[netip.Addr]int{}
		ds := mcast.NewBatch(64, 2048)
		// Everything was sent before: read until the queue is empty.
		for {
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.ReadBatch(ds)
			for _, d := range ds[:n] {
				got[i][d.Group]++
			}
			if err != nil {
				break
			}
		}
		st[i] = c.Stats()
	}
	return got, st, sent
}

// Sockets of the default mode that share a port and join different groups
// each get exactly their group's datagrams, whatever flow they come on.
// With SO_REUSEPORT set (as before this test), Linux's early demux sent
// whole flows to the wrong socket.
func TestShareDifferentGroupsAcrossHosts(t *testing.T) {
	testbed.Require(t)
	got, st, sent := twoGroupsOneSocketEach(t, mcast.ShareAnyUser)
	want := sent / 2
	for i, g := range []string{"239.1.1.1", "239.2.2.2"} {
		if got[i][netip.MustParseAddr(g)] != want || len(got[i]) != 1 || st[i].Filtered != 0 {
			t.Errorf("socket joined to %s got %v (filtered %d), want %d of its own group only", g, got[i], st[i].Filtered, want)
		}
	}
}

// Same-user sockets need SO_REUSEPORT and may get each other's datagrams
// when they join different groups (the kernel behaviour in the package
// doc). Every datagram is still accounted for: received by the socket
// that joined, or filtered, and counted, by the other.
func TestShareSameUserDifferentGroupsAccounting(t *testing.T) {
	testbed.Require(t)
	got, st, sent := twoGroupsOneSocketEach(t, mcast.ShareSameUser)
	total := 0
	for i := range got {
		for _, n := range got[i] {
			total += n
		}
		total += int(st[i].Filtered)
	}
	t.Logf("same-user: socket 0 got %v, filtered %d; socket 1 got %v, filtered %d",
		got[0], st[0].Filtered, got[1], st[1].Filtered)
	if total != sent {
		t.Errorf("received + filtered = %d, want the %d sent", total, sent)
	}
	for i, g := range []string{"239.1.1.1", "239.2.2.2"} {
		if n := len(got[i]); n > 1 || (n == 1 && got[i][netip.MustParseAddr(g)] == 0) {
			t.Errorf("socket joined to %s passed on another group's datagrams: %v", g, got[i])
		}
	}
}

// IPv6 delivers a group's datagrams to every socket that joined the group,
// on any interface, once some socket joined it on the interface they came
// in on (IPv4 checks the interface). The destination check compares the
// interface too: a socket that joined ff15::5 on r0 does not pass on what
// arrives on lo for another socket's membership there.
func TestIPv6MembershipInterface(t *testing.T) {
	testbed.Require(t)
	snd := testbed.NewHost(t, "snd6")
	testbed.Veth(t, snd, "s0", netip.Prefix{}, nil, "r0", netip.Prefix{})
	r0, err := net.InterfaceByName("r0")
	if err != nil {
		t.Fatal(err)
	}
	g := netip.MustParseAddrPort("[ff15::5]:5800")
	onR0 := listen(t, "udp6", ":5800", nil)
	onLo := listen(t, "udp6", ":5800", nil)
	if err := onR0.JoinGroup(r0, g.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := onLo.JoinGroup(lo(t), g.Addr()); err != nil {
		t.Fatal(err)
	}
	s := testbed.NewSender(t, g, lo(t), netip.Addr{})
	const n = 20
	for i := 0; i < n; i++ {
		if err := s.Send([]byte("on lo")); err != nil {
			t.Fatal(err)
		}
	}
	ds := mcast.NewBatch(64, 2048)
	got := 0
	onLo.SetReadDeadline(time.Now().Add(10 * time.Second))
	for got < n {
		k, err := onLo.ReadBatch(ds)
		if err != nil {
			t.Fatal(err)
		}
		got += k
	}
	// onR0's queue holds what the kernel gave it; none of it is passed on.
	onR0.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if k, err := onR0.ReadBatch(ds); k != 0 {
		t.Fatalf("socket joined on r0 passed on %d datagrams that came in on lo (%v)", k, err)
	}
	st := onR0.Stats()
	t.Logf("socket joined on r0: %+v", st)
	if st.Filtered != n {
		t.Errorf("socket joined on r0 filtered %d, want the %d the kernel gave it", st.Filtered, n)
	}
}
