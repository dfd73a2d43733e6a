package group_test

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vishvananda/netlink"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// TestWatcherInHost runs a Set in another network namespace than the
// process's: its watcher must follow that namespace's links, and stop
// without leaving a goroutine.
func TestWatcherInHost(t *testing.T) {
	testbed.Require(t)
	before := runtime.NumGoroutine()
	h, a := testbed.NewHost(t, "r"), testbed.NewHost(t, "a")
	p := families[0].prefix
	testbed.Veth(t, h, "h0", p(0, 1), a, "a0", p(0, 2))
	var (
		c   *mcast.Conn
		set *group.Set
	)
	err := h.Do(func() error {
		var err error
		if c, err = mcast.Listen(context.Background(), "udp4", ":5400", nil); err != nil {
			return err
		}
		if set, err = group.New(c, &group.Config{Logger: testLogger(t)}); err != nil {
			return err
		}
		return set.Join(group.MustParseSpec("239.1.2.3:5400%h0"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nl := h.Netlink()
	mustNL(t, nl.LinkSetDown(nlLink(t, nl, "h0")))
	mustNL(t, nl.LinkSetUp(nlLink(t, nl, "h0")))
	waitFor(t, backWithin, "re-join in the host", func() bool { return set.Stats().Rejoins >= 1 })

	mustNL(t, nl.LinkDel(nlLink(t, nl, "h0")))
	waitFor(t, backWithin, "lost membership in the host", func() bool { return set.Stats().Lost >= 1 })
	testbed.Veth(t, h, "h0", p(0, 1), a, "a0", p(0, 2))
	ifi, err := h.Interface("h0")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, backWithin, "re-join on the re-created interface", func() bool {
		ls := set.List()
		return len(ls) == 1 && ls[0].IfIndex == ifi.Index
	})
	// The datagrams say so too.
	s := newSender(t, a, "a0", p(0, 2).Addr())
	dst := netip.MustParseAddrPort("239.1.2.3:5400")
	warm(t, s, dst, c)
	s.send(t, "x", dst)
	gs := readUntil(t, c, time.Second, func(gs []got) bool { return count(gs, "x") > 0 })
	if len(gs) != 1 || gs[0].ifindex != ifi.Index {
		t.Fatalf("got %+v, want one datagram on interface %d", gs, ifi.Index)
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.uc.Close()
	checkGoroutines(t, before)
}

// TestWatcherAllInterfaces checks that a "*" spec joins interfaces that
// come up after the Join, counted as added, and drops those deleted.
func TestWatcherAllInterfaces(t *testing.T) {
	testbed.Require(t)
	f := families[0]
	c := listen(t, "udp4", 5401)
	set := newSet(t, c, nil)
	join(t, set, "239.1.2.3:5401%*")
	ha := testbed.NewHost(t, "a")
	testbed.Veth(t, nil, "r7", f.prefix(7, 1), ha, "a7", f.prefix(7, 2))
	r7 := ifindex(t, "r7")
	waitFor(t, backWithin, "join on the new interface", func() bool {
		return slices.ContainsFunc(set.List(), func(m group.Membership) bool { return m.IfIndex == r7 && m.IfName == "r7" })
	})
	if st := set.Stats(); st.Added != 1 || st.Memberships != 2 {
		t.Fatalf("Stats = %+v, want 1 added and 2 memberships (lo, r7)", st)
	}
	s := newSender(t, ha, "a7", f.prefix(7, 2).Addr())
	warm(t, s, netip.MustParseAddrPort("239.1.2.3:5401"), c)

	mustNL(t, ha.Netlink().LinkDel(nlLink(t, ha.Netlink(), "a7"))) // and r7 with it
	waitFor(t, backWithin, "membership dropped", func() bool { return set.Stats().Memberships == 1 })
	if st := set.Stats(); st.Lost != 1 {
		t.Fatalf("Stats = %+v, want 1 lost", st)
	}
}

// logLines collects the JSON log lines of a Set.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	return len(p), nil
}

// find returns the lines that contain every one of parts.
func (l *logLines) find(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// TestWatcherOnlyRejoinsWhatCameBack checks that a change to a link that
// stays up (its MTU) re-joins nothing, while a link that goes down and up
// is re-joined: the log says so, in the order of the events.
func TestWatcherOnlyRejoinsWhatCameBack(t *testing.T) {
	testbed.Require(t)
	f := families[0]
	ha, hb := testbed.NewHost(t, "a"), testbed.NewHost(t, "b")
	testbed.Veth(t, nil, "r0", f.prefix(0, 1), ha, "a0", f.prefix(0, 2))
	testbed.Veth(t, nil, "r1", f.prefix(99, 99), hb, "b0", f.prefix(99, 1))
	// A veth gets its carrier (RUNNING) when the kernel's link watch gets
	// to it, which can come after the Set starts and is, rightly, a link
	// coming up: wait for it.
	for _, name := range []string{"r0", "r1"} {
		waitFor(t, backWithin, name+" running", func() bool {
			return mustInterface(t, name).Flags&net.FlagRunning != 0
		})
	}
	c := listen(t, "udp4", 5402)
	logs := &logLines{}
	set := newSet(t, c, &group.Config{Logger: zerolog.New(logs)})
	join(t, set, "239.1.2.3:5402%r0")
	join(t, set, "239.1.2.3:5402%r1")
	nl, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	mustNL(t, nl.LinkSetMTU(link(t, "r0"), 1400))
	mustNL(t, nl.LinkSetDown(link(t, "r1")))
	mustNL(t, nl.LinkSetUp(link(t, "r1")))
	waitFor(t, backWithin, "re-join on r1", func() bool { return len(logs.find(`"interface":"r1"`, "re-joined")) > 0 })
	if ls := logs.find(`"interface":"r0"`, "re-join"); len(ls) != 0 {
		t.Fatalf("r0 stayed up, yet: %q", ls)
	}
	if st := set.Stats(); st.Rejoins != 1 {
		t.Fatalf("Stats = %+v, want 1 re-join", st)
	}
}
