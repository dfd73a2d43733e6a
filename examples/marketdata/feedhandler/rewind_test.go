package feedhandler_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/examples/marketdata/feedsend"
	"github.com/sharecast/sharecast/examples/marketdata/rewind"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestLocalRewind is issue 14's third criterion: a consumer with a tiny
// receive buffer, beside a rewinder (what marketdata rewind runs: a
// Handler on the same lines and port, whose arbiter feeds a rewind.Store,
// and a rewind.Server) on the same host. The consumer's reading is
// stalled by a gate in its first message's callback while the first
// 2,000 packets are sent, so its socket's queue overflows and the kernel
// drops datagrams (deterministically: nothing reads them). Once the gate
// opens, the consumer asks the rewinder for what it missed: it delivers
// all messages in order, byte for byte, with no gap; the kernel drops are
// counted; and what was recovered is exactly what neither line's copy
// brought (the messages whose every copy the kernel dropped).
func TestLocalRewind(t *testing.T) {
	testbed.Require(t)
	const n = 20_000
	specA, specB := group.MustParseSpec("239.1.1.13:5600"), group.MustParseSpec("239.1.1.14:5600")

	// The rewinder.
	store := rewind.NewStore(nil)
	rcfg := &feedhandler.Config{A: specA, B: specB,
		Arbiter: arbiter.Config{GapTimeout: 50 * time.Millisecond, LineTimeout: time.Minute, StartSeq: 1}}
	store.Hook(&rcfg.Arbiter)
	rh, err := feedhandler.New(context.Background(), rcfg)
	if err != nil {
		t.Fatal(err)
	}
	stopRewinder := start(t, rh)
	srv, err := rewind.Listen("127.0.0.1:0", &rewind.ServerConfig{Store: store, Rate: 100_000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })

	// The consumer, its first message held at the gate.
	gate := make(chan struct{})
	var gateOnce sync.Once
	c := newChecker(1)
	ccfg := &feedhandler.Config{A: specA, B: specB,
		Arbiter:    arbiter.Config{GapTimeout: 50 * time.Millisecond, LineTimeout: time.Minute, StartSeq: 1, Window: 1 << 17, RecoveryTimeout: 30 * time.Second},
		ReadBuffer: 4096, QueueLen: 1, Rewinder: srv.Addr(),
	}
	c.hook(ccfg)
	onMessage := ccfg.Arbiter.OnMessage
	ccfg.Arbiter.OnMessage = func(m arbiter.Message) {
		gateOnce.Do(func() { <-gate })
		onMessage(m)
	}
	h, err := feedhandler.New(context.Background(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, h)

	sent := 0
	g, res, err := feedsend.Send(context.Background(), &feedsend.Config{
		A: specA.AddrPort(), B: specB.AddrPort(),
		Feed: feedgen.Config{Seed: 3, Messages: n, MaxBatch: 8, Interval: 10 * time.Microsecond, HeartbeatEvery: 100, EndOfSession: 3},
		// The rewinder's socket is drained before each batch; the
		// consumer's tiny queue never holds 256 KiB, so it is not waited
		// for.
		Pace: func() error {
			if sent += 32; sent == 2016 {
				close(gate)
			}
			return testbed.Pace(specA.Port, 256<<10, 10*time.Second)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The tiny buffer may drop the ends of session too: send more until
	// the consumer has seen one (bounded).
	if !waitEnded(c, 200*time.Millisecond) {
		s := testbed.NewSender(t, specA.AddrPort(), nil, netip.Addr{})
		for i := 0; !waitEnded(c, 100*time.Millisecond); i++ {
			if i == 300 {
				t.Fatal("the consumer did not see the session end")
			}
			if err := s.Send(moldudp64.AppendEndOfSession(nil, moldudp64.MustParseSession("FEEDGEN"), n+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
	if err := stopRewinder(); err != nil {
		t.Error(err)
	}
	st, rst := h.Stats(), rh.Stats()
	c.check(t)
	f := st.Feed
	t.Logf("sent %d+%d packets; consumer: kernel drops %d, delivered %d (A first %d, B first %d, recovered %d), gaps %d; rewinder: kernel drops %d, holding %+v; server %+v",
		res.Packets[0], res.Packets[1], st.KernelDrops, f.Delivered, f.Lines[0].First, f.Lines[1].First, f.Recovered, f.Gaps,
		rst.KernelDrops, store.Stats(), srv.Stats())
	if g.Revealed() != n+1 || len(g.Missing()) != 0 {
		t.Fatalf("the generator lost messages: %v", g.Missing())
	}
	if rst.KernelDrops != 0 || rst.Feed.Delivered != n {
		t.Fatalf("the rewinder dropped %d datagrams and delivered %d: it cannot answer for all", rst.KernelDrops, rst.Feed.Delivered)
	}
	if c.delivered != n || c.missing != 0 || f.Gaps != 0 {
		t.Errorf("delivered %d, missing %d, gaps %d: want all %d delivered", c.delivered, c.missing, f.Gaps, n)
	}
	if st.KernelDrops == 0 {
		t.Fatal("the consumer's kernel dropped nothing: the test proves nothing")
	}
	// What the lines did not bring, the rewinder did.
	if f.Recovered == 0 || f.Recovered != n-f.Lines[0].First-f.Lines[1].First {
		t.Errorf("recovered %d, want %d - %d - %d", f.Recovered, n, f.Lines[0].First, f.Lines[1].First)
	}
	// Each dropped datagram held at most 8 messages.
	if f.Recovered > st.KernelDrops*8 {
		t.Errorf("recovered %d, more than %d kernel drops can explain", f.Recovered, st.KernelDrops)
	}
}

// waitEnded reports whether c has seen the session end, waiting up to d.
func waitEnded(c *checker, d time.Duration) bool {
	c.mu.Lock()
	for _, e := range c.sessions {
		if e.Kind == arbiter.SessionEnded {
			c.mu.Unlock()
			return true
		}
	}
	c.mu.Unlock()
	select {
	case e := <-c.ended:
		c.ended <- e
		return true
	case <-time.After(d):
		return false
	}
}
