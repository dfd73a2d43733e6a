package tools_test

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/examples/fanout/internal/tools"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestStatsFlowFlood is issue 17's finding 3 as it was found: 5,000
// datagrams from 5,000 source ports fill the stats tool's 4,096 flows,
// then a real sender sends 1,000. The tool evicts the flows idle longest
// for the new ones, so every datagram is tracked, none is missing, and
// the summary says how many flows were evicted.
func TestStatsFlowFlood(t *testing.T) {
	testbed.Require(t)
	const flood, real, maxFlows = 5_000, 1_000, 4_096
	g := netip.MustParseAddrPort("239.6.6.17:6017")
	st := goRun(t, "stats", "-count", "6000", "-format", "json", g.String())
	send := func(s *testbed.Sender, i int, p []byte) {
		t.Helper()
		if i%64 == 0 {
			if err := testbed.Pace(g.Port(), 128<<10, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	// A socket, so a source port, a datagram; kept open until the flood
	// ends, so that no port serves twice.
	for i := range flood {
		send(testbed.NewSender(t, g, nil, netip.Addr{}), i, payload(uint64(i), uint64(i)*7919))
	}
	s := testbed.NewSender(t, g, nil, netip.Addr{})
	for i := range real {
		send(s, i, payload(1, uint64(i)))
	}
	var sum tools.Summary
	out := st.wait(t)
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if sum.Datagrams != flood+real || sum.KernelDrops != 0 || sum.Stats == nil {
		t.Fatalf("summary %+v", sum)
	}
	want := dispatch.SequenceStats{Datagrams: flood + real, Numbers: flood + real, Evicted: flood + 1 - maxFlows}
	if sum.Stats.Sequence != want || sum.Stats.Flows != maxFlows || sum.Stats.NoHeader != 0 || sum.Stats.BadFill != 0 {
		t.Errorf("stats %+v, sequence %+v\nwant %d flows, sequence %+v", *sum.Stats, sum.Stats.Sequence, maxFlows, want)
	}
}
