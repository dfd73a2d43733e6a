package arbiter_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// TestAcceptance is issue 6's first criterion at the logic level: an A/B
// feed of 1,000,000 messages with 1% packet loss on each line
// (independent), 0.5% duplication and some reordering. Every message either
// line carried is delivered exactly once, in order, byte for byte; every
// message both lines lost is reported in a gap with its exact range; and
// delivered + missing = total.
//
// It takes about 0.4s, and 3s under the race detector on two cores, so it
// runs in full there too; -short runs 200,000 messages.
func TestAcceptance(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	gcfg := &feedgen.Config{
		Seed:           20240102,
		Messages:       n,
		MinBatch:       1,
		MaxBatch:       8,
		Interval:       time.Microsecond,
		HeartbeatEvery: 1000,
		EndOfSession:   3,
		A: feedgen.LineConfig{
			Loss: 0.01, Duplicate: 0.005, Reorder: 0.005, ReorderDepth: 4,
			Jitter: 500 * time.Nanosecond,
		},
		B: feedgen.LineConfig{
			Loss: 0.01, Duplicate: 0.005, Reorder: 0.005, ReorderDepth: 4,
			Delay: 15 * time.Microsecond, Jitter: 2 * time.Microsecond,
		},
	}
	g, err := feedgen.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{tb: t, carried: g.Carried}
	// The lines' skew plus reordering stay under 30µs; GapTimeout leaves a
	// wide margin, and the default Window holds 16,384 messages, some 4,000
	// packets' worth.
	cfg := arbiter.Config{GapTimeout: 200 * time.Microsecond, StartSeq: 1}
	c.hook(&cfg)
	a, err := arbiter.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}

	var last time.Time
	var packets int
	for {
		p, ok := g.Next()
		if !ok {
			break
		}
		pkt, err := moldudp64.Decode(p.Data)
		if err != nil {
			t.Fatal(err)
		}
		last = base.Add(p.At)
		if err := a.Feed(arbiter.Line(p.Line), pkt, last); err != nil {
			t.Fatal(err)
		}
		packets++
	}
	a.Tick(last.Add(cfg.GapTimeout))

	st := a.Stats()
	want := g.Missing()
	var wantMissing uint64
	for _, r := range want {
		wantMissing += r.Last - r.First + 1
	}
	t.Logf("%d messages in %d packets; delivered %d, %d gaps (%d runs) missing %d", n, packets,
		st.Delivered, st.Gaps, len(c.gaps), st.Missing)
	for i, l := range st.Lines {
		gc := g.Counts(i)
		t.Logf("line %s: lost %d, duplicated %d, reordered %d of %d packets; first %d, duplicates %d, late %d",
			arbiter.Line(i), gc.Lost, gc.Duplicated, gc.Reordered, gc.Packets+gc.Lost, l.First, l.Duplicates, l.Late)
	}
	t.Logf("delay: mean %v, p99 <= %v, max %v; skew: mean %v, p99 <= %v, max %v; buffered at most %d",
		st.Delay.Mean(), st.Delay.Quantile(0.99), st.Delay.Max, st.Skew.Mean(), st.Skew.Quantile(0.99), st.Skew.Max, st.BufferedMax)

	if g.Revealed() != uint64(n)+1 {
		t.Fatalf("the feed's end was not announced (Revealed %d): choose another seed", g.Revealed())
	}
	if c.cursor != uint64(n)+1 {
		t.Errorf("reported up to %d, want %d", c.cursor-1, n)
	}
	if !slices.Equal(c.gaps, want) {
		t.Errorf("gaps differ: %d reported, %d lost on both lines\n got  %v\n want %v", len(c.gaps), len(want), c.gaps, want)
	}
	if st.Delivered+st.Missing != uint64(n) || st.Missing != wantMissing || c.delivered != st.Delivered || c.missing != st.Missing {
		t.Errorf("delivered %d + missing %d != %d, or missing != %d lost on both lines", st.Delivered, st.Missing, n, wantMissing)
	}
	if len(want) < n/100_000 { // about 2 in 100,000 packets are lost on both lines
		t.Errorf("only %d runs lost on both lines: the test is too weak", len(want))
	}
	checkAccounting(t, st)
	for i, l := range st.Lines {
		gc := g.Counts(i)
		if l.Late != 0 || l.Duplicates == 0 || gc.Duplicated == 0 || gc.Reordered == 0 || gc.Lost == 0 {
			t.Errorf("line %s: %+v, generator %+v", arbiter.Line(i), l, gc)
		}
	}
	// A wait ends at the first Feed or Tick after its deadline; packets
	// arrive at least every few microseconds.
	if st.Delay.Max > cfg.GapTimeout+5*time.Microsecond {
		t.Errorf("a message waited %v, more than GapTimeout and a little", st.Delay.Max)
	}
	if len(c.ended) != 1 || c.ended[0].Seq != uint64(n)+1 {
		t.Errorf("session end reports %+v, want one at %d", c.ended, n+1)
	}
}
