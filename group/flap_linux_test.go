package group_test

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// backWithin bounds how long a test waits for datagrams to flow again after
// a link comes back. It is a deadline for a test that would otherwise hang,
// not a latency to assert: on a loaded machine the watcher's re-join takes
// longer than on an idle one (about 0.1 s here; see the log lines), and a
// test must hold on a busy machine.
const backWithin = 30 * time.Second

// TestLinkFlap is acceptance test 3: the receiver's interface r0 goes down
// and up, loses its address and gets it back, and is deleted and created
// again. Each time, soon after the link comes back, the receiver gets
// datagrams again, of an any-source and a source-specific group, without a
// call to the Set, and the re-join is counted. A Set without a watcher, of
// another group and port, shows the difference when the interface is
// created again: its membership stays with the deleted interface. (Another
// group, because Linux delivers an IPv6 group to every socket that joined
// it, on whichever interface: the watched Set's new membership would bring
// the unwatched socket the group's datagrams.)
func TestLinkFlap(t *testing.T) {
	for i, f := range families {
		t.Run(f.name, func(t *testing.T) {
			testbed.Require(t)
			if f.name == "IPv6" {
				// New interfaces get their link-local address at once,
				// rather than after a second of duplicate address detection,
				// so that each change brings its address events at once.
				setSysctl(t, "/proc/sys/net/ipv6/conf/default/accept_dad", "0")
			}
			if f.name == "IPv4" {
				// The socket holds 2 memberships: a stale one left behind
				// by the deleted interface would make the re-join fail.
				setSysctl(t, "/proc/sys/net/ipv4/igmp_max_memberships", "2")
			}
			port, ctlPort := uint16(5200+i), uint16(5210+i)
			ha := testbed.NewHost(t, "a")
			testbed.Veth(t, nil, "r0", f.prefix(0, 1), ha, "a0", f.prefix(0, 2))
			nl, err := netlink.NewHandle()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nl.Close)

			g, ssmG, src := netip.MustParseAddr(f.group), netip.MustParseAddr(f.ssm), f.addr(0, 2)
			dst, ssmDst, ctlDst := netip.AddrPortFrom(g, port), netip.AddrPortFrom(ssmG, port), netip.AddrPortFrom(g.Next(), ctlPort)
			rc := listen(t, f.network, port)
			set := newSet(t, rc, nil)
			join(t, set, group.Spec{Group: g, Port: port, Interface: "r0"}.String())
			join(t, set, group.Spec{Group: ssmG, Port: port, Source: src, Interface: "r0"}.String())
			ctl := listen(t, f.network, ctlPort)
			join(t, newSet(t, ctl, &group.Config{NoWatch: true, Logger: testLogger(t)}), group.Spec{Group: g.Next(), Port: ctlPort, Interface: "r0"}.String())

			sa := newSender(t, ha, "a0", src)
			warm(t, sa, dst, rc)
			warm(t, sa, ctlDst, ctl)

			// phase makes a change, undoes it, and checks that the
			// watcher re-joins and datagrams flow again in time.
			phase := func(name string, change, undo func()) {
				t.Helper()
				before := set.Stats()
				change()
				undo()
				back := time.Now()
				d1 := flow(t, sa, dst, rc, name+"-any", back)
				d2 := flow(t, sa, ssmDst, rc, name+"-ssm", back)
				waitFor(t, backWithin-time.Since(back), "re-joins after "+name, func() bool { return set.Stats().Rejoins >= before.Rejoins+2 })
				st := set.Stats()
				if st.Failures != before.Failures {
					t.Fatalf("%s: %d failures", name, st.Failures-before.Failures)
				}
				t.Logf("%s: datagrams again after %v (any-source) and %v (source-specific); stats %+v", name, d1.Round(time.Millisecond), d2.Round(time.Millisecond), st)
			}

			phase("down-up",
				func() { mustNL(t, nl.LinkSetDown(link(t, "r0"))) },
				func() { mustNL(t, nl.LinkSetUp(link(t, "r0"))) })

			// Linux removes IPv6 addresses of a link that goes down
			// (keep_addr_on_down is 0): put it back first.
			if f.name == "IPv6" {
				addrAdd(t, nl, "r0", f.prefix(0, 1))
			}
			phase("address",
				func() { addrDel(t, nl, "r0", f.prefix(0, 1)) },
				func() { addrAdd(t, nl, "r0", f.prefix(0, 1)) })

			oldIndex := ifindex(t, "r0")
			lostBefore := set.Stats().Lost
			phase("re-created",
				func() {
					mustNL(t, nl.LinkDel(link(t, "r0"))) // its peer a0 goes with it
					waitFor(t, backWithin, "lost memberships", func() bool { return set.Stats().Lost >= lostBefore+2 })
				},
				func() {
					testbed.Veth(t, nil, "r0", f.prefix(0, 1), ha, "a0", f.prefix(0, 2))
					sa = newSender(t, ha, "a0", src)
				})
			newIndex := ifindex(t, "r0")
			if newIndex == oldIndex {
				t.Fatalf("r0 was created again with its old index %d", oldIndex)
			}
			for _, m := range set.List() {
				if m.IfIndex != newIndex || m.IfName != "r0" || m.Waiting {
					t.Fatalf("after r0 came back as index %d: %s", newIndex, m)
				}
			}
			// The Set without a watcher still has its membership on the
			// deleted index: nothing sent to its port arrives. The datagram
			// to the watched Set, sent after it, shows that it would have.
			sa.send(t, "unwatched", ctlDst)
			flow(t, sa, dst, rc, "after-unwatched", time.Now())
			if gs := readUntil(t, ctl, 20*time.Millisecond, nil); count(gs, "unwatched") != 0 {
				t.Fatalf("a Set without a watcher received after its interface was re-created: %+v", gs)
			}
		})
	}
}

// flow sends "prefix-k" from s to dst every 10 ms until c reads one of
// them, and returns the time since t0; it fails the test if that takes
// longer than backWithin.
func flow(t *testing.T, s *sender, dst netip.AddrPort, c *mcast.Conn, prefix string, t0 time.Time) time.Duration {
	t.Helper()
	for k := 0; time.Since(t0) < backWithin; k++ {
		_ = s.write(dst, fmt.Sprintf("%s-%d", prefix, k)) // may fail until the link is ready
		if count(readUntil(t, c, 10*time.Millisecond, func(gs []got) bool { return len(gs) > 0 }), prefix+"-") > 0 {
			return time.Since(t0)
		}
	}
	t.Fatalf("%s: no datagram to %s within %v of the link coming back", prefix, dst, backWithin)
	return 0
}

func mustNL(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// setSysctl writes a sysctl of the test's namespace and restores it when
// the test ends.
func setSysctl(t *testing.T, path, value string) {
	t.Helper()
	if err := trySysctl(t, path, value); err != nil {
		t.Fatal(err)
	}
}

// trySysctl is setSysctl that returns the error of the write.
func trySysctl(t *testing.T, path, value string) error {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return err
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
	return nil
}
