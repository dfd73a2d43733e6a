package arbiter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/benchcpu"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// benchArbiter returns an Arbiter that counts what it delivers.
func benchArbiter(b *testing.B, cfg arbiter.Config) (*arbiter.Arbiter, *int) {
	b.Helper()
	var delivered int
	cfg.OnMessage = func(m arbiter.Message) { delivered += len(m.Data) & 1 }
	cfg.StartSeq = 1
	a, err := arbiter.New(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	return a, &delivered
}

// benchPacket returns a packet of 8 messages of 36 bytes, from 1.
func benchPacket(b *testing.B) moldudp64.Packet {
	b.Helper()
	msgs := make([][]byte, 8)
	for i := range msgs {
		msgs[i] = make([]byte, 36)
	}
	raw, err := moldudp64.AppendPacket(nil, sess, 1, msgs...)
	if err != nil {
		b.Fatal(err)
	}
	pkt, err := moldudp64.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	return pkt
}

// BenchmarkArbiter measures Feed per packet of 8 messages of 36 bytes:
// in order on one line, in order on both lines (every message arrives
// twice), and a lossy, reordering A/B feed from feedgen (1% loss on each
// line, 0.5% duplication and reordering). All should report 0 allocs/op.
func BenchmarkArbiter(b *testing.B) {
	pkt := benchPacket(b)

	for _, lines := range []struct {
		name  string
		lines []arbiter.Line
	}{{"in-order/one-line", []arbiter.Line{A}}, {"in-order/both-lines", []arbiter.Line{A, B}}} {
		b.Run(lines.name, func(b *testing.B) {
			a, _ := benchArbiter(b, arbiter.Config{})
			p, now := pkt, base
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines.lines {
					now = now.Add(time.Microsecond)
					if err := a.Feed(l, p, now); err != nil {
						b.Fatal(err)
					}
				}
				p.Seq += 8
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8), "ns/msg")
		})
	}

	b.Run("lossy-feed", func(b *testing.B) {
		// One generated feed, replayed with its sequence numbers and times
		// shifted each round so that the arbiter sees one endless feed.
		const n = 100_000
		g, err := feedgen.New(&feedgen.Config{
			Seed: 1, Messages: n, MinBatch: 8, MaxBatch: 8, MinSize: 36, MaxSize: 36, HeartbeatEvery: 1000,
			A: feedgen.LineConfig{Loss: 0.01, Duplicate: 0.005, Reorder: 0.005},
			B: feedgen.LineConfig{Loss: 0.01, Duplicate: 0.005, Reorder: 0.005, Delay: 15 * time.Microsecond},
		})
		if err != nil {
			b.Fatal(err)
		}
		type arrival struct {
			line arbiter.Line
			at   time.Duration
			p    moldudp64.Packet
		}
		var feed []arrival
		var span time.Duration
		for {
			ga, ok := g.Next()
			if !ok {
				break
			}
			p, err := moldudp64.Decode(append([]byte(nil), ga.Data...))
			if err != nil {
				b.Fatal(err)
			}
			feed = append(feed, arrival{arbiter.Line(ga.Line), ga.At, p})
			span = ga.At + time.Microsecond
		}
		a, _ := benchArbiter(b, arbiter.Config{GapTimeout: 200 * time.Microsecond})
		// Warm up one round, so that the ring's buffers are allocated.
		for _, f := range feed {
			if err := a.Feed(f.line, f.p, base.Add(f.at)); err != nil {
				b.Fatal(err)
			}
		}
		copies := func() uint64 { st := a.Stats(); return st.Lines[0].Messages + st.Lines[1].Messages }
		before := copies()
		round, i := 1, 0
		b.ReportAllocs()
		for b.Loop() {
			f := feed[i]
			f.p.Seq += uint64(round * n)
			if err := a.Feed(f.line, f.p, base.Add(f.at+time.Duration(round)*span)); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(feed) {
				i, round = 0, round+1
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(copies()-before), "ns/copy")
		if st := a.Stats(); st.Delivered == 0 || st.Gaps == 0 {
			b.Fatalf("feed did not exercise the arbiter: %+v", st)
		}
	})
}

// BenchmarkAttack puts the attacks of issue 17 (finding 5) beside the
// normal path, per packet of 8 messages of 36 bytes on line A (the default
// Window of 16,384): "normal" is the in-order feed; "forged-sessions"
// rotates three forged sessions, one packet each, which each replace the
// session; "forged-jumps" interleaves the real feed with packets of the
// live session far beyond the window, each at a new sequence number, which
// the arbiter holds and then refuses. Each should cost a small factor of
// "normal" and report 0 allocs/op.
func BenchmarkAttack(b *testing.B) {
	pkt := benchPacket(b)
	b.Run("normal", func(b *testing.B) {
		a, _ := benchArbiter(b, arbiter.Config{})
		p, now := pkt, base
		b.ReportAllocs()
		stop := benchcpu.Start(b)
		for b.Loop() {
			now = now.Add(time.Microsecond)
			if err := a.Feed(A, p, now); err != nil {
				b.Fatal(err)
			}
			p.Seq += 8
		}
		stop()
	})
	forged := [3]moldudp64.Session{
		moldudp64.MustParseSession("FORGED1"), moldudp64.MustParseSession("FORGED2"), moldudp64.MustParseSession("FORGED3"),
	}
	b.Run("forged-sessions", func(b *testing.B) {
		// FollowSessions: each packet replaces the session, the worst case
		// (by default a live session is not replaced: "foreign-sessions").
		a, _ := benchArbiter(b, arbiter.Config{FollowSessions: true})
		p, now, i := pkt, base, 0
		b.ReportAllocs()
		stop := benchcpu.Start(b)
		for b.Loop() {
			now = now.Add(time.Microsecond)
			p.Session = forged[i%3]
			if err := a.Feed(A, p, now); err != nil {
				b.Fatal(err)
			}
			i++
		}
		stop()
		if st := a.Stats(); st.Sessions < uint64(i) {
			b.Fatalf("%d sessions for %d packets", st.Sessions, i)
		}
	})
	b.Run("foreign-sessions", func(b *testing.B) {
		// The default: the live session stays, each forged packet is
		// refused and counted.
		a, _ := benchArbiter(b, arbiter.Config{})
		p, now, i := pkt, base, 0
		if err := a.Feed(A, p, now); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		stop := benchcpu.Start(b)
		for b.Loop() {
			now = now.Add(time.Nanosecond) // the live session's timeout (5 s) never passes
			p.Session = forged[i%3]
			if err := a.Feed(A, p, now); !errors.Is(err, arbiter.ErrForeignSession) {
				b.Fatalf("forged packet %d: %v, want ErrForeignSession", i, err)
			}
			i++
		}
		stop()
		if st := a.Stats(); st.Sessions != 1 || st.Lines[A].Foreign != uint64(i) {
			b.Fatalf("%d sessions, %d foreign packets counted of %d", st.Sessions, st.Lines[A].Foreign, i)
		}
	})
	b.Run("forged-jumps", func(b *testing.B) {
		a, _ := benchArbiter(b, arbiter.Config{})
		p, now, i := pkt, base, uint64(0)
		b.ReportAllocs()
		stop := benchcpu.Start(b)
		for b.Loop() {
			now = now.Add(time.Microsecond)
			q := p
			if i%2 == 1 {
				q.Seq = 1<<62 + i<<32 // far beyond the window, and far from the last forged one
			} else {
				p.Seq += 8
			}
			if err := a.Feed(A, q, now); err != nil {
				b.Fatal(err)
			}
			i++
		}
		stop()
		if st := a.Stats(); st.Next != p.Seq || st.Gaps != 0 {
			b.Fatalf("the real feed was disturbed: %+v", st)
		}
	})
}
