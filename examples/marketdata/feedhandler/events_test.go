package feedhandler_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestEvents drives a Handler through malformed packets, lines going
// silent and coming back, a gap, and a session replaced by another and
// then ended, over real sockets, and checks each report.
func TestEvents(t *testing.T) {
	testbed.Require(t)
	specA, specB := group.MustParseSpec("239.1.1.5:5300"), group.MustParseSpec("239.1.1.6:5300")
	events := make(chan any, 1000)
	cfg := &feedhandler.Config{
		A: specA, B: specB,
		Arbiter: arbiter.Config{
			GapTimeout: 50 * time.Millisecond, LineTimeout: 200 * time.Millisecond, StartSeq: 1,
			// S1 has been silent for a LineTimeout when S2 comes: it may replace it.
			SessionTimeout: 100 * time.Millisecond,
			OnMessage:      func(m arbiter.Message) { events <- m.Seq },
			OnGap:          func(g arbiter.Gap) { events <- g },
			OnLine:         func(e arbiter.LineEvent) { events <- e },
			OnSession:      func(e arbiter.SessionEvent) { events <- e },
		},
		OnMalformed: func(line arbiter.Line, payload []byte, err error) { events <- line },
	}
	h, err := feedhandler.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, h)
	a := testbed.NewSender(t, specA.AddrPort(), nil, netip.Addr{})
	b := testbed.NewSender(t, specB.AddrPort(), nil, netip.Addr{})
	send := func(s *testbed.Sender, p []byte) {
		t.Helper()
		if err := s.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	next := func(what string) any {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatalf("no event while waiting for %s", what)
			return nil
		}
	}
	s1, s2 := moldudp64.MustParseSession("S1"), moldudp64.MustParseSession("S2")
	msg := []byte("message")
	pkt := func(s moldudp64.Session, seq uint64, n int) []byte {
		ms := make([][]byte, n)
		for i := range ms {
			ms[i] = msg
		}
		p, err := moldudp64.AppendPacket(nil, s, seq, ms...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Malformed: too short, a count with no blocks, a block past the end.
	bad := [][]byte{[]byte("junk"), pkt(s1, 1, 2)[:moldudp64.HeaderLen], append(pkt(s1, 1, 1), 0, 9)}
	for _, p := range bad {
		send(a, p)
	}
	for range bad {
		if e := next("malformed"); e != arbiter.LineA {
			t.Fatalf("got %#v, want a malformed packet on A", e)
		}
	}

	// Session S1: 1-2 on A, 3-4 on B, then 7 on A (5-6 missing).
	send(a, pkt(s1, 1, 2))
	if e, ok := next("start").(arbiter.SessionEvent); !ok || e.Kind != arbiter.SessionStarted || e.Session != s1 || e.Seq != 1 {
		t.Fatalf("got %#v, want S1 started at 1", e)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		if e := next("message"); e != seq {
			t.Fatalf("got %#v, want message %d", e, seq)
		}
	}
	send(b, pkt(s1, 3, 2))
	for seq := uint64(3); seq <= 4; seq++ {
		if e := next("message"); e != seq {
			t.Fatalf("got %#v, want message %d", e, seq)
		}
	}
	send(a, pkt(s1, 7, 1))
	if g, ok := next("gap").(arbiter.Gap); !ok || g.First != 5 || g.Last != 6 || g.Reason != arbiter.GapTimeout {
		t.Fatalf("got %#v, want a timeout gap 5-6", g)
	}
	if e := next("message"); e != uint64(7) {
		t.Fatalf("got %#v, want message 7", e)
	}

	// Both lines go silent (the ticker notices), in either order.
	silent := map[arbiter.Line]bool{}
	for range 2 {
		e, ok := next("silence").(arbiter.LineEvent)
		if !ok || !e.Silent {
			t.Fatalf("got %#v, want a line gone silent", e)
		}
		silent[e.Line] = true
	}
	if !silent[arbiter.LineA] || !silent[arbiter.LineB] {
		t.Fatalf("silent: %v, want both lines", silent)
	}

	// S2 on B, 1 (8 ahead): S1 is replaced, B is back; then S2 ends at 2.
	send(b, pkt(s2, 1, 1))
	var replaced, started, back bool
	for !(replaced && started && back) {
		switch e := next("S2").(type) {
		case arbiter.LineEvent:
			back = e.Line == arbiter.LineB && !e.Silent
		case arbiter.SessionEvent:
			replaced = replaced || e.Kind == arbiter.SessionReplaced && e.Session == s1 && e.Seq == 8
			started = started || e.Kind == arbiter.SessionStarted && e.Session == s2
		case uint64:
			if !started || e != 1 {
				t.Fatalf("message %d before S2 started", e)
			}
		default:
			t.Fatalf("got %#v while S2 starts", e)
		}
	}
	if e := next("message"); e != uint64(1) {
		t.Fatalf("got %#v, want S2's message 1", e)
	}
	send(b, moldudp64.AppendEndOfSession(nil, s2, 2))
	if e, ok := next("end").(arbiter.SessionEvent); !ok || e.Kind != arbiter.SessionEnded || e.Session != s2 || e.Seq != 2 {
		t.Fatalf("got %#v, want S2 ended at 2", e)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := h.Stats()
	if st.Malformed != [2]uint64{3, 0} {
		t.Errorf("malformed %v, want [3 0]", st.Malformed)
	}
	if l := st.Feed.Lines; l[0].Silences != 1 || l[1].Silences != 1 || l[0].Silent == false || l[1].Silent {
		t.Errorf("silences %d, %d (silent now: %v, %v), want 1, 1 (A silent, B not)", l[0].Silences, l[1].Silences, l[0].Silent, l[1].Silent)
	}
	if st.Feed.Sessions != 2 || st.Feed.Gaps != 1 || st.Feed.Missing != 2 || st.Feed.Delivered != 6 {
		t.Errorf("sessions %d, gaps %d, missing %d, delivered %d; want 2, 1, 2, 6", st.Feed.Sessions, st.Feed.Gaps, st.Feed.Missing, st.Feed.Delivered)
	}
	select {
	case e := <-events:
		t.Errorf("unexpected event %#v", e)
	default:
	}
}
