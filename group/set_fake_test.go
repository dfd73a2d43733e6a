package group_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/group"
)

const upMC = net.FlagUp | net.FlagRunning | net.FlagMulticast

func ifc(index int, name string, flags net.Flags) net.Interface {
	return net.Interface{Index: index, Name: name, Flags: flags, MTU: 1500}
}

// fakeSet returns a Set over a fake kernel with interfaces lo (1), eth0
// (2), eth1 (3), all up and multicast-capable.
func fakeSet(t *testing.T) (*group.Set, *group.FakeKernel, *group.FakeInterfaces) {
	t.Helper()
	k := &group.FakeKernel{Port: 5000}
	ifs := &group.FakeInterfaces{
		List: []net.Interface{ifc(1, "lo", upMC|net.FlagLoopback), ifc(2, "eth0", upMC), ifc(3, "eth1", upMC)},
		Addrs: map[int][]netip.Addr{
			1: {netip.MustParseAddr("127.0.0.1")},
			2: {netip.MustParseAddr("10.0.0.1")},
			3: {netip.MustParseAddr("10.99.99.99")},
		},
	}
	s := group.NewFake(k, ifs)
	t.Cleanup(func() { s.Close() })
	return s, k, ifs
}

// calls returns the kernel calls since the last call of calls.
func calls(k *group.FakeKernel) []string {
	c := k.Calls
	k.Calls = nil
	return c
}

func wantCalls(t *testing.T, k *group.FakeKernel, want ...string) {
	t.Helper()
	if got := calls(k); !slices.Equal(got, want) {
		t.Fatalf("kernel calls\n%q\nwant\n%q", got, want)
	}
}

func join(t *testing.T, s *group.Set, spec string) {
	t.Helper()
	if err := s.Join(group.MustParseSpec(spec)); err != nil {
		t.Fatal(err)
	}
}

func listed(s *group.Set) []string {
	var out []string
	for _, m := range s.List() {
		out = append(out, m.String())
	}
	return out
}

func wantList(t *testing.T, s *group.Set, want ...string) {
	t.Helper()
	if got := listed(s); !slices.Equal(got, want) {
		t.Fatalf("List\n%q\nwant\n%q", got, want)
	}
}

func TestJoinSelectsInterfaces(t *testing.T) {
	s, k, _ := fakeSet(t)
	for _, tc := range []struct {
		spec  string
		calls []string
	}{
		{"239.1.2.3:5000%eth0", []string{"join 239.1.2.3%2"}},
		{"239.1.2.4:5000%3", []string{"join 239.1.2.4%3"}},
		{"239.1.2.5:5000%10.99.99.99", []string{"join 239.1.2.5%3"}},
		{"239.1.2.6:5000%*", []string{"join 239.1.2.6%1", "join 239.1.2.6%2", "join 239.1.2.6%3"}},
		{"239.1.2.7:5000", []string{"join 239.1.2.7%0"}},
		{"232.1.1.1:5000@10.0.0.1%eth1", []string{"join 232.1.1.1@10.0.0.1%3"}},
	} {
		if err := s.Join(group.MustParseSpec(tc.spec)); err != nil {
			t.Fatalf("Join(%s): %v", tc.spec, err)
		}
		wantCalls(t, k, tc.calls...)
		// Joins are idempotent.
		if err := s.Join(group.MustParseSpec(tc.spec)); err != nil {
			t.Fatalf("Join(%s) again: %v", tc.spec, err)
		}
		wantCalls(t, k)
	}
	wantList(t, s,
		"232.1.1.1:5000@10.0.0.1%eth1 on eth1 (index 3)",
		"239.1.2.3:5000%eth0 on eth0 (index 2)",
		"239.1.2.4:5000%3 on eth1 (index 3)",
		"239.1.2.5:5000%10.99.99.99 on eth1 (index 3)",
		"239.1.2.6:5000%* on lo (index 1)",
		"239.1.2.6:5000%* on eth0 (index 2)",
		"239.1.2.6:5000%* on eth1 (index 3)",
		"239.1.2.7:5000",
	)
	if st := s.Stats(); st.Memberships != 8 {
		t.Fatalf("Stats.Memberships = %d, want 8", st.Memberships)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := calls(k)
	slices.Sort(got)
	want := []string{"leave 232.1.1.1@10.0.0.1%3", "leave 239.1.2.3%2", "leave 239.1.2.4%3", "leave 239.1.2.5%3",
		"leave 239.1.2.6%1", "leave 239.1.2.6%2", "leave 239.1.2.6%3", "leave 239.1.2.7%0"}
	if !slices.Equal(got, want) {
		t.Fatalf("Close left %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Join(group.MustParseSpec("239.1.2.3:5000%eth0")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Join after Close: %v", err)
	}
	wantList(t, s)
}

func TestJoinRefusesInterfaces(t *testing.T) {
	s, k, ifs := fakeSet(t)
	ifs.List = append(ifs.List, ifc(4, "down0", net.FlagMulticast), ifc(5, "nomc0", net.FlagUp|net.FlagRunning))
	ifs.Addrs[4] = []netip.Addr{netip.MustParseAddr("10.4.4.4")}
	ifs.Addrs[5] = []netip.Addr{netip.MustParseAddr("10.0.0.1")} // eth0 has it too
	for _, tc := range []struct {
		spec string
		err  error
		msg  string
	}{
		{"239.1.2.3:5000%eth9", group.ErrNoInterface, `interface "eth9": no such interface (have lo, eth0, eth1, down0, nomc0)`},
		{"239.1.2.3:5000%42", group.ErrNoInterface, "interface index 42"},
		{"239.1.2.3:5000%10.5.5.5", group.ErrNoInterface, "with address 10.5.5.5"},
		{"239.1.2.3:5000%10.0.0.1", group.ErrNoInterface, "several have it (eth0, nomc0); name one"},
		{"239.1.2.3:5000%down0", group.ErrInterfaceDown, "interface down0 (index 4)"},
		{"239.1.2.3:5000%10.4.4.4", group.ErrInterfaceDown, "down0"},
		{"239.1.2.3:5000%nomc0", group.ErrNotMulticastCapable, "no MULTICAST flag"},
		{"239.1.2.3:5000%5", group.ErrNotMulticastCapable, "nomc0 (index 5)"},
	} {
		err := s.Join(group.MustParseSpec(tc.spec))
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Join(%s) = %v, want %v containing %q", tc.spec, err, tc.err, tc.msg)
		}
	}
	wantCalls(t, k)

	ifs.List = []net.Interface{ifc(4, "down0", net.FlagMulticast), ifc(5, "nomc0", net.FlagUp)}
	err := s.Join(group.MustParseSpec("239.1.2.3:5000%*"))
	if !errors.Is(err, group.ErrNoInterface) || !strings.Contains(err.Error(), "none is up and multicast-capable") {
		t.Errorf("Join(*) with no usable interface = %v", err)
	}
	wantList(t, s)
}

func TestJoinRefusesSpecs(t *testing.T) {
	s, k, _ := fakeSet(t)
	a := netip.MustParseAddr
	for _, tc := range []struct {
		spec group.Spec
		part string
	}{
		{group.Spec{Group: a("ff15::1"), Port: 5000}, "group"},               // IPv6 on an IPv4 socket
		{group.Spec{Group: a("239.1.2.3"), Port: 5001}, "port"},              // another port
		{group.Spec{Group: a("10.1.2.3")}, "group"},                          // not multicast
		{group.Spec{Group: a("239.1.2.3"), Source: a("10.0.0.1")}, "source"}, // source on any-source
		{group.Spec{Group: a("239.1.2.3"), Interface: "0"}, "interface"},     // index 0
	} {
		err := s.Join(tc.spec)
		var se *group.SpecError
		if !errors.As(err, &se) || se.Part != tc.part {
			t.Errorf("Join(%#v) = %v, want a *SpecError on %s", tc.spec, err, tc.part)
		}
	}
	// Port 0 means the socket's.
	if err := s.Join(group.Spec{Group: a("239.1.2.3"), Interface: "eth0"}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, k, "join 239.1.2.3%2")
	wantList(t, s, "239.1.2.3:5000%eth0 on eth0 (index 2)")
}

func TestJoinUndoesPartialJoin(t *testing.T) {
	s, k, _ := fakeSet(t)
	k.Fail = map[string]error{"join 239.1.2.3%3": errors.New("boom")}
	err := s.Join(group.MustParseSpec("239.1.2.3:5000%*"))
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Join = %v, want boom", err)
	}
	wantCalls(t, k, "join 239.1.2.3%1", "join 239.1.2.3%2", "join 239.1.2.3%3", "leave 239.1.2.3%1", "leave 239.1.2.3%2")
	wantList(t, s)
	if st := s.Stats(); st.Memberships != 0 {
		t.Fatalf("Memberships = %d after a failed join", st.Memberships)
	}
}

func TestJoinLimitError(t *testing.T) {
	s, k, _ := fakeSet(t)
	k.Groups = 1 << 20 // more than any igmp_max_memberships
	k.Fail = map[string]error{"join 239.1.2.21%2": group.ENOBUFS}
	err := s.Join(group.MustParseSpec("239.1.2.21:5000%eth0"))
	if !errors.Is(err, group.ErrMembershipLimit) || !errors.Is(err, group.ENOBUFS) {
		t.Fatalf("Join past the limit = %v, want ErrMembershipLimit and ENOBUFS", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "on eth0 (index 2)") {
		t.Errorf("error does not name the interface: %v", err)
	}
	k.Fail = map[string]error{"join 239.1.2.22%2": errors.New("other")}
	if err := s.Join(group.MustParseSpec("239.1.2.22:5000%eth0")); errors.Is(err, group.ErrMembershipLimit) {
		t.Fatalf("another error taken for the limit: %v", err)
	}
}

func TestLeaveSharedMembership(t *testing.T) {
	s, k, _ := fakeSet(t)
	all := group.MustParseSpec("239.1.2.3:5000%*")
	eth0 := group.MustParseSpec("239.1.2.3:5000%eth0")
	for _, sp := range []group.Spec{eth0, all} {
		if err := s.Join(sp); err != nil {
			t.Fatal(err)
		}
	}
	wantCalls(t, k, "join 239.1.2.3%2", "join 239.1.2.3%1", "join 239.1.2.3%3")
	if err := s.Leave(all); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, k, "leave 239.1.2.3%1", "leave 239.1.2.3%3")
	wantList(t, s, "239.1.2.3:5000%eth0 on eth0 (index 2)")
	if err := s.Leave(all); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(eth0); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, k, "leave 239.1.2.3%2")
	wantList(t, s)
}

func TestExcludeSource(t *testing.T) {
	s, k, _ := fakeSet(t)
	sp := group.MustParseSpec("239.1.2.3:5000%*")
	bad := netip.MustParseAddr("10.0.0.66")
	if err := s.ExcludeSource(sp, bad); !errors.Is(err, group.ErrBadSpec) {
		t.Fatalf("exclude before join: %v", err)
	}
	if err := s.Join(sp); err != nil {
		t.Fatal(err)
	}
	calls(k)
	for range 2 {
		if err := s.ExcludeSource(sp, bad); err != nil {
			t.Fatal(err)
		}
	}
	wantCalls(t, k, "block 239.1.2.3%1 10.0.0.66", "block 239.1.2.3%2 10.0.0.66", "block 239.1.2.3%3 10.0.0.66")
	wantList(t, s,
		"239.1.2.3:5000%* on lo (index 1) excluding 10.0.0.66",
		"239.1.2.3:5000%* on eth0 (index 2) excluding 10.0.0.66",
		"239.1.2.3:5000%* on eth1 (index 3) excluding 10.0.0.66")
	if err := s.IncludeSource(sp, bad); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, k, "unblock 239.1.2.3%1 10.0.0.66", "unblock 239.1.2.3%2 10.0.0.66", "unblock 239.1.2.3%3 10.0.0.66")
	ssm := group.MustParseSpec("232.1.1.1:5000@10.0.0.1")
	if err := s.ExcludeSource(ssm, bad); !errors.Is(err, group.ErrBadSpec) {
		t.Fatalf("exclude from a source-specific spec: %v", err)
	}
	if err := s.ExcludeSource(sp, netip.MustParseAddr("ff02::1")); !errors.Is(err, group.ErrBadSpec) {
		t.Fatalf("exclude of an IPv6 source from an IPv4 group: %v", err)
	}
	// A failed block is undone where it succeeded.
	k.Fail = map[string]error{"block 239.1.2.3%3 10.0.0.66": errors.New("boom")}
	if err := s.ExcludeSource(sp, bad); err == nil {
		t.Fatal("exclude did not fail")
	}
	wantCalls(t, k, "block 239.1.2.3%1 10.0.0.66", "block 239.1.2.3%2 10.0.0.66", "block 239.1.2.3%3 10.0.0.66",
		"unblock 239.1.2.3%1 10.0.0.66", "unblock 239.1.2.3%2 10.0.0.66")
}

func TestLeaveSourceSpecificOnDeletedInterface(t *testing.T) {
	s, k, ifs := fakeSet(t)
	for _, sp := range []string{"232.1.1.1:5000@10.0.0.1%eth0", "232.1.1.1:5000@10.0.0.2%eth0"} {
		join(t, s, sp)
	}
	// eth0 is still there: a leave leaves one source, nothing else.
	if err := s.Leave(group.MustParseSpec("232.1.1.1:5000@10.0.0.1%eth0")); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, k, "join 232.1.1.1@10.0.0.1%2", "join 232.1.1.1@10.0.0.2%2", "leave 232.1.1.1@10.0.0.1%2")
	// eth0 is gone (before the watcher noticed): the group is left as a
	// whole on its index, to clear what the kernel keeps in the socket.
	ifs.List = []net.Interface{ifs.List[0], ifs.List[2]}
	if err := s.Leave(group.MustParseSpec("232.1.1.1:5000@10.0.0.2%eth0")); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, k, "leave 232.1.1.1@10.0.0.2%2", "purge 232.1.1.1%2")
}
