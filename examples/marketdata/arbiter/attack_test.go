package arbiter_test

import (
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// The attacks of issue 17, finding 5, mounted over the arbiter's API. Over
// real sockets, see feedhandler's TestForgedJump.

// feedBoth feeds messages first to last, one a packet, on both lines (A
// first), a microsecond apart from *at.
func feedBoth(r *rec, at *int, first, last uint64) {
	r.t.Helper()
	for s := first; s <= last; s++ {
		*at++
		r.data(A, *at, s, 1)
		r.data(B, *at, s, 1)
	}
}

// TestForgedJump is the filer's measurement: after 100 real messages, one
// packet of the live session far ahead (sequence number 2^62; data, a
// heartbeat or an end of session, on either line), then 1,000 more real
// ones. The real feed is delivered whole, nothing is late or missing, and
// the forged packet is refused and counted; the wait for it never expires
// into a gap.
func TestForgedJump(t *testing.T) {
	for _, tt := range []struct {
		name string
		line arbiter.Line
		pkt  func(b []byte) []byte
		msgs uint64
	}{
		{"data/A", A, func(b []byte) []byte { b, _ = moldudp64.AppendPacket(b, sess, 1<<62, []byte("forged")); return b }, 1},
		{"data/B", B, func(b []byte) []byte {
			b, _ = moldudp64.AppendPacket(b, sess, 1<<62, []byte("forged"), []byte("forged"))
			return b
		}, 2},
		{"heartbeat", A, func(b []byte) []byte { return moldudp64.AppendHeartbeat(b, sess, 1<<62) }, 0},
		{"end-of-session", B, func(b []byte) []byte { return moldudp64.AppendEndOfSession(b, sess, 1<<62) }, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRec(t, &arbiter.Config{StartSeq: 1, GapTimeout: 100 * time.Microsecond})
			at := 0
			feedBoth(r, &at, 1, 100)
			r.buf = tt.pkt(r.buf[:0])
			r.feed(tt.line, at)
			if st := r.a.Stats(); !st.JumpPending || st.Lines[tt.line].Jumps != 1 || st.Next != 101 {
				t.Fatalf("after the forged packet: %+v", st)
			}
			r.a.Tick(us(at + 1000)) // the held packet starts no wait
			feedBoth(r, &at, 101, 1100)
			r.a.Tick(us(at + 1000))
			r.expect(join([]string{started}, msgs(A, 1, 1100, ""))...)

			st := r.a.Stats()
			if st.Delivered != 1100 || st.Next != 1101 || st.Gaps != 0 || st.Missing != 0 {
				t.Errorf("delivered %d, next %d, gaps %d, missing %d; want 1100, 1101, 0, 0", st.Delivered, st.Next, st.Gaps, st.Missing)
			}
			l := st.Lines[tt.line]
			if st.JumpsRefused != 1 || st.JumpsConfirmed != 0 || st.JumpPending || l.Unconfirmed != tt.msgs || l.Late != 0 {
				t.Errorf("jumps refused %d, confirmed %d, pending %v; line %s unconfirmed %d, late %d; want 1, 0, false, %d, 0",
					st.JumpsRefused, st.JumpsConfirmed, st.JumpPending, tt.line, l.Unconfirmed, l.Late, tt.msgs)
			}
			checkAccounting(t, st)
		})
	}
}

// TestForgedJumpFlood: 20,000 forged jumps, each at a new far sequence
// number, interleaved with the real feed: every one refused, the real
// feed whole, nothing reported but the real messages.
func TestForgedJumpFlood(t *testing.T) {
	r := newRec(t, &arbiter.Config{StartSeq: 1, GapTimeout: 100 * time.Microsecond})
	at := 0
	for s := uint64(1); s <= 20_000; s++ {
		at++
		r.data(A, at, s, 1)
		r.buf, _ = moldudp64.AppendPacket(r.buf[:0], sess, 1<<62+s<<32, []byte("forged"))
		r.feed(arbiter.Line(s%2), at)
		r.data(B, at, s, 1)
	}
	// Idle heartbeats settle the last forged packet, held until its line
	// goes on.
	r.heartbeat(A, at+1, 20_001)
	r.heartbeat(B, at+1, 20_001)
	r.a.Tick(us(at + 1000))
	st := r.a.Stats()
	if st.Delivered != 20_000 || st.Gaps != 0 || st.JumpsRefused != 20_000 || st.JumpsConfirmed != 0 || len(r.log) != 20_001 {
		t.Errorf("delivered %d, gaps %d, refused %d, confirmed %d, %d reports; want 20000, 0, 20000, 0, 20001",
			st.Delivered, st.Gaps, st.JumpsRefused, st.JumpsConfirmed, len(r.log))
	}
	checkAccounting(t, st)
}

// TestRealJump: after an outage of both lines, the feed resumes beyond
// the window. The first packet is held; the other line's copy, or the same
// line's next packet, confirms it, and the held packet's messages are
// delivered, not lost.
func TestRealJump(t *testing.T) {
	for _, tt := range []struct {
		name    string
		confirm func(r *rec, at int)
	}{
		{"other-line", func(r *rec, at int) { r.data(B, at, 100_000, 2) }},
		{"same-line", func(r *rec, at int) { r.data(A, at, 100_002, 2) }},
		{"heartbeat", func(r *rec, at int) { r.heartbeat(A, at, 100_002) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRec(t, &arbiter.Config{StartSeq: 1, GapTimeout: 100 * time.Microsecond, LineTimeout: time.Hour})
			at := 0
			feedBoth(r, &at, 1, 10)
			r.log = r.log[:0]
			r.data(A, 20, 100_000, 2)
			r.expect()
			tt.confirm(r, 21)
			r.a.Flush(us(22))
			st := r.a.Stats()
			if st.JumpsConfirmed != 1 || st.JumpPending || st.Lines[A].Jumps != 1 || st.Lines[A].First < 2 {
				t.Errorf("Stats = %+v, want A's jump confirmed and its messages delivered", st)
			}
			if st.Missing != 100_000-11 || st.Next < 100_002 {
				t.Errorf("missing %d, next %d; want 99989 (11-99999) and at least 100002", st.Missing, st.Next)
			}
			checkAccounting(t, st)
		})
	}
}

// TestJumpCaughtUp: a packet held as a jump is accepted, with no other to
// confirm it, once the feed catches up with it and it is a jump no more;
// its messages are delivered, never left to time out into a gap while it
// waits (the fuzzer's crasher 59a9907ce76e5b6b). A packet that starts at
// next is no jump, however far it reaches.
func TestJumpCaughtUp(t *testing.T) {
	cfg := &arbiter.Config{StartSeq: 1, Window: 1, GapTimeout: time.Microsecond}
	t.Run("delivered", func(t *testing.T) {
		r := newRec(t, cfg)
		r.data(A, 4, 2, 1) // 2 is beyond the window (1): held
		r.expect(started)
		r.data(B, 8, 1, 1) // 1 takes next to 2: it holds 2 no more
		r.expect("msg 1 B", "msg 2 A")
		r.heartbeat(B, 8, 3)
		r.data(A, 12, 3, 4) // from next: no jump
		r.a.Tick(us(100))
		r.expect(msgs(A, 3, 6, "")...)
		st := r.a.Stats()
		if st.JumpsConfirmed != 1 || st.Lines[A].Jumps != 1 || st.JumpPending || st.Gaps != 0 || st.Lines[A].Late != 0 {
			t.Errorf("Stats = %+v, want A's one jump confirmed, no gap, nothing late", st)
		}
		checkAccounting(t, st)
	})
	t.Run("timeout-stops-short", func(t *testing.T) {
		r := newRec(t, &arbiter.Config{StartSeq: 1, Window: 2, GapTimeout: 10 * time.Microsecond})
		r.data(A, 0, 1, 1)
		r.heartbeat(B, 1, 4) // 2 and 3 missing
		r.data(A, 2, 3, 3)   // 3-5: held
		r.a.Tick(us(11))     // 2 times out; 3 is A's, accepted then
		r.expect(started, "msg 1 A", "gap 2-2 timeout @11", "msg 3 A", "msg 4 A", "msg 5 A")
		st := r.a.Stats()
		if st.JumpsConfirmed != 1 || st.JumpPending || st.Missing != 1 || st.Lines[A].Late != 0 {
			t.Errorf("Stats = %+v, want A's jump confirmed, 1 missing (2), nothing late", st)
		}
		checkAccounting(t, st)
	})
	t.Run("timed-out", func(t *testing.T) {
		r := newRec(t, cfg)
		r.data(A, 0, 1, 1)
		r.data(A, 1, 3, 1) // held: 2 is next
		r.heartbeat(B, 2, 3)
		r.expect(started, "msg 1 A")
		r.a.Tick(us(3)) // 2 times out, and next reaches 3
		r.expect("gap 2-2 timeout @3", "msg 3 A")
		r.heartbeat(B, 4, 4)
		r.a.Tick(us(10))
		r.expect()
		if st := r.a.Stats(); st.JumpsConfirmed != 1 || st.JumpPending || st.Gaps != 1 || st.Next != 4 {
			t.Errorf("Stats = %+v, want A's jump confirmed, 1 gap, next 4", st)
		}
		checkAccounting(t, r.a.Stats())
	})
}

// TestForgedEndBehind: an end of session behind what was delivered is
// invalid; the session goes on.
func TestForgedEndBehind(t *testing.T) {
	r := newRec(t, &arbiter.Config{StartSeq: 1})
	r.data(A, 0, 1, 5)
	r.end(B, 1, 3)
	r.data(A, 2, 6, 1)
	r.expect(join([]string{started}, msgs(A, 1, 6, ""))...)
	if st := r.a.Stats(); st.Lines[B].Invalid != 1 || st.Lines[B].Ends != 1 || st.Delivered != 6 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestSessionGenerations: a session change clears no slot, yet what the
// old session left in the ring never passes for the new one's.
func TestSessionGenerations(t *testing.T) {
	other := moldudp64.MustParseSession("20240103A")
	r := newRec(t, &arbiter.Config{StartSeq: 1, Window: 8, FollowSessions: true})
	r.data(A, 0, 1, 6)
	for i := range 3 {
		r.feedSession(B, 1+i, moldudp64.MustParseSession("FORGED"+string(rune('1'+i))), 1, 2)
	}
	r.log = r.log[:0]
	// 3 is ahead of next in the new session, not a duplicate of the old
	// session's 3; 1 and 2 then deliver it.
	r.feedSession(A, 10, other, 3, 1)
	r.feedSession(B, 11, other, 1, 2)
	r.expect("session FORGED3 replaced 3", "session 20240103A started 1", "msg 1 B", "msg 2 B", "msg 3 A buffered")
	if st := r.a.Stats(); st.Delivered != 6+3*2+3 || st.Lines[A].Duplicates != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestBufferBytes is the filer's measurement: message 1 lost on line A,
// then 16,383 messages of 9,194 bytes, which all wait for it. At the
// defaults the buffer retained 172 MiB; it now holds at most BufferBytes
// (64 MiB), counts the messages it refused, and line B's copies fill them:
// the feed is delivered whole. Once delivered, the slots keep at most 2 KiB
// each.
func TestBufferBytes(t *testing.T) {
	const n, size = 16_384, 9_194
	var next uint64 = 1
	cfg := &arbiter.Config{StartSeq: 1, GapTimeout: time.Second, OnMessage: func(m arbiter.Message) {
		if m.Seq != next {
			t.Fatalf("delivered %d, want %d", m.Seq, next)
		}
		if err := feedgen.CheckMessage(m.Seq, m.Data); err != nil {
			t.Fatal(err)
		}
		next++
	}}
	a, err := arbiter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf, msg []byte
	feed := func(line arbiter.Line, s uint64) {
		t.Helper()
		msg = feedgen.AppendMessage(msg[:0], s, size)
		buf, _ = moldudp64.AppendPacket(buf[:0], sess, s, msg)
		p, err := moldudp64.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Feed(line, p, us(int(s))); err != nil {
			t.Fatal(err)
		}
	}
	for s := uint64(2); s <= n; s++ {
		feed(A, s)
	}
	st := a.Stats()
	t.Logf("buffered %d messages, retained %d bytes, refused %d", st.Buffered, st.Retained, st.Lines[A].Overflow)
	if st.Retained > arbiter.DefaultBufferBytes || st.RetainedMax > arbiter.DefaultBufferBytes {
		t.Errorf("retained %d bytes (max %d), over %d", st.Retained, st.RetainedMax, arbiter.DefaultBufferBytes)
	}
	if st.Buffered == 0 || st.Lines[A].Overflow != n-1-uint64(st.Buffered) {
		t.Errorf("buffered %d, overflow %d: want some buffered and the rest of %d counted", st.Buffered, st.Lines[A].Overflow, n-1)
	}
	for s := uint64(1); s <= n; s++ {
		feed(B, s)
	}
	st = a.Stats()
	if st.Delivered != n || st.Gaps != 0 || next != n+1 {
		t.Errorf("delivered %d (up to %d), gaps %d; want %d, 0", st.Delivered, next-1, st.Gaps, n)
	}
	if keep := arbiter.DefaultBufferBytes / 2; st.Retained > keep {
		t.Errorf("retained %d bytes with nothing waiting, want at most %d", st.Retained, keep)
	}
	checkAccounting(t, st)
}
