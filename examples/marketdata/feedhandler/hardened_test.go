package feedhandler_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/examples/marketdata/feedsend"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestForeignSessionMidway is issue 14's fifth criterion over real
// sockets: in the middle of session S1, well-formed packets of a foreign
// session (ten 0xFF bytes: data, a heartbeat and an end of session) come
// on both lines. They are counted, S1 goes on, and S1's end is honoured.
func TestForeignSessionMidway(t *testing.T) {
	testbed.Require(t)
	specA, specB := group.MustParseSpec("239.1.1.15:5800"), group.MustParseSpec("239.1.1.16:5800")
	c := newChecker(1)
	cfg := &feedhandler.Config{A: specA, B: specB,
		Arbiter: arbiter.Config{GapTimeout: 50 * time.Millisecond, LineTimeout: time.Minute, StartSeq: 1}}
	c.hook(cfg)
	h, err := feedhandler.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, h)
	lines := [2]*testbed.Sender{
		testbed.NewSender(t, specA.AddrPort(), nil, netip.Addr{}),
		testbed.NewSender(t, specB.AddrPort(), nil, netip.Addr{}),
	}
	s1 := moldudp64.MustParseSession("S1")
	var ff moldudp64.Session
	for i := range ff {
		ff[i] = 0xFF
	}
	send := func(line int, b []byte) {
		t.Helper()
		if err := lines[line].Send(b); err != nil {
			t.Fatal(err)
		}
	}
	data := func(s moldudp64.Session, seq uint64, n int) []byte {
		var ms [][]byte
		for i := range n {
			ms = append(ms, feedgen.AppendMessage(nil, seq+uint64(i), 20))
		}
		b, err := moldudp64.AppendPacket(nil, s, seq, ms...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	forged := 0
	for seq := uint64(1); seq <= 100; seq += 2 {
		send(int(seq/2)%2, data(s1, seq, 2))
		for line := range 2 {
			for _, b := range [][]byte{
				data(ff, seq+2, 3),
				moldudp64.AppendHeartbeat(nil, ff, 1<<40),
				moldudp64.AppendEndOfSession(nil, ff, seq+5),
			} {
				send(line, b)
				forged++
			}
		}
	}
	send(0, moldudp64.AppendEndOfSession(nil, s1, 101))
	end := c.waitEnd(t, 10*time.Second)
	if err := stop(); err != nil {
		t.Error(err)
	}
	c.check(t)
	st := h.Stats()
	f := st.Feed
	t.Logf("delivered %d, foreign %d+%d, sessions %d, kernel drops %d", f.Delivered, f.Lines[0].Foreign, f.Lines[1].Foreign, f.Sessions, st.KernelDrops)
	if end.Session != s1 || end.Seq != 101 || f.Sessions != 1 || f.Session != s1 {
		t.Errorf("session end %+v, sessions %d (%q)", end, f.Sessions, f.Session)
	}
	if st.KernelDrops == 0 && (c.delivered != 100 || c.missing != 0 || f.Lines[0].Foreign+f.Lines[1].Foreign != uint64(forged)) {
		t.Errorf("delivered %d, missing %d, foreign %d+%d; want 100, 0, %d", c.delivered, c.missing,
			f.Lines[0].Foreign, f.Lines[1].Foreign, forged)
	}
}

// TestHeavyLossWindow is issue 14's sixth criterion over real sockets: 30%
// loss on each line and a Window (1,024 messages) that overflows all the
// time, with a gap timeout (1s) that never fires first. Each run that both
// lines lost is reported once: the gaps, as reported (not merged), are the
// true runs.
func TestHeavyLossWindow(t *testing.T) {
	testbed.Require(t)
	const n = 50_000
	specA, specB := group.MustParseSpec("239.1.1.17:5900"), group.MustParseSpec("239.1.1.18:5900")
	c := newChecker(1)
	cfg := &feedhandler.Config{A: specA, B: specB,
		Arbiter: arbiter.Config{GapTimeout: time.Second, LineTimeout: time.Minute, StartSeq: 1, Window: 1024}}
	c.hook(cfg)
	h, err := feedhandler.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, h)
	g, res, err := feedsend.Send(context.Background(), &feedsend.Config{
		A: specA.AddrPort(), B: specB.AddrPort(),
		Feed: feedgen.Config{Seed: 6, Messages: n, MaxBatch: 8, Interval: 10 * time.Microsecond, HeartbeatEvery: 100, EndOfSession: 3,
			A: feedgen.LineConfig{Loss: 0.3}, B: feedgen.LineConfig{Loss: 0.3, Delay: 15 * time.Microsecond}},
		Pace: func() error { return testbed.Pace(specA.Port, 256<<10, 10*time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.waitEnd(t, 30*time.Second)
	if err := stop(); err != nil {
		t.Error(err)
	}
	c.check(t)
	st := h.Stats()
	want := g.Missing()
	late := st.Feed.Lines[0].Late + st.Feed.Lines[1].Late
	t.Logf("sent %d+%d packets; %d gaps reported (%d merged), %d runs lost on both lines; late %d, kernel drops %d",
		res.Packets[0], res.Packets[1], len(c.reported), len(c.gaps), len(want), late, st.KernelDrops)
	if len(want) < 500 {
		t.Fatalf("only %d runs lost on both lines: the test is too weak", len(want))
	}
	if c.delivered+c.missing != n {
		t.Errorf("delivered %d + missing %d != %d", c.delivered, c.missing, n)
	}
	if late != 0 || st.KernelDrops != 0 {
		// A busy machine made copies late or the kernel drop datagrams:
		// the gaps are then wider than the runs, but each run is still in
		// exactly one gap.
		t.Logf("the machine was busy: checking that each run is in one gap")
		for _, r := range want {
			k := 0
			for _, g := range c.reported {
				if g.First <= r.Last && r.First <= g.Last {
					k++
				}
			}
			if k != 1 {
				t.Errorf("run %d-%d is in %d reported gaps", r.First, r.Last, k)
			}
		}
		return
	}
	if !slices.Equal(c.reported, want) {
		n := min(len(c.reported), len(want), 10)
		t.Errorf("%d gaps reported, %d runs lost on both lines\n got  %v...\n want %v...", len(c.reported), len(want), c.reported[:n], want[:n])
	}
}
