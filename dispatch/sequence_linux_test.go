package dispatch_test

import (
	"net/netip"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/internal/testbed"
)

// The attacks of issue 17 (findings 2 and 3) on a SequenceTracker, over
// real sockets: 5,000 one-datagram flows from as many source ports fill
// the tracker past its 4,096 flows, then a real sender's 1,000 datagrams
// arrive beside a forged flow whose numbers jump to 2^63+4, to 2^64-1 and
// then by 65,535 at a time. The real flow is tracked whole (the flows idle
// longest are evicted for it, and counted), the forged flow's jumps count
// as resets, and no number counts as missing, in any flow or in the
// totals.
func TestSequenceTrackerUnderAttack(t *testing.T) {
	testbed.Require(t)
	checkLeaks(t)
	const (
		flood   = 5_000
		real    = 1_000
		jumps   = 100
		window  = 1 << 14
		pace    = 256 // datagrams sent before waiting for the handler to have them all
		maxFlow = 4096
	)
	ctx := testContext(t)
	conn, port, lo := listenLo(t, ctx, 1<<20)

	tr, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{Extract: extractSeq, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	var rec dispatchtest.Recorder
	var m dispatch.Mux
	must(t, m.Handle(dispatch.Pattern{Group: group1, Port: port}, dispatch.Chain(&rec, tr.Middleware), &dispatch.HandlerConfig{Overflow: dispatch.Block}))
	srv := newServer(t, &m, nil)
	must(t, srv.AddSource("sock", conn))
	done := serve(t, srv, ctx)

	dst := netip.AddrPortFrom(group1, port)
	loAddr := netip.MustParseAddr("127.0.0.1")
	sent := 0
	send := func(s *testbed.Sender, seq uint64) {
		t.Helper()
		must(t, s.Send(seqPayload(seq)))
		if sent++; sent%pace == 0 {
			if err := rec.Wait(ctx, sent); err != nil {
				t.Fatalf("handler has %d datagrams of %d sent: %v", rec.Len(), sent, err)
			}
		}
	}
	// The flood: a socket, so a source port, a datagram. The sockets stay
	// open until it ends, so that no port serves twice.
	for i := range flood {
		send(testbed.NewSender(t, dst, lo, loAddr), uint64(i)*7919)
	}
	realSnd := testbed.NewSender(t, dst, lo, loAddr)
	forged := testbed.NewSender(t, dst, lo, loAddr)
	forgedSeqs := []uint64{5, 1<<63 + 4, 1<<64 - 1}
	for i := range jumps {
		forgedSeqs = append(forgedSeqs, uint64(i+1)*65_535)
	}
	for i := range uint64(real) {
		send(realSnd, i)
		if i%8 == 0 && len(forgedSeqs) > 0 {
			send(forged, forgedSeqs[0])
			forgedSeqs = forgedSeqs[1:]
		}
	}
	if len(forgedSeqs) != 0 {
		t.Fatalf("%d forged numbers not sent", len(forgedSeqs))
	}
	if err := rec.Wait(ctx, sent); err != nil {
		t.Fatalf("handler has %d datagrams of %d sent: %v", rec.Len(), sent, err)
	}
	must(t, srv.Shutdown(ctx))
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	if d := conn.Stats().KernelDrops; d != 0 {
		t.Fatalf("%d kernel drops", d)
	}

	fs := tr.Flows()
	find := func(s *testbed.Sender) *dispatch.FlowSequence {
		t.Helper()
		a := s.LocalAddr()
		for i := range fs {
			if fs[i].Source == a {
				return &fs[i]
			}
		}
		t.Fatalf("no flow from %s", a)
		return nil
	}
	if len(fs) != maxFlow {
		t.Errorf("%d flows tracked, want %d", len(fs), maxFlow)
	}
	want := dispatch.FlowSequence{Source: realSnd.LocalAddr(), Group: group1, Port: port, Highest: real - 1, Next: real,
		SequenceStats: dispatch.SequenceStats{Datagrams: real, Numbers: real}}
	if got := find(realSnd); *got != want {
		t.Errorf("real flow:\n%+v, want\n%+v", *got, want)
	}
	forgedDgs := uint64(3 + jumps)
	if got := find(forged); got.Datagrams != forgedDgs || got.Resets != forgedDgs-1 || got.Missing != 0 || got.Gaps != 0 || got.Next != jumps*65_535+1 {
		t.Errorf("forged flow: %+v, want %d datagrams, %d resets, none missing", *got, forgedDgs, forgedDgs-1)
	}
	// Each flow beyond the 4,096th evicted one: the flood's 904, then one
	// each for the real and forged flows.
	wantTotals := dispatch.SequenceStats{Datagrams: uint64(sent), Numbers: uint64(sent), Resets: forgedDgs - 1, Evicted: flood + 2 - maxFlow}
	if st := tr.Stats(); st != wantTotals {
		t.Errorf("totals %+v, want %+v", st, wantTotals)
	}
}
