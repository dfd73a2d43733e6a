package dispatch_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// The Receiver that Listen opens joins its groups again when their
// interface comes back, with no call to it: r0 is deleted (its membership
// is lost, and counted) and created again, and datagrams sent after that
// reach the handler, the re-join counted by the socket's Set. (The
// watcher itself is group's; TestLinkFlap there takes it through every
// kind of change.)
func TestListenRejoinsWhenTheLinkComesBack(t *testing.T) {
	testbed.Require(t)
	ha := testbed.NewHost(t, "a")
	r0, a0 := netip.MustParsePrefix("10.98.0.1/24"), netip.MustParsePrefix("10.98.0.2/24")
	testbed.Veth(t, nil, "r0", r0, ha, "a0", a0)
	g := netip.AddrPortFrom(netip.MustParseAddr("239.8.4.1"), freePort(t))

	var rec dispatchtest.Recorder
	r, err := dispatch.Listen(testContext(t), []string{g.String() + "%r0"}, &rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	stop := serveReceiver(t, r)
	set := r.Sockets()[0].Set

	sender := func() *mcast.Sender {
		t.Helper()
		var s *mcast.Sender
		must(t, ha.Do(func() error {
			ifi, err := net.InterfaceByName("a0")
			if err == nil {
				s, err = testbed.OpenSender(g, ifi, a0.Addr())
			}
			return err
		}))
		t.Cleanup(func() { s.Close() })
		return s
	}
	// flowing sends datagrams named what until one of them reaches the
	// handler. Bounded: the first sends may fail, or find no membership,
	// while the link and the re-join settle, and no event says when.
	flowing := func(s *mcast.Sender, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			_ = s.Send([]byte(what))
			time.Sleep(5 * time.Millisecond) // one datagram a tick, until one arrives
			for _, d := range rec.Datagrams() {
				if strings.HasPrefix(string(d.Payload), what) {
					return
				}
			}
		}
		t.Fatalf("no datagram %q reached the handler", what)
	}
	flowing(sender(), "before")

	nl, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	link, err := nl.LinkByName("r0")
	if err != nil {
		t.Fatal(err)
	}
	st := set.Stats()
	must(t, nl.LinkDel(link)) // a0 goes with it
	deadline := time.Now().Add(30 * time.Second)
	for set.Stats().Lost == st.Lost { // the watcher's count: no event to wait on
		if time.Now().After(deadline) {
			t.Fatal("the membership on the deleted r0 was not counted as lost")
		}
		time.Sleep(5 * time.Millisecond)
	}
	testbed.Veth(t, nil, "r0", r0, ha, "a0", a0)
	flowing(sender(), "after")
	if got := set.Stats(); got.Rejoins <= st.Rejoins {
		t.Errorf("set stats %+v after r0 came back, want a re-join more than %+v", got, st)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if h := r.Stats().Handlers[0]; h.Received != uint64(rec.Len()) || h.Delivered != h.Received {
		t.Errorf("handler stats %+v, recorded %d", h, rec.Len())
	}
}
