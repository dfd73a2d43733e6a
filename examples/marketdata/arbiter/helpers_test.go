package arbiter_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

var (
	base = time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	sess = moldudp64.MustParseSession("20240102A")
)

const (
	A = arbiter.LineA
	B = arbiter.LineB
)

// us returns the time t microseconds after base.
func us(t int) time.Time { return base.Add(time.Duration(t) * time.Microsecond) }

// rec runs an Arbiter and writes everything it reports to a log of short
// lines, which the tests compare with what they expect.
type rec struct {
	t   *testing.T
	a   *arbiter.Arbiter
	log []string
	buf []byte
}

// newRec returns a recorder around an Arbiter made from cfg (nil for the
// defaults), whose callbacks it sets.
func newRec(t *testing.T, cfg *arbiter.Config) *rec {
	t.Helper()
	r := &rec{t: t}
	var c arbiter.Config
	if cfg != nil {
		c = *cfg
	}
	c.OnMessage = func(m arbiter.Message) {
		if err := feedgen.CheckMessage(m.Seq, m.Data); err != nil {
			t.Errorf("delivered %d: %v", m.Seq, err)
		}
		s := fmt.Sprintf("msg %d %s", m.Seq, m.Line)
		if m.Buffered {
			s += " buffered"
		}
		r.log = append(r.log, s)
	}
	c.OnGap = func(g arbiter.Gap) {
		r.log = append(r.log, fmt.Sprintf("gap %d-%d %s @%d", g.First, g.Last, g.Reason, g.At.Sub(base).Microseconds()))
	}
	c.OnLine = func(e arbiter.LineEvent) {
		state := "up"
		if e.Silent {
			state = "silent"
		}
		last := "never"
		if !e.LastPacket.IsZero() {
			last = fmt.Sprint(e.LastPacket.Sub(base).Microseconds())
		}
		r.log = append(r.log, fmt.Sprintf("line %s %s @%d last %s", e.Line, state, e.At.Sub(base).Microseconds(), last))
	}
	c.OnSession = func(e arbiter.SessionEvent) {
		r.log = append(r.log, fmt.Sprintf("session %s %s %d", e.Session, e.Kind, e.Seq))
	}
	a, err := arbiter.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	r.a = a
	return r
}

// data feeds a packet of n messages from seq, arriving on line at time at
// (microseconds). The packet's buffer is scribbled over after Feed, as a
// receive loop reuses it, to prove the arbiter copied what it kept.
func (r *rec) data(line arbiter.Line, at int, seq uint64, n int) {
	r.t.Helper()
	r.feedSession(line, at, sess, seq, n)
}

func (r *rec) feedSession(line arbiter.Line, at int, s moldudp64.Session, seq uint64, n int) {
	r.t.Helper()
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = feedgen.AppendMessage(nil, seq+uint64(i), 8+i%5)
	}
	var err error
	r.buf, err = moldudp64.AppendPacket(r.buf[:0], s, seq, msgs...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.feed(line, at)
}

func (r *rec) heartbeat(line arbiter.Line, at int, next uint64) {
	r.t.Helper()
	r.buf = moldudp64.AppendHeartbeat(r.buf[:0], sess, next)
	r.feed(line, at)
}

func (r *rec) end(line arbiter.Line, at int, next uint64) {
	r.t.Helper()
	r.buf = moldudp64.AppendEndOfSession(r.buf[:0], sess, next)
	r.feed(line, at)
}

func (r *rec) feed(line arbiter.Line, at int) {
	r.t.Helper()
	p, err := moldudp64.Decode(r.buf)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.a.Feed(line, p, us(at)); err != nil {
		r.t.Fatal(err)
	}
	for i := range r.buf {
		r.buf[i] = 0xEE
	}
}

// expect checks that the log since the last call is want.
func (r *rec) expect(want ...string) {
	r.t.Helper()
	if !slices.Equal(r.log, want) {
		r.t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(r.log, "\n\t"), strings.Join(want, "\n\t"))
	}
	r.log = r.log[:0]
}

// msgs returns the log lines for in-order delivery of seqs first..last
// from line.
func msgs(line arbiter.Line, first, last uint64, extra string) []string {
	var out []string
	for s := first; s <= last; s++ {
		out = append(out, fmt.Sprintf("msg %d %s%s", s, line, extra))
	}
	return out
}

func join(parts ...[]string) []string { return slices.Concat(parts...) }
