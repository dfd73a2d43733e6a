package arbiter_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// TestForeignSession is issue 14's fifth criterion at the logic level:
// well-formed packets of a foreign session (ten 0xFF bytes, and another
// name) in the middle of a session are dropped and counted, the session
// goes on and its end is honoured; a new session replaces it only by the
// rule (ended, or silent for SessionTimeout).
func TestForeignSession(t *testing.T) {
	var ff moldudp64.Session
	for i := range ff {
		ff[i] = 0xFF
	}
	other := moldudp64.MustParseSession("20240103A")
	r := newRec(t, &arbiter.Config{SessionTimeout: time.Millisecond})
	r.data(A, 0, 1, 2)
	r.expect(join([]string{started}, msgs(A, 1, 2, ""))...)
	for i, s := range []moldudp64.Session{ff, other, ff} {
		b, err := moldudp64.AppendPacket(nil, s, 3, []byte("FORGED"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := moldudp64.Decode(b)
		if err := r.a.Feed(arbiter.Line(i%2), p, us(10+i)); !errors.Is(err, arbiter.ErrForeignSession) {
			t.Fatalf("foreign packet %d: %v", i, err)
		}
		end := moldudp64.AppendEndOfSession(nil, s, 100)
		p, _ = moldudp64.Decode(end)
		if err := r.a.Feed(B, p, us(10+i)); !errors.Is(err, arbiter.ErrForeignSession) {
			t.Fatalf("foreign end %d: %v", i, err)
		}
	}
	r.expect()
	r.data(B, 20, 3, 2)
	r.end(A, 21, 5)
	r.expect(join(msgs(B, 3, 4, ""), []string{"session 20240102A ended 5"})...)
	st := r.a.Stats()
	if st.Lines[A].Foreign != 2 || st.Lines[B].Foreign != 4 || st.Session != sess || st.Sessions != 1 || st.Delivered != 4 {
		t.Errorf("Stats = %+v", st)
	}
	// Ended: the next session starts at once.
	r.feedSession(B, 30, other, 1, 1)
	r.expect("session 20240103A started 1", "msg 1 B")

	// Silent for SessionTimeout: a new session replaces the live one.
	b, _ := moldudp64.AppendPacket(nil, ff, 1, []byte("FORGED"))
	p, _ := moldudp64.Decode(b)
	if err := r.a.Feed(A, p, us(40)); !errors.Is(err, arbiter.ErrForeignSession) {
		t.Fatalf("foreign packet: %v", err)
	}
	r.feedSession(A, 30+1000, ff, 7, 1)
	r.expect(`session 20240103A replaced 2`, `session "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" started 7`, "msg 7 A")
	if st := r.a.Stats(); st.Lines[A].Foreign != 3 || st.Sessions != 3 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestNoDataYet: before the first packet no line is silent, however long
// the ticks go on; the silence clock starts at the first packet.
func TestNoDataYet(t *testing.T) {
	r := newRec(t, &arbiter.Config{LineTimeout: time.Millisecond})
	for i := range 10 {
		r.a.Tick(us(i * 1000))
	}
	r.expect()
	r.data(A, 10_000, 1, 1)
	r.a.Tick(us(10_999))
	r.expect(started, "msg 1 A")
	r.a.Tick(us(11_000))
	r.expect("line A silent @11000 last 10000", "line B silent @11000 last never")
}

// TestHeavyLoss is issue 14's sixth criterion at the logic level: 30%
// loss on each line and a window that overflows all the time (the gap
// timeout never fires); each run lost on both lines is reported once, as
// one gap, and the gaps, unmerged, are the true runs.
func TestHeavyLoss(t *testing.T) {
	g, err := feedgen.New(&feedgen.Config{
		Seed: 14, Messages: 200_000, Interval: time.Microsecond, HeartbeatEvery: 100, EndOfSession: 3,
		A: feedgen.LineConfig{Loss: 0.3, Jitter: 2 * time.Microsecond},
		B: feedgen.LineConfig{Loss: 0.3, Delay: 3 * time.Microsecond, Jitter: 2 * time.Microsecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{tb: t, carried: g.Carried}
	cfg := arbiter.Config{GapTimeout: time.Hour, Window: 256, StartSeq: 1}
	c.hook(&cfg)
	var raw []feedgen.Range // the gaps as reported, not merged
	var reasons []arbiter.GapReason
	onGap := cfg.OnGap
	cfg.OnGap = func(gp arbiter.Gap) {
		raw = append(raw, feedgen.Range{First: gp.First, Last: gp.Last})
		reasons = append(reasons, gp.Reason)
		onGap(gp)
	}
	a, err := arbiter.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
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
	}
	a.Flush(last)
	want := g.Missing()
	st := a.Stats()
	t.Logf("%d gaps reported (%d missing), %d runs lost on both lines; delivered %d", len(raw), st.Missing, len(want), st.Delivered)
	if len(want) < 1000 {
		t.Fatalf("only %d runs lost on both lines: the test is too weak", len(want))
	}
	if !slices.Equal(raw, want) {
		n := min(len(raw), len(want), 10)
		t.Errorf("%d gaps reported, %d runs lost on both lines\n got  %v...\n want %v...", len(raw), len(want), raw[:n], want[:n])
		for i := range min(len(raw), len(want)) {
			if raw[i] != want[i] {
				t.Fatalf("first difference at %d: got %v, want %v; reports %v", i, raw[i:i+3], want[i:i+3], reasons[i:i+3])
			}
		}
	}
	if st.Delivered+st.Missing != 200_000 || st.Lines[0].Late+st.Lines[1].Late != 0 {
		t.Errorf("delivered %d + missing %d, late %d+%d", st.Delivered, st.Missing, st.Lines[0].Late, st.Lines[1].Late)
	}
}

// TestRecover: a run that the other line did not fill within GapTimeout is
// requested once; a recovered packet fills it (in order, once), and the
// buffered messages behind it follow; answers for what is not missing, or
// of another session, are counted and dropped; what is not recovered
// within RecoveryTimeout is given up as before.
func TestRecover(t *testing.T) {
	var reqs []arbiter.Request
	r := newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond, RecoveryTimeout: time.Millisecond,
		OnRequest: func(q arbiter.Request) { reqs = append(reqs, q) }})
	r.data(A, 0, 1, 1)
	r.data(A, 10, 4, 2) // 2-3 missing
	r.data(B, 20, 8, 1) // 6-7 missing too; 4-5 buffered
	r.a.Tick(us(109))
	if len(reqs) != 0 {
		t.Fatalf("requests before GapTimeout: %+v", reqs)
	}
	r.a.Tick(us(120))
	if len(reqs) != 2 || reqs[0].First != 2 || reqs[0].Last != 3 || reqs[1].First != 6 || reqs[1].Last != 7 {
		t.Fatalf("requests %+v, want 2-3 and 6-7", reqs)
	}
	r.a.Tick(us(500))
	if len(reqs) != 2 {
		t.Fatalf("asked again: %+v", reqs)
	}
	r.expect(started, "msg 1 A")
	recover := func(at int, s moldudp64.Session, seq uint64, n int) error {
		var ms [][]byte
		for i := range n {
			ms = append(ms, feedgen.AppendMessage(nil, seq+uint64(i), 8))
		}
		b, err := moldudp64.AppendPacket(nil, s, seq, ms...)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := moldudp64.Decode(b)
		return r.a.Recover(p, us(at))
	}
	if err := recover(600, moldudp64.MustParseSession("OTHER"), 2, 2); !errors.Is(err, arbiter.ErrForeignSession) {
		t.Fatalf("foreign answer: %v", err)
	}
	// 3 and 4-5 (buffered) and 8-9 (9 unknown)
	if err := recover(600, sess, 3, 3); err != nil {
		t.Fatal(err)
	}
	if err := recover(600, sess, 8, 2); err != nil {
		t.Fatal(err)
	}
	r.expect()
	if err := recover(610, sess, 2, 1); err != nil {
		t.Fatal(err)
	}
	r.expect("msg 2 R", "msg 3 R buffered", "msg 4 A buffered", "msg 5 A buffered")
	// 6-7 never come: given up at 20+100+1000.
	r.a.Tick(us(1119))
	r.expect()
	r.a.Tick(us(1120))
	r.expect("gap 6-7 timeout @1120", "msg 8 B buffered")
	st := r.a.Stats()
	rc := st.Recovery
	if st.Recovered != 2 || rc.Foreign != 1 || rc.Duplicates != 3 || rc.Invalid != 1 || rc.Messages != 6 || st.Requests != 2 || st.Requested != 4 {
		t.Errorf("recovery %+v, recovered %d, requests %d (%d messages)", rc, st.Recovered, st.Requests, st.Requested)
	}
}
