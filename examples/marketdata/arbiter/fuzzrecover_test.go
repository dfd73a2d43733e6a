package arbiter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// FuzzRecover drives an arbiter with re-requests on: a feed of up to 60
// messages whose packets each line loses as the input says, answers from
// a re-request server (true messages, at any sequence numbers, some far
// off, asked for or not) and packets of a foreign session, slipped in
// among them. Whatever comes, every message is delivered once, in order,
// byte for byte, or reported in a gap; the answers' messages are each
// counted once (delivered, duplicate, late, not missing or overflow); the
// foreign packets (after the first real one) never displace the session;
// a run is asked for once.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{3, 40, 1, 2, 0x11, 0x20, 5, 3, 0x81, 7, 2, 0x42, 9})
	f.Add([]byte{0, 60, 0xff, 0xfe, 0x0f, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		flags := in.next()
		n := uint64(1 + in.next()%60)
		other := moldudp64.MustParseSession("OTHER")
		var requests []arbiter.Request
		carried := func(line int, seq uint64) bool { return true } // content is checked byte for byte
		c := &checker{tb: t, carried: carried}
		cfg := arbiter.Config{
			GapTimeout: time.Duration(1+flags%8) * time.Microsecond, RecoveryTimeout: time.Duration(flags>>3%8) * 10 * time.Microsecond,
			Window: 1 + int(in.next()%32), StartSeq: 1, SessionTimeout: time.Hour,
			OnRequest: func(r arbiter.Request) { requests = append(requests, r) },
		}
		c.hook(&cfg)
		a, err := arbiter.New(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		at := 0
		now := func() time.Time { return base.Add(time.Duration(at) * time.Microsecond) }
		pkt := func(s moldudp64.Session, seq uint64, k int) moldudp64.Packet {
			var ms [][]byte
			for i := range k {
				ms = append(ms, feedgen.AppendMessage(nil, seq+uint64(i), 8+int(seq)%5))
			}
			b, err := moldudp64.AppendPacket(nil, s, seq, ms...)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := moldudp64.Decode(b)
			return p
		}
		var recoveredMsgs uint64
		fed := false // a real packet has come (the first packet starts the session, whatever it is)
		for seq := uint64(1); seq <= n; {
			k := min(uint64(1+in.next()%4), n+1-seq)
			loss := in.next()
			for line := range 2 {
				if loss>>line&1 == 0 {
					if err := a.Feed(arbiter.Line(line), pkt(sess, seq, int(k)), now()); err != nil {
						t.Fatal(err)
					}
					fed = true
				}
			}
			seq += k
			at += int(in.next() % 8)
			switch op := in.next(); op % 4 {
			case 0: // an answer
				if !fed {
					break // no session yet: it would be foreign
				}
				first := uint64(in.next() % 70)
				if op&0x80 != 0 {
					first += 1 << 40 // far off
				}
				cnt := 1 + int(in.next()%6)
				if err := a.Recover(pkt(sess, first, cnt), now()); err != nil {
					t.Fatal(err)
				}
				recoveredMsgs += uint64(cnt)
			case 1: // a foreign session, on either line
				if !fed {
					break
				}
				if err := a.Feed(arbiter.Line(op>>2&1), pkt(other, uint64(in.next()), 1), now()); !errors.Is(err, arbiter.ErrForeignSession) {
					t.Fatalf("foreign packet: %v", err)
				}
				if err := a.Recover(pkt(other, 1, 1), now()); !errors.Is(err, arbiter.ErrForeignSession) {
					t.Fatalf("foreign answer: %v", err)
				}
			case 2:
				a.Tick(now())
			}
		}
		// The end, on both lines, then time enough for everything.
		end := moldudp64.AppendEndOfSession(nil, sess, n+1)
		p, _ := moldudp64.Decode(end)
		for line := range 2 {
			if err := a.Feed(arbiter.Line(line), p, now()); err != nil {
				t.Fatal(err)
			}
		}
		at += 1_000_000
		a.Tick(now())
		st := a.Stats()
		if c.cursor != n+1 || st.Delivered+st.Missing != n || st.Session != sess || st.Sessions != 1 {
			t.Fatalf("covered up to %d of %d; delivered %d + missing %d; session %q (%d)", c.cursor, n, st.Delivered, st.Missing, st.Session, st.Sessions)
		}
		if len(c.ended) != 1 {
			t.Fatalf("session ends %v", c.ended)
		}
		r := st.Recovery
		if r.Messages != recoveredMsgs || r.Messages != r.First+r.Duplicates+r.Late+r.Invalid+r.Overflow || st.Recovered != r.First {
			t.Fatalf("recovery %+v, %d messages recovered", r, recoveredMsgs)
		}
		// Each run is asked for once: no request overlaps another.
		for i := 1; i < len(requests); i++ {
			if requests[i].First <= requests[i-1].Last || requests[i].Last < requests[i].First {
				t.Fatalf("requests %+v then %+v", requests[i-1], requests[i])
			}
		}
		if uint64(len(requests)) != st.Requests {
			t.Fatalf("%d requests, stats %d", len(requests), st.Requests)
		}
	})
}
