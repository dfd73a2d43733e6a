package arbiter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

const started = "session 20240102A started 1"

func TestInOrder(t *testing.T) {
	r := newRec(t, nil)
	r.data(A, 0, 1, 3)
	r.expect(join([]string{started}, msgs(A, 1, 3, ""))...)
	r.data(B, 5, 1, 3)
	r.expect()
	r.data(B, 10, 4, 2)
	r.expect(msgs(B, 4, 5, "")...)
	r.data(A, 12, 4, 2)
	r.expect()

	st := r.a.Stats()
	if st.Delivered != 5 || st.Next != 6 || st.Gaps != 0 || st.Missing != 0 || st.Sessions != 1 || st.Session != sess {
		t.Errorf("Stats = %+v", st)
	}
	a, b := st.Lines[A], st.Lines[B]
	if a.Packets != 2 || a.Messages != 5 || a.First != 3 || a.Duplicates != 2 || a.Late != 0 {
		t.Errorf("line A = %+v", a)
	}
	if b.Packets != 2 || b.Messages != 5 || b.First != 2 || b.Duplicates != 3 || b.Late != 0 {
		t.Errorf("line B = %+v", b)
	}
	if !a.LastPacket.Equal(us(12)) || !b.LastPacket.Equal(us(10)) {
		t.Errorf("LastPacket A %v B %v", a.LastPacket, b.LastPacket)
	}
	// Nothing waited; the lines were 5µs apart for 1-3 and 2µs for 4-5.
	if st.Delay.Count != 5 || st.Delay.Max != 0 {
		t.Errorf("Delay = %+v, want 5 of 0", st.Delay)
	}
	if st.Skew.Count != 5 || st.Skew.Max != 5*time.Microsecond || st.Skew.Sum != 19*time.Microsecond {
		t.Errorf("Skew = %+v, want 5 totalling 19µs, max 5µs", st.Skew)
	}
}

func TestFillFromOtherLine(t *testing.T) {
	r := newRec(t, nil)
	r.data(A, 0, 1, 2)
	r.expect(join([]string{started}, msgs(A, 1, 2, ""))...)
	// A loses 3-4; 5-6 wait for B, which runs 20µs behind.
	r.data(A, 10, 5, 2)
	r.expect()
	if st := r.a.Stats(); st.Buffered != 2 || st.Next != 3 {
		t.Errorf("Buffered %d Next %d, want 2 and 3", st.Buffered, st.Next)
	}
	r.data(B, 20, 1, 2)
	r.expect()
	r.data(B, 25, 3, 2)
	r.expect(join(msgs(B, 3, 4, ""), msgs(A, 5, 6, " buffered"))...)
	r.data(B, 30, 5, 2)
	r.expect()

	st := r.a.Stats()
	if st.Buffered != 0 || st.BufferedMax != 2 || st.Delivered != 6 || st.Gaps != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if st.Delay.Count != 6 || st.Delay.Max != 15*time.Microsecond || st.Delay.Sum != 30*time.Microsecond {
		t.Errorf("Delay = %+v, want two of 15µs", st.Delay)
	}
	if st.Lines[A].First != 4 || st.Lines[B].First != 2 || st.Lines[A].Duplicates != 0 || st.Lines[B].Duplicates != 4 {
		t.Errorf("lines = %+v", st.Lines)
	}
}

func TestGapTimeout(t *testing.T) {
	r := newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond})
	r.data(A, 0, 1, 2)
	r.data(B, 1, 1, 2)
	r.expect(join([]string{started}, msgs(A, 1, 2, ""))...)
	// Both lose 3-4. The wait starts when 5 arrives, at 10.
	r.data(A, 10, 5, 1)
	r.data(B, 50, 5, 1)
	r.a.Tick(us(109))
	r.expect()
	r.a.Tick(us(110))
	r.expect("gap 3-4 timeout @110", "msg 5 A buffered")
	// A copy that comes after its gap was declared is late.
	r.data(B, 120, 3, 2)
	r.expect()
	if st := r.a.Stats(); st.Gaps != 1 || st.Missing != 2 || st.Lines[B].Late != 2 || st.Lines[B].Duplicates != 3 {
		t.Errorf("Stats = %+v", st)
	}

	// Feed, like Tick, expires the wait before it handles its packet: 6,
	// arriving exactly GapTimeout after 7 revealed it missing, is late.
	r.data(A, 200, 7, 1)
	r.data(B, 300, 6, 1)
	r.expect("gap 6-6 timeout @300", "msg 7 A buffered")
	if st := r.a.Stats(); st.Lines[B].Late != 3 || st.Delivered != 4 || st.Missing != 3 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestWaitFromFirstEvidence(t *testing.T) {
	// The wait for 3 starts with 5's arrival at 10, not with 4's at 50:
	// both run out together at 110.
	r := newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond})
	r.data(A, 0, 1, 2)
	r.data(A, 10, 5, 1)
	r.data(B, 50, 4, 1)
	r.a.Tick(us(109))
	r.expect(join([]string{started}, msgs(A, 1, 2, ""))...)
	r.a.Tick(us(110))
	r.expect("gap 3-3 timeout @110", "msg 4 B buffered", "msg 5 A buffered")
	if st := r.a.Stats(); st.Delay.Max != 100*time.Microsecond {
		t.Errorf("Delay.Max = %v, want 100µs", st.Delay.Max)
	}
}

func TestHeartbeat(t *testing.T) {
	r := newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond})
	r.data(A, 0, 1, 3)
	r.expect(join([]string{started}, msgs(A, 1, 3, ""))...)
	// Both lose 4-5; the heartbeats announce 6 as next.
	r.heartbeat(B, 10, 6)
	r.heartbeat(A, 50, 6)
	r.a.Tick(us(109))
	r.expect()
	r.a.Tick(us(110))
	r.expect("gap 4-5 timeout @110")
	r.heartbeat(A, 120, 6)
	r.heartbeat(A, 130, 3) // behind: nothing to learn
	r.a.Tick(us(1000))
	r.expect()
	st := r.a.Stats()
	if st.Lines[A].Heartbeats != 3 || st.Lines[B].Heartbeats != 1 || st.Lines[A].Packets != 4 || st.Next != 6 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestHeartbeatsWaitEach(t *testing.T) {
	// Each announcement starts its own wait: 4-5 (announced at 10) are
	// given up at 110, 6-8 (announced at 50) at 150.
	r := newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond})
	r.data(A, 0, 1, 3)
	r.heartbeat(A, 10, 6)
	r.heartbeat(B, 50, 9)
	r.a.Tick(us(110))
	r.expect(started, "msg 1 A", "msg 2 A", "msg 3 A", "gap 4-5 timeout @110")
	r.data(B, 120, 6, 2)
	r.a.Tick(us(150))
	r.expect("msg 6 B", "msg 7 B", "gap 8-8 timeout @150")
}

func TestEndOfSession(t *testing.T) {
	r := newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond})
	r.data(A, 0, 1, 2)
	r.end(A, 5, 3)
	r.expect(join([]string{started}, msgs(A, 1, 2, ""), []string{"session 20240102A ended 3"})...)
	r.end(B, 6, 3)
	r.data(B, 7, 1, 2)
	r.data(A, 8, 3, 1) // past the end
	r.a.Tick(us(1000))
	r.expect()
	st := r.a.Stats()
	if st.Lines[A].Ends != 1 || st.Lines[B].Ends != 1 || st.Lines[A].Invalid != 1 || st.Lines[B].Duplicates != 2 || st.Delivered != 2 {
		t.Errorf("Stats = %+v", st)
	}

	// The end of session announces a lost tail, reported before the end.
	r = newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond})
	r.data(A, 0, 1, 2)
	r.end(B, 5, 5)
	r.end(A, 6, 5)
	r.expect(join([]string{started}, msgs(A, 1, 2, ""))...)
	r.a.Tick(us(105))
	r.expect("gap 3-4 timeout @105", "session 20240102A ended 5")
}

func TestWindow(t *testing.T) {
	r := newRec(t, &arbiter.Config{Window: 4, GapTimeout: time.Second})
	r.data(A, 0, 1, 1)
	r.data(A, 1, 3, 1)
	r.expect(join([]string{started}, msgs(A, 1, 1, ""))...)
	// 6 is 4 ahead of next (2): a jump, held until B's copy confirms it;
	// then 2 is given up to make room.
	r.data(A, 2, 6, 1)
	r.expect()
	r.data(B, 2, 6, 1)
	r.expect("gap 2-2 window @2", "msg 3 A buffered")
	r.data(B, 3, 2, 5)
	r.expect(join(msgs(B, 4, 5, ""), msgs(A, 6, 6, " buffered"))...)
	if st := r.a.Stats(); st.Lines[B].Late != 1 || st.Lines[B].Duplicates != 3 || st.Lines[A].Jumps != 1 || st.JumpsConfirmed != 1 {
		t.Errorf("Stats = %+v, want B 1 late (2) and 3 duplicates (6, 3, 6), A's jump confirmed", st)
	}
	// Far ahead, with nothing buffered: held until A's next packet, a
	// heartbeat, confirms it; then the window gives up 7-16, and the run
	// goes on (17 is missing too): it is reported once it ends, whole.
	r.data(A, 10, 20, 1)
	r.expect()
	r.heartbeat(A, 10, 21)
	r.expect()
	r.a.Flush(us(11))
	r.expect("gap 7-19 window @11", "msg 20 A buffered")
	if st := r.a.Stats(); st.Gaps != 2 || st.Missing != 14 || st.Delivered != 6 || st.Next != 21 || st.JumpsConfirmed != 2 || st.JumpPending {
		t.Errorf("Stats = %+v", st)
	}
}

func TestSessionChange(t *testing.T) {
	next := moldudp64.MustParseSession("20240103A")
	follow := &arbiter.Config{FollowSessions: true}
	r := newRec(t, follow)
	r.data(A, 0, 1, 2)
	r.data(A, 1, 4, 1)
	r.expect(join([]string{started}, msgs(A, 1, 2, ""))...)
	r.feedSession(B, 2, next, 1, 2)
	r.expect(join([]string{
		"gap 3-3 session-change @2",
		"msg 4 A buffered",
		"session 20240102A replaced 5",
		"session 20240103A started 1",
	}, msgs(B, 1, 2, ""))...)
	// The old session's stragglers are late; the new one goes on.
	r.data(A, 3, 3, 3)
	r.feedSession(A, 4, next, 1, 3)
	r.expect(msgs(A, 3, 3, "")...)
	st := r.a.Stats()
	if st.Sessions != 2 || st.Session != next || st.Lines[A].Late != 3 || st.Lines[A].Duplicates != 2 || st.Delivered != 6 {
		t.Errorf("Stats = %+v", st)
	}

	// An end of session whose tail is still missing when the next session
	// comes: the tail is given up, and the session did end.
	r = newRec(t, follow)
	r.data(A, 0, 1, 1)
	r.end(A, 1, 5)
	r.feedSession(B, 2, next, 1, 1)
	r.expect(started, "msg 1 A", "gap 2-4 session-change @2", "session 20240102A ended 5",
		"session 20240103A started 1", "msg 1 B")

	// After an orderly end, a new session only starts.
	r = newRec(t, nil)
	r.data(A, 0, 1, 1)
	r.end(A, 1, 2)
	r.feedSession(A, 2, next, 1, 1)
	r.expect(started, "msg 1 A", "session 20240102A ended 2", "session 20240103A started 1", "msg 1 A")
}

func TestStartSeq(t *testing.T) {
	// By default the first packet sets the start.
	r := newRec(t, nil)
	r.data(B, 0, 100, 2)
	r.data(A, 1, 98, 4)
	r.expect(join([]string{"session 20240102A started 100"}, msgs(B, 100, 101, ""))...)
	if st := r.a.Stats(); st.Lines[A].Late != 2 || st.Lines[A].Duplicates != 2 {
		t.Errorf("line A = %+v, want 2 late and 2 duplicates", st.Lines[A])
	}
	// With StartSeq 1, everything before is missing.
	r = newRec(t, &arbiter.Config{StartSeq: 1, GapTimeout: time.Millisecond})
	r.data(B, 0, 100, 2)
	r.a.Tick(us(1000))
	r.expect(join([]string{started, "gap 1-99 timeout @1000"}, msgs(B, 100, 101, " buffered"))...)
}

func TestLineSilence(t *testing.T) {
	r := newRec(t, &arbiter.Config{LineTimeout: time.Millisecond})
	r.data(A, 0, 1, 1)
	r.a.Tick(us(999))
	r.expect(started, "msg 1 A")
	r.a.Tick(us(1000))
	r.expect("line A silent @1000 last 0", "line B silent @1000 last never")
	r.data(B, 1500, 2, 1)
	r.expect("line B up @1500 last never", "msg 2 B")
	r.a.Tick(us(2500))
	r.expect("line B silent @2500 last 1500")
	r.data(A, 2600, 3, 1)
	r.expect("line A up @2600 last 0", "msg 3 A")
	// Without a Tick, a long silence is still reported when the line
	// comes back.
	r.data(A, 10000, 4, 1)
	r.expect("line A silent @10000 last 2600", "line A up @10000 last 2600", "msg 4 A")
	st := r.a.Stats()
	if st.Lines[A].Silences != 2 || st.Lines[A].Silent || st.Lines[B].Silences != 2 || !st.Lines[B].Silent {
		t.Errorf("lines = %+v", st.Lines)
	}
}

func TestTimeGoesBackwards(t *testing.T) {
	r := newRec(t, &arbiter.Config{GapTimeout: 100 * time.Microsecond})
	r.data(A, 50, 1, 1)
	r.data(A, 60, 3, 1)
	r.data(B, 10, 4, 1) // taken as 60
	r.a.Tick(us(159))
	r.expect(started, "msg 1 A")
	r.a.Tick(us(160))
	r.expect("gap 2-2 timeout @160", "msg 3 A buffered", "msg 4 B buffered")
}

func TestErrors(t *testing.T) {
	for _, cfg := range []arbiter.Config{
		{Window: -1},
		{Window: arbiter.MaxWindow + 1},
		{GapTimeout: -1},
		{LineTimeout: -time.Second},
	} {
		if _, err := arbiter.New(&cfg); !errors.Is(err, arbiter.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	a, err := arbiter.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Feed(arbiter.Line(2), moldudp64.Packet{}, base); !errors.Is(err, arbiter.ErrInvalidLine) {
		t.Errorf("Feed on line 2 = %v, want ErrInvalidLine", err)
	}
	b, _ := moldudp64.AppendPacket(nil, sess, ^uint64(0), []byte("x"))
	p, _ := moldudp64.Decode(b)
	if err := a.Feed(B, p, base); !errors.Is(err, arbiter.ErrSequenceOverflow) {
		t.Errorf("Feed of an overflowing packet = %v, want ErrSequenceOverflow", err)
	}
	if st := a.Stats(); st.Lines[B].Invalid != 1 || st.Lines[B].Packets != 1 || st.Lines[A].Packets != 0 || st.Sessions != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{A.String(), "A"}, {B.String(), "B"}, {arbiter.Line(7).String(), "Line(7)"},
		{arbiter.GapTimeout.String(), "timeout"}, {arbiter.GapWindow.String(), "window"},
		{arbiter.GapSessionChange.String(), "session-change"}, {arbiter.GapFlush.String(), "flush"},
		{arbiter.GapReason(0).String(), "GapReason(0)"},
		{arbiter.SessionStarted.String(), "started"}, {arbiter.SessionEnded.String(), "ended"},
		{arbiter.SessionReplaced.String(), "replaced"}, {arbiter.SessionEventKind(9).String(), "SessionEventKind(9)"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
	if g := (arbiter.Gap{First: 5, Last: 9}); g.Len() != 5 {
		t.Errorf("Len = %d, want 5", g.Len())
	}
}

func TestHistogram(t *testing.T) {
	var h arbiter.Histogram
	if h.Mean() != 0 || h.Quantile(0.5) != 0 {
		t.Error("empty histogram is not 0")
	}
	for _, d := range []time.Duration{0, -5, 1, 3, 1000, 1000, 1000, 1000, 1000, time.Hour} {
		h.Record(d)
	}
	if h.Count != 10 || h.Max != time.Hour || h.Buckets[0] != 2 || h.Buckets[1] != 1 || h.Buckets[2] != 1 ||
		h.Buckets[10] != 5 || h.Buckets[arbiter.HistogramBuckets-1] != 1 {
		t.Errorf("histogram = %+v", h)
	}
	if want := (time.Hour + 5004) / 10; h.Mean() != want {
		t.Errorf("Mean = %v, want %v", h.Mean(), want)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0, 0}, {0.2, 0}, {0.3, 1}, {0.4, 3}, {0.5, 1023}, {0.9, 1023}, {1, time.Hour}} {
		if got := h.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestFeedAllocs(t *testing.T) {
	// Warm up past the first lap of the ring, then no packet allocates:
	// in order, duplicated, or early (copied into a slot's kept buffer).
	a, err := arbiter.New(&arbiter.Config{Window: 64, StartSeq: 1, OnMessage: func(arbiter.Message) {}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := [][]byte{make([]byte, 30), make([]byte, 30)}
	raw, _ := moldudp64.AppendPacket(nil, sess, 1, msgs...)
	p, _ := moldudp64.Decode(raw)
	now := base
	step := func() {
		// 2 messages early on A, then the 2 before them on B (delivering
		// all 4), then A's copy of those as duplicates.
		now = now.Add(time.Microsecond)
		early := p
		early.Seq = p.Seq + 2
		a.Feed(A, early, now)
		a.Feed(B, p, now)
		a.Feed(A, p, now)
		a.Tick(now)
		p.Seq += 4
	}
	for range 100 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%v allocations per step, want 0", n)
	}
	if st := a.Stats(); st.Delivered != 4404 || st.Gaps != 0 || st.Lines[A].Duplicates != 2202 || st.Skew.Count != 2202 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestHeartbeatFlood(t *testing.T) {
	// Heartbeats announcing one more each, far more than the arbiter keeps
	// deadlines for: it keeps going and, in the end, accounts for all.
	r := newRec(t, &arbiter.Config{Window: 1, GapTimeout: 100 * time.Microsecond})
	r.data(A, 0, 1, 1)
	// Every other one is a jump beyond the window (held), which the next
	// confirms; the last is confirmed by A.
	for i := range 500 {
		r.heartbeat(B, 1+i/10, uint64(3+i))
	}
	r.heartbeat(A, 60, 502)
	r.a.Tick(us(1000))
	st := r.a.Stats()
	if st.Next != 502 || st.Missing != 500 || st.Delivered != 1 || st.Lines[B].Heartbeats != 500 ||
		st.Lines[B].Jumps != 250 || st.JumpsConfirmed != 250 || st.JumpsRefused != 0 {
		t.Errorf("Stats = %+v", st)
	}
}
