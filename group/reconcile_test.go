package group_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/sharecast/sharecast/group"
)

func TestReconcileFlap(t *testing.T) {
	s, k, ifs := fakeSet(t)
	if err := s.Join(group.MustParseSpec("239.1.2.3:5000%eth0")); err != nil {
		t.Fatal(err)
	}
	calls(k)
	// eth0 went down and came up: the kernel kept the membership.
	s.Reconcile(ifs.List, map[int]group.Mark{2: {Up: true}})
	wantCalls(t, k, "rejoin 239.1.2.3%2")
	// An address came back on eth0; the interface lost the group under
	// the socket: leave and join afresh.
	k.Dropped = map[string]bool{"239.1.2.3%2": true}
	s.Reconcile(ifs.List, map[int]group.Mark{2: {Addr: true}})
	wantCalls(t, k, "rejoin 239.1.2.3%2", "leave 239.1.2.3%2", "join 239.1.2.3%2")
	// Events on other interfaces change nothing here.
	s.Reconcile(ifs.List, map[int]group.Mark{3: {Up: true}})
	wantCalls(t, k)
	// Nor does an interface that is down now.
	down := append([]net.Interface(nil), ifs.List...)
	down[1].Flags &^= net.FlagUp
	s.Reconcile(down, map[int]group.Mark{2: {Up: true}})
	wantCalls(t, k)
	if st := s.Stats(); st.Rejoins != 2 || st.Lost != 0 || st.Failures != 0 {
		t.Fatalf("Stats = %+v, want 2 re-joins", st)
	}
	// A failed re-join is counted as a failure.
	k.Dropped = nil
	k.Fail = map[string]error{"rejoin 239.1.2.3%2": errors.New("boom")}
	s.Reconcile(ifs.List, map[int]group.Mark{2: {Up: true}})
	if st := s.Stats(); st.Rejoins != 2 || st.Failures != 1 {
		t.Fatalf("Stats = %+v, want a failure", st)
	}
}

func TestReconcileDeletedAndCreatedAgain(t *testing.T) {
	s, k, ifs := fakeSet(t)
	byName := group.MustParseSpec("239.1.2.3:5000%eth0")
	byIndex := group.MustParseSpec("239.1.2.4:5000%2")
	byAddr := group.MustParseSpec("239.1.2.5:5000%10.0.0.1")
	all := group.MustParseSpec("239.1.2.6:5000%*")
	for _, sp := range []group.Spec{byName, byIndex, byAddr, all} {
		if err := s.Join(sp); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ExcludeSource(byName, netip.MustParseAddr("10.0.0.66")); err != nil {
		t.Fatal(err)
	}
	calls(k)

	// eth0 (index 2) is deleted.
	gone := []net.Interface{ifs.List[0], ifs.List[2]}
	s.Reconcile(gone, map[int]group.Mark{2: {Deleted: true}})
	wantCalls(t, k,
		"unblock 239.1.2.3%2 10.0.0.66", "leave 239.1.2.3%2",
		"leave 239.1.2.4%2", "leave 239.1.2.5%2", "leave 239.1.2.6%2")
	wantList(t, s,
		"239.1.2.3:5000%eth0 (waiting for an interface) excluding 10.0.0.66",
		"239.1.2.4:5000%2 (waiting for an interface)",
		"239.1.2.5:5000%10.0.0.1 (waiting for an interface)",
		"239.1.2.6:5000%* on lo (index 1)",
		"239.1.2.6:5000%* on eth1 (index 3)")
	if st := s.Stats(); st.Lost != 4 || st.Memberships != 2 {
		t.Fatalf("Stats = %+v, want 4 lost, 2 left", st)
	}

	// eth0 comes back with index 7: the name and "*" follow it; the index
	// and the address (resolved to index 2 at the join) wait for index 2.
	back := append(gone, ifc(7, "eth0", upMC))
	s.Reconcile(back, map[int]group.Mark{7: {Up: true}})
	wantCalls(t, k, "join 239.1.2.3%7", "block 239.1.2.3%7 10.0.0.66", "join 239.1.2.6%7")
	if st := s.Stats(); st.Rejoins != 2 || st.Added != 0 {
		t.Fatalf("Stats = %+v, want 2 re-joins", st)
	}

	// A new interface eth2 is joined by "*" only, and counted as added.
	more := append(back, ifc(8, "eth2", upMC))
	s.Reconcile(more, map[int]group.Mark{8: {Up: true}})
	wantCalls(t, k, "join 239.1.2.6%8")
	if st := s.Stats(); st.Rejoins != 2 || st.Added != 1 {
		t.Fatalf("Stats = %+v, want 1 added", st)
	}

	// Index 2 comes back (under another name): the index and address
	// specs join it.
	more = append(more, ifc(2, "other", upMC))
	s.Reconcile(more, map[int]group.Mark{2: {Up: true}})
	wantCalls(t, k, "join 239.1.2.4%2", "join 239.1.2.5%2", "join 239.1.2.6%2")

	// eth0 is renamed: the name spec leaves it, "*" stays.
	renamed := append([]net.Interface(nil), more...)
	for i := range renamed {
		if renamed[i].Name == "eth0" {
			renamed[i].Name = "wan0"
		}
	}
	s.Reconcile(renamed, nil)
	wantCalls(t, k, "unblock 239.1.2.3%7 10.0.0.66", "leave 239.1.2.3%7")
	wantList(t, s,
		"239.1.2.3:5000%eth0 (waiting for an interface) excluding 10.0.0.66",
		"239.1.2.4:5000%2 on other (index 2)",
		"239.1.2.5:5000%10.0.0.1 on other (index 2)",
		"239.1.2.6:5000%* on lo (index 1)",
		"239.1.2.6:5000%* on other (index 2)",
		"239.1.2.6:5000%* on eth1 (index 3)",
		"239.1.2.6:5000%* on wan0 (index 7)",
		"239.1.2.6:5000%* on eth2 (index 8)")
}

func TestReconcileDeletedAndBackWithSameIndex(t *testing.T) {
	s, k, ifs := fakeSet(t)
	if err := s.Join(group.MustParseSpec("239.1.2.3:5000%eth0")); err != nil {
		t.Fatal(err)
	}
	calls(k)
	// Deleted and created again with index 2 between two reconciles: the
	// socket's stale entry is left, and a fresh membership joined.
	s.Reconcile(ifs.List, map[int]group.Mark{2: {Deleted: true, Up: true}})
	wantCalls(t, k, "leave 239.1.2.3%2", "join 239.1.2.3%2")
	if st := s.Stats(); st.Lost != 1 || st.Rejoins != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestReconcileDefaultInterface(t *testing.T) {
	s, k, ifs := fakeSet(t)
	if err := s.Join(group.MustParseSpec("239.1.2.3:5000")); err != nil {
		t.Fatal(err)
	}
	calls(k)
	// The kernel's choice is not known: any interface coming back
	// re-joins it, which is harmless where it was kept.
	s.Reconcile(ifs.List, map[int]group.Mark{3: {Addr: true}})
	wantCalls(t, k, "rejoin 239.1.2.3%0")
	s.Reconcile(ifs.List, map[int]group.Mark{3: {}})
	wantCalls(t, k)
}

func TestReconcileJoinFailure(t *testing.T) {
	s, k, ifs := fakeSet(t)
	if err := s.Join(group.MustParseSpec("239.1.2.3:5000%*")); err != nil {
		t.Fatal(err)
	}
	calls(k)
	k.Fail = map[string]error{"join 239.1.2.3%9": group.ENOBUFS}
	s.Reconcile(append(ifs.List, ifc(9, "eth9", upMC)), map[int]group.Mark{9: {Up: true}})
	wantCalls(t, k, "join 239.1.2.3%9")
	if st := s.Stats(); st.Failures != 1 || st.Added != 0 || st.Memberships != 3 {
		t.Fatalf("Stats = %+v", st)
	}
	// Tried again at the next reconcile.
	k.Fail = nil
	s.Reconcile(append(ifs.List, ifc(9, "eth9", upMC)), nil)
	wantCalls(t, k, "join 239.1.2.3%9")
}
