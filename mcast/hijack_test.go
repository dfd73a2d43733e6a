package mcast_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// hijackCounts is what a receiver saw: multicast and unicast datagrams.
type hijackCounts struct{ Multicast, Unicast int }

// count reads from c until it has want datagrams in all or the deadline.
func count(c *mcast.Conn, want int, deadline time.Time) hijackCounts {
	var n hijackCounts
	ds := mcast.NewBatch(64, 2048)
	c.SetReadDeadline(deadline)
	for n.Multicast+n.Unicast < want {
		k, err := c.ReadBatch(ds)
		if err != nil {
			break
		}
		for _, d := range ds[:k] {
			if d.Group.IsMulticast() {
				n.Multicast++
			} else {
				n.Unicast++
			}
		}
	}
	return n
}

// hijackHelper binds a port as any-user, accepting unicast too, joins a
// group, says "ready", and prints what it received within the deadline.
func hijackHelper(args []string) int {
	fs := flag.NewFlagSet("hijack", flag.ContinueOnError)
	group := fs.String("group", "", "group:port")
	want := fs.Int("want", 0, "stop after this many datagrams")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	g := netip.MustParseAddrPort(*group)
	c, err := mcast.Listen(context.Background(), "udp4", fmt.Sprintf(":%d", g.Port()), &mcast.Config{AcceptUnicast: true})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer c.Close()
	ifi, _ := net.InterfaceByName("lo")
	if err := c.JoinGroup(ifi, g.Addr()); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	json.NewEncoder(os.Stdout).Encode(count(c, *want, time.Now().Add(3*time.Second)))
	return 0
}

func init() { testbed.Register("hijack", hijackHelper) }

// Issue 8, hijacking: a process of another user (uid 65534) that sets
// SO_REUSEADDR joins an any-user port: it receives every multicast datagram
// of the group and takes unicast datagrams meant for the port's owner.
// (Same-user and exclusive ports refuse it: TestShareModesOtherUser.)
func TestHijackAnyUserPort(t *testing.T) {
	testbed.RequireRoot(t)
	g := netip.MustParseAddrPort("239.1.2.3:5600")
	victim := listen(t, "udp4", fmt.Sprintf(":%d", g.Port()), &mcast.Config{AcceptUnicast: true})
	if err := victim.JoinGroup(lo(t), g.Addr()); err != nil {
		t.Fatal(err)
	}
	const n = 100
	cmd := testbed.Command(t, "hijack", "-group", g.String(), "-want", fmt.Sprint(2*n))
	testbed.AsUser(t, cmd, 65534, 65534)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("hijacker: %q", sc.Text())
	}
	s := testbed.NewSender(t, g, lo(t), netip.Addr{})
	u, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(g.Port())})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := 0; i < n; i++ {
		s.Send([]byte("multicast"))
		u.Write([]byte("unicast"))
	}
	mine := count(victim, 2*n, time.Now().Add(1*time.Second))
	var theirs hijackCounts
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &theirs) != nil {
		t.Fatalf("hijacker output %q", sc.Text())
	}
	t.Logf("owner (root) got %+v; uid 65534 got %+v", mine, theirs)
	if theirs.Multicast != n || mine.Multicast != n {
		t.Errorf("multicast: owner %d, other user %d; want %d each (multicast reaches every socket on the port)", mine.Multicast, theirs.Multicast, n)
	}
	if mine.Unicast+theirs.Unicast != n || theirs.Unicast == 0 {
		t.Errorf("unicast: owner %d, other user %d; want all %d delivered and the other user to take some", mine.Unicast, theirs.Unicast, n)
	}
}

// Issue 8, bad input: a datagram of 0 bytes and one of 65,507 bytes (the
// largest over IPv4) are received whole.
func TestDatagramSizeLimits(t *testing.T) {
	testbed.Require(t)
	g := groups[0].group
	c := listen(t, "udp4", fmt.Sprintf(":%d", g.Port()), nil)
	if err := c.JoinGroup(lo(t), g.Addr()); err != nil {
		t.Fatal(err)
	}
	s := testbed.NewSender(t, g, lo(t), netip.Addr{})
	big := payload(7, 65507)
	if err := s.Send(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(big); err != nil {
		t.Fatal(err)
	}
	ds := mcast.NewBatch(2, 0) // 0: 65,535-byte buffers
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := 0
	for got < 2 {
		n, err := c.ReadBatch(ds[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if len(ds[0].Payload) != 0 || string(ds[1].Payload) != string(big) {
		t.Fatalf("got %d and %d bytes", len(ds[0].Payload), len(ds[1].Payload))
	}
	if st := c.Stats(); st.Datagrams != 2 || st.Bytes != 65507 || st.Truncated != 0 {
		t.Errorf("stats %+v", st)
	}
}
