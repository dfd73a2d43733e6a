package arbiter_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// FuzzArbiter builds an A/B feed from the fuzz input (which packets each
// line loses, duplicates and delays, so in what order the copies arrive,
// with heartbeats and end of session) and checks the arbiter's promises:
// no message delivered twice, out of order or wrong; none lost that a line
// carried, unless every copy of it came after its gap was declared; the
// gaps and the deliveries covering every sequence number once; each copy
// counted as first, duplicate or late. In the mode where no timeout can
// fire before the end, the gaps are exactly the messages both lines lost.
//
// It also mounts the attacks of issue 17: forged packets of the live
// session (data, heartbeats, ends of session) far beyond the window,
// slipped in among the real ones on either line, and, in the timeouts
// mode, a small Config.BufferBytes. After every Feed the growth is checked
// (Buffered within Window, Retained within BufferBytes, next never past the
// real feed), and at the end every forged jump was refused, none of their
// messages delivered, and the real feed came through as without them.
func FuzzArbiter(f *testing.F) {
	f.Add([]byte{0, 20, 1, 2, 3, 4, 0, 0, 1, 0, 0, 1, 0x10, 0x22, 3, 5, 0x41, 0x0f})
	f.Add([]byte{1, 30, 5, 3, 2, 2, 2, 1, 1, 0x33, 0x12, 0xf0, 1, 1, 0, 0, 7, 0x13, 0x01, 0x01})
	f.Add([]byte{6, 47, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0xff, 0xfe, 0x1f, 0x03, 0x05, 0x07})
	f.Add([]byte{15, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0x0e, 0x0e})
	f.Add([]byte{7, 48, 1, 9, 200, 3, 17, 80, 2, 5, 250, 33, 1, 0, 0x21, 0x43, 0x65, 0x87, 0xa9, 0xcb})
	f.Fuzz(func(t *testing.T, data []byte) {
		runScenario(t, data)
	})
}

type fuzzInput struct {
	b []byte
	i int
}

// next returns the next byte of input, or 0 once it runs out.
func (in *fuzzInput) next() byte {
	if in.i >= len(in.b) {
		return 0
	}
	in.i++
	return in.b[in.i-1]
}

// upstream is a packet the server sent: n messages from seq, or, with n 0,
// a heartbeat (or, with end, an end of session) announcing seq.
type upstream struct {
	seq uint64
	n   int
	end bool
}

type arrival struct {
	at   int // µs
	line int
	pkt  int // index into the upstream packets, or -1 for a forged one

	forged forged
}

// forged is a forged packet of the live session: seq far beyond the
// window, n messages (0 for a heartbeat), or an end of session.
type forged struct {
	seq uint64
	n   int
	end bool
}

func runScenario(t *testing.T, data []byte) {
	in := &fuzzInput{b: data}
	flags := in.next()
	timeouts, heartbeats, ends, adopt := flags&1 != 0, flags&2 != 0, flags&4 != 0, flags&8 != 0
	n := 1 + int(in.next()%48)

	var ups []upstream
	for seq := uint64(1); seq <= uint64(n); {
		k := min(1+uint64(in.next()%4), uint64(n)+1-seq)
		ups = append(ups, upstream{seq: seq, n: int(k)})
		seq += k
		if heartbeats && in.next()%3 == 0 {
			ups = append(ups, upstream{seq: seq})
		}
	}
	if ends {
		ups = append(ups, upstream{seq: uint64(n) + 1, end: true}, upstream{seq: uint64(n) + 1, end: true})
	}

	// Each line loses, delays and duplicates each packet as a byte says.
	skew := [2]int{int(in.next() % 16), int(in.next() % 16)}
	var arrivals []arrival
	var carried [2][50]bool
	for i, u := range ups {
		for line := range 2 {
			c := in.next()
			if c&1 != 0 {
				continue
			}
			for s := u.seq; s < u.seq+uint64(u.n); s++ {
				carried[line][s] = true
			}
			at := (i+int(c>>1&7))*4 + skew[line]
			arrivals = append(arrivals, arrival{at: at, line: line, pkt: i})
			if c&0x10 != 0 {
				arrivals = append(arrivals, arrival{at: at + int(c>>5), line: line, pkt: i})
			}
		}
	}
	slices.SortStableFunc(arrivals, func(a, b arrival) int { return a.at - b.at })

	cfg := arbiter.Config{GapTimeout: time.Hour, Window: 64, StartSeq: 1}
	if timeouts {
		cfg.GapTimeout = time.Duration(1+in.next()%40) * time.Microsecond
		cfg.Window = 1 + int(in.next()%16)
	}
	if adopt {
		cfg.StartSeq = 0
	}
	if timeouts && flags&0x10 != 0 {
		cfg.BufferBytes = 64 * int(1+in.next()%16)
	}
	// Forged packets, each after a real arrival (never first, so that the
	// session starts with the real feed) and before the real end of
	// session (past it, every packet is invalid), at sequence numbers far
	// apart.
	var forgedMsgs, forgedEnds uint64
	limit := slices.IndexFunc(arrivals, func(a arrival) bool { return ups[a.pkt].end })
	if limit < 0 {
		limit = len(arrivals)
	}
	nforged := 0
	if limit > 0 {
		nforged = int(in.next() % 8)
	}
	for i := range nforged {
		pos, kind := 1+int(in.next())%limit, in.next()
		limit++
		f := forged{seq: 1<<62 + uint64(i)<<40 + uint64(kind)}
		switch kind % 4 {
		case 0:
			f.end = true
			forgedEnds++
		case 1: // a heartbeat
		default:
			f.n = 1 + int(kind>>2%4)
			forgedMsgs += uint64(f.n)
		}
		arr := arrival{at: arrivals[pos-1].at, line: int(kind >> 4 & 1), pkt: -1, forged: f}
		arrivals = slices.Insert(arrivals, pos, arr)
	}
	if len(arrivals) > 0 {
		// Idle heartbeats on both lines, as a MoldUDP64 server sends: they
		// announce the whole feed and settle any jump still held.
		last := arrivals[len(arrivals)-1].at
		ups = append(ups, upstream{seq: uint64(n) + 1})
		for line := range 2 {
			arrivals = append(arrivals, arrival{at: last + 1, line: line, pkt: len(ups) - 1})
		}
	}
	c := &checker{tb: t, carried: func(line int, seq uint64) bool { return seq < 50 && carried[line][seq] }}
	c.hook(&cfg)
	feeds := 0
	declared := map[uint64]int{} // gapped seq -> the Feed during which it was declared
	var evidence [50]time.Time   // when each seq was first announced by a later one
	onGap := cfg.OnGap
	cfg.OnGap = func(g arbiter.Gap) {
		onGap(g)
		for s := g.First; s <= g.Last && s < 50; s++ {
			declared[s] = feeds
			// A timeout is never early.
			if g.Reason == arbiter.GapTimeout && (evidence[s].IsZero() || g.At.Before(evidence[s].Add(cfg.GapTimeout))) {
				t.Fatalf("gap %d-%d declared at %v, but %d was announced at %v", g.First, g.Last,
					g.At.Sub(base), s, evidence[s].Sub(base))
			}
		}
	}
	a, err := arbiter.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}

	var buf, msgBuf []byte
	var msgs [][]byte
	revealed, start := uint64(0), uint64(0)
	for k, arr := range arrivals {
		if arr.pkt < 0 {
			feeds = k
			feedForged(t, a, arr)
			checkBounds(t, a, &cfg)
			continue
		}
		u := ups[arr.pkt]
		switch {
		case u.end:
			buf = moldudp64.AppendEndOfSession(buf[:0], sess, u.seq)
		case u.n == 0:
			buf = moldudp64.AppendHeartbeat(buf[:0], sess, u.seq)
		default:
			msgs, msgBuf = msgs[:0], msgBuf[:0]
			for s := u.seq; s < u.seq+uint64(u.n); s++ {
				msgBuf = feedgen.AppendMessage(msgBuf, s, 8+int(s%5))
			}
			for off, s := 0, u.seq; s < u.seq+uint64(u.n); s++ {
				msgs = append(msgs, msgBuf[off:off+8+int(s%5)])
				off += 8 + int(s%5)
			}
			buf, err = moldudp64.AppendPacket(buf[:0], sess, u.seq, msgs...)
			if err != nil {
				t.Fatal(err)
			}
		}
		p, err := moldudp64.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			start = u.seq
			if !adopt {
				start = 1
			}
		}
		revealed = max(revealed, u.seq+uint64(u.n))
		now := base.Add(time.Duration(arr.at) * time.Microsecond)
		for s := range min(u.seq+uint64(u.n), 50) {
			if evidence[s].IsZero() {
				evidence[s] = now
			}
		}
		feeds = k
		if err := a.Feed(arbiter.Line(arr.line), p, now); err != nil {
			t.Fatal(err)
		}
		checkBounds(t, a, &cfg)
		for i := range buf {
			buf[i] = 0xEE // the receive buffer is reused
		}
	}
	last := 0
	if len(arrivals) > 0 {
		last = arrivals[len(arrivals)-1].at
	}
	feeds = len(arrivals)
	a.Tick(base.Add(time.Duration(last)*time.Microsecond + 2*time.Hour))
	st := a.Stats()

	if len(arrivals) == 0 {
		if st.Sessions != 0 || st.Delivered != 0 || c.started {
			t.Fatalf("no packets, yet %+v", st)
		}
		return
	}
	if !c.started || c.start != start {
		t.Fatalf("session started at %d (%v), want %d", c.start, c.started, start)
	}
	if want := max(revealed, start); c.cursor != want {
		t.Fatalf("reported up to %d, want up to %d", c.cursor, want)
	}
	if st.Delivered != c.delivered || st.Missing != c.missing || st.Delivered+st.Missing != c.cursor-start {
		t.Fatalf("delivered %d + missing %d, want %d in all", st.Delivered, st.Missing, c.cursor-start)
	}
	checkAccounting(t, st)

	// Every forged jump was refused, and counted.
	var jumps, unconfirmed, overflow uint64
	for _, l := range st.Lines {
		jumps += l.Jumps
		unconfirmed += l.Unconfirmed
		overflow += l.Overflow
	}
	if st.JumpsRefused < uint64(nforged) || unconfirmed < forgedMsgs {
		t.Fatalf("%d jumps refused (%d messages) of %d forged (%d messages)", st.JumpsRefused, unconfirmed, nforged, forgedMsgs)
	}
	if !timeouts && (jumps != uint64(nforged) || st.JumpsConfirmed != 0 || unconfirmed != forgedMsgs || overflow != 0) {
		t.Fatalf("%d jumps (%d confirmed), %d unconfirmed and %d overflow messages; want only the %d forged (%d messages)",
			jumps, st.JumpsConfirmed, unconfirmed, overflow, nforged, forgedMsgs)
	}
	if st.JumpsRefused > uint64(nforged) || overflow > 0 {
		// Real packets were dropped (a real jump refuted by a packet of
		// its line that came after it, or no room to buffer): their
		// messages may be missing although they arrived in time, and a
		// refused end of session does not end it.
		return
	}
	if ended := len(c.ended) > 0; ended != (st.Lines[0].Ends+st.Lines[1].Ends > forgedEnds) {
		t.Fatalf("session ended %v, with %d and %d end packets (%d forged)", ended, st.Lines[0].Ends, st.Lines[1].Ends, forgedEnds)
	}

	// A carried message may be in a gap only if every copy of it came
	// after the gap was declared; such copies, and those from before the
	// start, are the late ones.
	var late uint64
	for k, arr := range arrivals {
		if arr.pkt < 0 {
			continue
		}
		u := ups[arr.pkt]
		for s := u.seq; s < u.seq+uint64(u.n); s++ {
			if s < start {
				late++
				continue
			}
			if j, ok := declared[s]; ok {
				if k < j {
					t.Fatalf("message %d arrived (copy %d) before its gap was declared (during copy %d)", s, k, j)
				}
				late++
			}
		}
	}
	if st.Gaps <= 16 { // the arbiter remembers the last 16 gaps
		if got := st.Lines[0].Late + st.Lines[1].Late; got != late {
			t.Fatalf("%d late copies counted, want %d", got, late)
		}
	}

	if !timeouts {
		// Nothing could time out before the end: the gaps are exactly the
		// messages that neither line carried.
		var want []feedgen.Range
		for s := start; s < revealed; s++ {
			if carried[0][s] || carried[1][s] {
				continue
			}
			if n := len(want); n > 0 && want[n-1].Last+1 == s {
				want[n-1].Last = s
			} else {
				want = append(want, feedgen.Range{First: s, Last: s})
			}
		}
		if !slices.Equal(c.gaps, want) {
			t.Fatalf("gaps %v, want %v", c.gaps, want)
		}
	}
}

// feedForged feeds a forged packet of the live session.
func feedForged(t *testing.T, a *arbiter.Arbiter, arr arrival) {
	t.Helper()
	f := arr.forged
	var b []byte
	switch {
	case f.end:
		b = moldudp64.AppendEndOfSession(nil, sess, f.seq)
	default:
		msgs := make([][]byte, f.n)
		for i := range msgs {
			msgs[i] = []byte("FORGED") // fails feedgen.CheckMessage if delivered
		}
		var err error
		if b, err = moldudp64.AppendPacket(nil, sess, f.seq, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	p, err := moldudp64.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Feed(arbiter.Line(arr.line), p, base.Add(time.Duration(arr.at)*time.Microsecond)); err != nil {
		t.Fatal(err)
	}
}

// checkBounds checks what an Arbiter holds against its bounds, whatever it
// was fed: the buffer within Window messages and BufferBytes bytes, next
// never past the real feed (under 50) nor the evidence of a forged jump.
func checkBounds(t *testing.T, a *arbiter.Arbiter, cfg *arbiter.Config) {
	t.Helper()
	st := a.Stats()
	limit := cfg.BufferBytes
	if limit == 0 {
		limit = arbiter.DefaultBufferBytes
	}
	if st.Buffered > cfg.Window || st.Retained > limit || st.RetainedMax > limit || st.Retained < 0 {
		t.Fatalf("buffered %d (window %d), retained %d (max %d), limit %d", st.Buffered, cfg.Window, st.Retained, st.RetainedMax, limit)
	}
	if st.Next > 50 || st.Missing > 50 || st.Delivered > 50 {
		t.Fatalf("next %d, missing %d, delivered %d: a forged packet was followed", st.Next, st.Missing, st.Delivered)
	}
}
