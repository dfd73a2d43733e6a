package group_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
)

// groupsOn returns the groups of ifindex among gs that pick accepts, as
// /proc/net/igmp or igmp6 list them.
func groupsOn(t *testing.T, v6 bool, ifindex int, pick func(netip.Addr) bool) []netip.Addr {
	t.Helper()
	all, err := group.KernelGroups(v6)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, g := range all[ifindex] {
		if pick(g) {
			out = append(out, g)
		}
	}
	return out
}

// TestLimit is acceptance test 4, IPv4: with the default
// net.ipv4.igmp_max_memberships (20, in the test's fresh namespace), the
// 21st join on a socket fails with ErrMembershipLimit and an error that
// names the sysctl and its value; joining and leaving 20 groups 1,000
// times leaves no membership behind in /proc/net/igmp.
func TestLimit(t *testing.T) {
	testbed.Require(t)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/igmp_max_memberships"); err != nil || strings.TrimSpace(string(b)) != "20" {
		t.Fatalf("net.ipv4.igmp_max_memberships = %q (%v), want the default 20", b, err)
	}
	c := listen(t, "udp4", 5300)
	s := newSet(t, c, nil)
	lo := ifindex(t, "lo")
	spec := func(i int) group.Spec {
		return group.MustParseSpec(fmt.Sprintf("239.0.1.%d:5300%%lo", i))
	}
	ours := func(g netip.Addr) bool { return strings.HasPrefix(g.String(), "239.0.1.") }
	for i := 1; i <= 20; i++ {
		if err := s.Join(spec(i)); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
	}
	err := s.Join(spec(21))
	if !errors.Is(err, group.ErrMembershipLimit) || !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("21st join: %v, want ErrMembershipLimit and ENOBUFS", err)
	}
	const want = "the socket holds 20 memberships, the most that net.ipv4.igmp_max_memberships = 20 allows"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("21st join: %q does not say %q", err, want)
	}
	t.Log(err)
	if n := len(groupsOn(t, false, lo, ours)); n != 20 {
		t.Fatalf("/proc/net/igmp lists %d of our groups on lo, want 20", n)
	}
	if st := s.Stats(); st.Memberships != 20 {
		t.Fatalf("Stats.Memberships = %d, want 20", st.Memberships)
	}

	churn(t, s, spec, 20, 1000)
	if gs := groupsOn(t, false, lo, ours); len(gs) != 0 {
		t.Fatalf("/proc/net/igmp still lists %v on lo", gs)
	}
	if ms := c.Memberships(); len(ms) != 0 || len(s.List()) != 0 {
		t.Fatalf("memberships left: socket %v, set %v", ms, s.List())
	}
}

// churn leaves n specs, then joins and leaves them rounds times, checking
// on the first round that the joins took.
func churn(t *testing.T, s *group.Set, spec func(int) group.Spec, n, rounds int) {
	t.Helper()
	for r := range rounds + 1 {
		if r > 0 {
			for i := 1; i <= n; i++ {
				if err := s.Join(spec(i)); err != nil {
					t.Fatalf("round %d, join %d: %v", r, i, err)
				}
			}
			if st := s.Stats(); st.Memberships != n {
				t.Fatalf("round %d: %d memberships, want %d", r, st.Memberships, n)
			}
		}
		for i := 1; i <= n; i++ {
			if err := s.Leave(spec(i)); err != nil {
				t.Fatalf("round %d, leave %d: %v", r, i, err)
			}
		}
	}
}

// TestLimitIPv6 is acceptance test 4 for IPv6, which has no count of
// memberships: 20 groups joined and left 1,000 times leave nothing in
// /proc/net/igmp6, and joins fail, naming net.core.optmem_max, when the
// socket's option memory runs out (an option memory the test makes small).
func TestLimitIPv6(t *testing.T) {
	testbed.Require(t)
	c := listen(t, "udp6", 5301)
	s := newSet(t, c, nil)
	lo := ifindex(t, "lo")
	spec := func(i int) group.Spec {
		return group.MustParseSpec(fmt.Sprintf("[ff15::1:%x]:5301%%lo", i))
	}
	ours := func(g netip.Addr) bool { return strings.HasPrefix(g.String(), "ff15::1:") }
	for i := 1; i <= 20; i++ {
		if err := s.Join(spec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(groupsOn(t, true, lo, ours)); n != 20 {
		t.Fatalf("/proc/net/igmp6 lists %d of our groups on lo, want 20", n)
	}
	churn(t, s, spec, 20, 1000)
	if gs := groupsOn(t, true, lo, ours); len(gs) != 0 {
		t.Fatalf("/proc/net/igmp6 still lists %v on lo", gs)
	}

	// Join until the kernel refuses: some 2,300 with the default 128 KiB,
	// so the test lowers it where it can (net.core.optmem_max is per
	// namespace since Linux 6.9).
	if err := trySysctl(t, "/proc/sys/net/core/optmem_max", "8192"); err != nil {
		t.Logf("cannot lower net.core.optmem_max (%v): joining up to the default", err)
	}
	var err error
	joined := 0
	for i := 1; i <= 20000 && err == nil; i++ {
		if err = s.Join(spec(i)); err == nil {
			joined++
		}
	}
	if !errors.Is(err, group.ErrMembershipLimit) || !errors.Is(err, syscall.ENOMEM) ||
		!strings.Contains(err.Error(), "net.core.optmem_max = ") {
		t.Fatalf("after %d IPv6 joins: %v, want ErrMembershipLimit naming net.core.optmem_max", joined, err)
	}
	t.Logf("after %d IPv6 joins: %v", joined, err)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if gs := groupsOn(t, true, lo, ours); len(gs) != 0 {
		t.Fatalf("after Close, /proc/net/igmp6 still lists %d of our groups", len(gs))
	}
}

// TestCloseLeavesAll checks that Close leaves every membership, any-source
// and source-specific, on one and on several interfaces, while the socket
// stays open; that it stops the watcher without leaving a goroutine; and
// that the Set is closed for good.
func TestCloseLeavesAll(t *testing.T) {
	testbed.Require(t)
	before := runtime.NumGoroutine()
	c := listen(t, "udp4", 5302)
	s, err := group.New(c, &group.Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range []string{"239.0.2.1:5302%lo", "239.0.2.2:5302%*", "232.0.2.3:5302@10.1.1.1%1", "232.0.2.3:5302@10.1.1.2%lo", "239.0.2.4:5302%127.0.0.1"} {
		join(t, s, sp)
	}
	if err := s.ExcludeSource(group.MustParseSpec("239.0.2.1:5302%lo"), netip.MustParseAddr("10.9.9.9")); err != nil {
		t.Fatal(err)
	}
	lo := ifindex(t, "lo")
	ours := func(g netip.Addr) bool {
		return strings.HasPrefix(g.String(), "239.0.2.") || strings.HasPrefix(g.String(), "232.0.2.")
	}
	if gs := groupsOn(t, false, lo, ours); len(gs) != 4 {
		t.Fatalf("/proc/net/igmp lists %v on lo, want 4 groups", gs)
	}
	if n := len(c.Memberships()); n != 5 {
		t.Fatalf("socket has %d memberships, want 5: %v", n, c.Memberships())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if gs := groupsOn(t, false, lo, ours); len(gs) != 0 {
		t.Fatalf("after Close, /proc/net/igmp lists %v on lo", gs)
	}
	if ms, bs := c.Memberships(), c.Blocked(); len(ms) != 0 || len(bs) != 0 {
		t.Fatalf("after Close, the socket has %v, blocked %v", ms, bs)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Join(group.MustParseSpec("239.0.2.1:5302%lo")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Join after Close: %v", err)
	}
	checkGoroutines(t, before+0)
}
