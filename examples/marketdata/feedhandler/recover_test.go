package feedhandler_test

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/examples/marketdata/feedsend"
	"github.com/sharecast/sharecast/examples/marketdata/rerequest"
	"github.com/sharecast/sharecast/examples/marketdata/rewind"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
)

// bothRuns returns n runs of 1 to 50 messages, spread over messages
// 1..total, apart from each other, drawn from seed.
func bothRuns(seed uint64, n int, total uint64) []feedgen.Range {
	r := rand.New(rand.NewPCG(seed, 14))
	step := total / uint64(n+1)
	var out []feedgen.Range
	for i := range n {
		first := uint64(i+1)*step + r.Uint64N(step/2)
		out = append(out, feedgen.Range{First: first, Last: first + r.Uint64N(50)})
	}
	return out
}

// recoveryRun sends a generated feed (1% loss on each line, and the same
// 20 runs of 1 to 50 messages lost on both) to a Handler with a rewinder
// at rewinder, and returns what the generator knows, the Handler's stats
// and the checker.
func recoveryRun(t *testing.T, n int, a, b string, rewinder netip.AddrPort, store *rewind.Store, recovery time.Duration) (*feedgen.Generator, feedhandler.Stats, *checker) {
	t.Helper()
	specA, specB := group.MustParseSpec(a), group.MustParseSpec(b)
	c := newChecker(1)
	cfg := &feedhandler.Config{
		A: specA, B: specB,
		// A GapTimeout far beyond the lines' skew, so that only what both
		// lines lost is asked for, even on a busy machine; a Window that
		// holds the whole feed, so that nothing is given up while the
		// requests go.
		Arbiter:   arbiter.Config{GapTimeout: time.Second, LineTimeout: time.Minute, StartSeq: 1, Window: 1 << 17, RecoveryTimeout: recovery},
		Rewinder:  rewinder,
		Rerequest: rerequest.Config{MaxCount: 16, RetryTimeout: 50 * time.Millisecond},
	}
	c.hook(cfg)
	h, err := feedhandler.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.RequestAddr(); !got.IsValid() || got.Port() == specA.Port || got.Port() == specB.Port {
		t.Fatalf("request socket %s: want a port of its own", got)
	}
	stop := start(t, h)
	feed := feedgen.Config{
		Seed: 1401, Messages: n, MaxBatch: 8, Interval: 10 * time.Microsecond, HeartbeatEvery: 1000, EndOfSession: 3,
		A:        feedgen.LineConfig{Loss: 0.01, Jitter: 5 * time.Microsecond},
		B:        feedgen.LineConfig{Loss: 0.01, Delay: 15 * time.Microsecond, Jitter: 10 * time.Microsecond},
		LoseBoth: bothRuns(14, 20, uint64(n)),
	}
	if store != nil {
		feed.OnSend = store.AddPacket
	}
	g, res, err := feedsend.Send(context.Background(), &feedsend.Config{
		A: specA.AddrPort(), B: specB.AddrPort(), Feed: feed,
		Pace: func() error { return testbed.Pace(specA.Port, 256<<10, 10*time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	end := c.waitEnd(t, 60*time.Second)
	if end.Seq != uint64(n)+1 {
		t.Fatalf("session ended at %d", end.Seq)
	}
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	st := h.Stats()
	c.check(t)
	t.Logf("sent %d+%d packets; delivered %d, recovered %d, gaps %d (missing %d); kernel drops %d; lines late %d, %d",
		res.Packets[0], res.Packets[1], st.Feed.Delivered, st.Feed.Recovered, st.Feed.Gaps, st.Feed.Missing,
		st.KernelDrops, st.Feed.Lines[0].Late, st.Feed.Lines[1].Late)
	if r := st.Rerequest; r != nil {
		t.Logf("client: %+v", *r)
	}
	return g, st, c
}

// TestRecovery is issue 14's first acceptance criterion: 100,000 messages;
// lines A and B each lose 1% independently and also the same 20 runs of 1
// to 50 messages; the generator's rewinder answers re-requests. The
// Handler delivers all 100,000 in order, byte for byte, with 0 gaps, and
// its recovered count is the number of messages that both lines lost.
func TestRecovery(t *testing.T) {
	testbed.Require(t)
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	store := rewind.NewStore(nil)
	srv, err := rewind.Listen("127.0.0.1:0", &rewind.ServerConfig{Store: store, Rate: 100_000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })

	g, st, c := recoveryRun(t, n, "239.1.1.9:5500", "239.1.1.10:5500", srv.Addr(), store, 10*time.Second)
	var lostBoth uint64
	want := g.Missing()
	for _, r := range want {
		lostBoth += r.Last - r.First + 1
	}
	t.Logf("lost on both lines: %d messages in %d runs; rewinder %+v", lostBoth, len(want), srv.Stats())
	if len(want) < 20 {
		t.Fatalf("only %d runs lost on both lines", len(want))
	}
	if c.delivered != uint64(n) || c.missing != 0 || st.Feed.Gaps != 0 || c.next != uint64(n)+1 {
		t.Errorf("delivered %d, missing %d, gaps %d; want all %d delivered", c.delivered, c.missing, st.Feed.Gaps, n)
	}
	late := st.Feed.Lines[0].Late + st.Feed.Lines[1].Late
	if st.KernelDrops == 0 && late == 0 {
		if st.Feed.Recovered != lostBoth {
			t.Errorf("recovered %d, want the %d messages both lines lost", st.Feed.Recovered, lostBoth)
		}
	} else if st.Feed.Recovered < lostBoth {
		t.Errorf("recovered %d, want at least the %d messages both lines lost (kernel drops %d, late %d)",
			st.Feed.Recovered, lostBoth, st.KernelDrops, late)
	}
	if r := st.Rerequest; r.Answers == 0 || r.Filled == 0 || r.Foreign+r.Unasked+r.WrongSession+r.Malformed != 0 || st.Feed.Recovery.Invalid != 0 {
		t.Errorf("client stats %+v", *r)
	}
}

// TestRecoveryRewinderDown is issue 14's second criterion: the same feed,
// with nothing answering at the rewinder's address. The gaps are reported
// exactly as without re-requests (each equal to a run both lines lost)
// once the give-up time has passed, and the handler goes on to the end of
// the session; every request is counted as unanswered.
func TestRecoveryRewinderDown(t *testing.T) {
	testbed.Require(t)
	// A port that nothing listens on.
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	down := l.LocalAddr().(*net.UDPAddr).AddrPort()
	l.Close()

	g, st, c := recoveryRun(t, 20_000, "239.1.1.11:5501", "239.1.1.12:5501", down, nil, 200*time.Millisecond)
	want := g.Missing()
	late := st.Feed.Lines[0].Late + st.Feed.Lines[1].Late
	if st.KernelDrops == 0 && late == 0 && !slices.Equal(c.gaps, want) {
		t.Errorf("gaps differ from the runs both lines lost\n got  %v\n want %v", c.gaps, want)
	}
	for _, r := range want {
		if !covered(c.gaps, r) {
			t.Errorf("run %d-%d, lost on both lines, is in no gap", r.First, r.Last)
		}
	}
	if c.delivered+c.missing != 20_000 || st.Feed.Recovered != 0 {
		t.Errorf("delivered %d + missing %d, recovered %d", c.delivered, c.missing, st.Feed.Recovered)
	}
	r := st.Rerequest
	if r.Answers != 0 || r.Requests == 0 || r.Unanswered == 0 || r.Pending != 0 {
		t.Errorf("client stats %+v", *r)
	}
	// Each run was asked for (split in requests of at most 16), and every
	// request went unanswered.
	var chunks uint64
	for _, g := range c.gaps {
		chunks += (g.Last - g.First + 16) / 16
	}
	if st.KernelDrops == 0 && late == 0 && (r.Unanswered != chunks || st.Feed.Requests != uint64(len(c.gaps))) {
		t.Errorf("%d requests unanswered and %d runs asked, want %d and %d", r.Unanswered, st.Feed.Requests, chunks, len(c.gaps))
	}
}
