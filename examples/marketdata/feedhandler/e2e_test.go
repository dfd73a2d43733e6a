package feedhandler_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/examples/marketdata/feedsend"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestEndToEnd is issue 6's first acceptance criterion over real sockets:
// a generated A/B feed, 1% packet loss on each line (independent), 0.5%
// duplication and some reordering, sent to two groups on one port over lo
// in the test bed's namespace and received by a Handler. Every message
// that either line carried is delivered exactly once, in order, byte for
// byte; every message both lines lost is reported in a gap with its exact
// range; delivered + missing = sent; the packets each line received are
// the packets sent on it.
//
// The sender waits for the receiver's queue to drain (testbed.Pace), so
// the kernel should drop nothing; if it does drop, or a busy machine holds
// one line back past GapTimeout (its copies then come late), the drops and
// late copies are counted and the check allows for exactly what they can
// explain.
func TestEndToEnd(t *testing.T) {
	testbed.Require(t)
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	e2e(t, n, 0.01, "239.1.1.1:5100", "239.1.1.2:5100")
}

// TestEndToEndTwoPorts is TestEndToEnd, shorter, with the lines on
// different ports, so on two sockets, and 5% loss on each line, so that
// some 0.25% of the packets are lost on both.
func TestEndToEndTwoPorts(t *testing.T) {
	testbed.Require(t)
	e2e(t, 20_000, 0.05, "239.1.1.3:5201", "239.1.1.4:5202")
}

func e2e(t *testing.T, n int, loss float64, a, b string) {
	specA, specB := group.MustParseSpec(a), group.MustParseSpec(b)
	c := newChecker(1)
	cfg := &feedhandler.Config{
		A: specA, B: specB,
		// The lines' skew is a few packets, but a sender paused on a
		// busy machine stretches it in time; a wide GapTimeout keeps
		// that from turning into gaps. The Window (16,384 messages)
		// bounds the wait for messages that both lines lost.
		Arbiter: arbiter.Config{GapTimeout: 2 * time.Second, LineTimeout: time.Minute, StartSeq: 1},
	}
	c.hook(cfg)
	h, err := feedhandler.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, h)

	feed := feedgen.Config{
		Seed:           18, // 5 runs lost on both lines at 1%, one at the tail
		Messages:       n,
		MinBatch:       1,
		MaxBatch:       8,
		Interval:       10 * time.Microsecond,
		HeartbeatEvery: 1000,
		EndOfSession:   3,
		A: feedgen.LineConfig{
			Loss: loss, Duplicate: 0.005, Reorder: 0.005, ReorderDepth: 4,
			Jitter: 5 * time.Microsecond,
		},
		B: feedgen.LineConfig{
			Loss: loss, Duplicate: 0.005, Reorder: 0.005, ReorderDepth: 4,
			Delay: 15 * time.Microsecond, Jitter: 10 * time.Microsecond,
		},
	}
	ports := []uint16{specA.Port}
	if specB.Port != specA.Port {
		ports = append(ports, specB.Port)
	}
	pace := func() error {
		for _, p := range ports {
			if err := testbed.Pace(p, 256<<10, 10*time.Second); err != nil {
				return err
			}
		}
		return nil
	}
	g, res, err := feedsend.Send(context.Background(), &feedsend.Config{
		A: specA.AddrPort(), B: specB.AddrPort(), Feed: feed, Pace: pace,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d+%d packets in %v", res.Packets[0], res.Packets[1], res.Elapsed)
	end := c.waitEnd(t, 60*time.Second)
	// With two sockets, one line's end can be handled while the other's
	// last packets still wait in its socket: wait until every packet is
	// read (or dropped) before stopping.
	sent := res.Packets[0] + res.Packets[1]
	waitFor(t, 10*time.Second, func() bool {
		st := h.Stats()
		var read uint64
		for _, s := range st.Sockets {
			read += s.Datagrams
		}
		return read+st.KernelDrops >= sent
	})
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	st := h.Stats()
	c.check(t)

	want := g.Missing()
	var wantMissing uint64
	for _, r := range want {
		wantMissing += r.Last - r.First + 1
	}
	f := st.Feed
	t.Logf("%d messages; delivered %d, %d gaps (%d runs, %d lost on both lines), missing %d; kernel drops %d",
		n, f.Delivered, f.Gaps, len(c.gaps), len(want), f.Missing, st.KernelDrops)
	for i, l := range f.Lines {
		gc := g.Counts(i)
		t.Logf("line %s: sent %d packets (lost %d, duplicated %d, reordered %d); received %d, first %d, duplicates %d, late %d",
			arbiter.Line(i), res.Packets[i], gc.Lost, gc.Duplicated, gc.Reordered, l.Packets, l.First, l.Duplicates, l.Late)
	}
	for _, s := range st.Sockets {
		t.Logf("socket %s %s: %d datagrams, kernel %+v", s.Name, s.Local, s.Datagrams, s.Kernel)
	}
	t.Logf("delay: mean %v, p99 <= %v, max %v; skew: mean %v, p99 <= %v, max %v",
		f.Delay.Mean(), f.Delay.Quantile(0.99), f.Delay.Max, f.Skew.Mean(), f.Skew.Quantile(0.99), f.Skew.Max)

	if g.Revealed() != uint64(n)+1 || end.Seq != uint64(n)+1 {
		t.Fatalf("the feed's end was not announced (revealed %d, session ended at %d): choose another seed", g.Revealed(), end.Seq)
	}
	if c.next != uint64(n)+1 || c.delivered+c.missing != uint64(n) || f.Delivered != c.delivered || f.Missing != c.missing {
		t.Errorf("covered up to %d: delivered %d + missing %d, want %d in all (arbiter: %d + %d)",
			c.next-1, c.delivered, c.missing, n, f.Delivered, f.Missing)
	}
	if st.Malformed != [2]uint64{} || st.Foreign != 0 || st.QueueDrops != 0 {
		t.Errorf("malformed %v, foreign %d, queue drops %d: want none", st.Malformed, st.Foreign, st.QueueDrops)
	}
	var recv uint64
	for _, l := range f.Lines {
		recv += l.Packets
	}
	if recv+st.KernelDrops != sent {
		t.Errorf("received %d + kernel drops %d != %d packets sent", recv, st.KernelDrops, sent)
	}
	if len(want) < int(float64(n)/4.5*loss*loss/2) { // n/4.5 packets, each lost on both lines with p = loss²

		t.Errorf("only %d runs lost on both lines: the test is too weak", len(want))
	}
	if st.KernelDrops == 0 {
		for i, l := range f.Lines {
			if l.Packets != res.Packets[i] {
				t.Errorf("line %s received %d packets, %d were sent", arbiter.Line(i), l.Packets, res.Packets[i])
			}
			if l.Duplicates == 0 {
				t.Errorf("line %s: no duplicates, want some", arbiter.Line(i))
			}
		}
	}
	// A line that a busy machine holds back longer than GapTimeout makes
	// the arbiter give its messages up before they come: they count as
	// late.
	late := f.Lines[0].Late + f.Lines[1].Late
	if st.KernelDrops == 0 && late == 0 {
		if !slices.Equal(c.gaps, want) {
			t.Errorf("gaps differ: %d reported, %d lost on both lines\n got  %v\n want %v", len(c.gaps), len(want), c.gaps, want)
		}
		return
	}
	// The kernel dropped packets, or copies came late: every message both
	// lines lost must still be in a gap, and the messages missing beyond
	// them can be no more than the late copies and the dropped packets
	// held (MaxBatch each).
	t.Logf("the kernel dropped %d packets and %d copies came late: checking what they can explain", st.KernelDrops, late)
	for _, r := range want {
		if !covered(c.gaps, r) {
			t.Errorf("messages %d-%d, lost on both lines, are not in a gap", r.First, r.Last)
		}
	}
	if extra, most := c.missing-wantMissing, late+st.KernelDrops*uint64(feed.MaxBatch); extra > most {
		t.Errorf("%d messages missing beyond those lost on both lines; %d late copies and %d kernel drops explain at most %d",
			extra, late, st.KernelDrops, most)
	}
}

// covered reports whether r lies within one of gaps.
func covered(gaps []feedgen.Range, r feedgen.Range) bool {
	for _, g := range gaps {
		if g.First <= r.First && r.Last <= g.Last {
			return true
		}
	}
	return false
}
