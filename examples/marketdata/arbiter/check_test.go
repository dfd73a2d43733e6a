package arbiter_test

import (
	"testing"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
)

// checker verifies, as the arbiter reports them, that messages and gaps
// come in order, each sequence number once, from the session's start; that
// each message is the right one, byte for byte; and that the line it came
// from carried it. It records the gaps, merged into maximal runs.
type checker struct {
	tb        testing.TB
	carried   func(line int, seq uint64) bool
	start     uint64
	cursor    uint64
	started   bool
	delivered uint64
	missing   uint64
	gaps      []feedgen.Range
	ended     []arbiter.SessionEvent
}

func (c *checker) hook(cfg *arbiter.Config) {
	cfg.OnMessage = c.message
	cfg.OnGap = c.gap
	cfg.OnSession = c.session
}

func (c *checker) message(m arbiter.Message) {
	if !c.started {
		c.tb.Fatalf("message %d before the session started", m.Seq)
	}
	if m.Seq != c.cursor {
		c.tb.Fatalf("delivered %d, want %d (out of order, twice or skipped)", m.Seq, c.cursor)
	}
	if err := feedgen.CheckMessage(m.Seq, m.Data); err != nil {
		c.tb.Fatal(err)
	}
	if !c.carried(int(m.Line), m.Seq) {
		c.tb.Fatalf("delivered %d from line %s, which never carried it", m.Seq, m.Line)
	}
	c.cursor++
	c.delivered++
}

func (c *checker) gap(g arbiter.Gap) {
	if g.First != c.cursor || g.Last < g.First {
		c.tb.Fatalf("gap %d-%d, want one starting at %d", g.First, g.Last, c.cursor)
	}
	c.cursor = g.Last + 1
	c.missing += g.Len()
	if n := len(c.gaps); n > 0 && c.gaps[n-1].Last+1 == g.First {
		c.gaps[n-1].Last = g.Last
	} else {
		c.gaps = append(c.gaps, feedgen.Range{First: g.First, Last: g.Last})
	}
}

func (c *checker) session(e arbiter.SessionEvent) {
	switch e.Kind {
	case arbiter.SessionStarted:
		if c.started {
			c.tb.Fatalf("second session start %+v", e)
		}
		c.started, c.start, c.cursor = true, e.Seq, e.Seq
	case arbiter.SessionEnded:
		if e.Seq != c.cursor {
			c.tb.Fatalf("session ended at %d, but %d is next", e.Seq, c.cursor)
		}
		c.ended = append(c.ended, e)
	default:
		c.tb.Fatalf("unexpected session event %+v", e)
	}
}

// checkAccounting checks that each line's copies are all accounted for:
// delivered first, dropped as duplicates, or dropped as late.
func checkAccounting(tb testing.TB, st arbiter.Stats) {
	tb.Helper()
	for i, l := range st.Lines {
		if l.Messages != l.First+l.Duplicates+l.Late+l.Unconfirmed+l.Overflow {
			tb.Errorf("line %s: %d messages != %d first + %d duplicates + %d late + %d unconfirmed + %d overflow",
				arbiter.Line(i), l.Messages, l.First, l.Duplicates, l.Late, l.Unconfirmed, l.Overflow)
		}
	}
	if st.Buffered != 0 || st.JumpPending {
		tb.Errorf("%d messages still buffered, jump pending %v", st.Buffered, st.JumpPending)
	}
	if jumps := st.Lines[0].Jumps + st.Lines[1].Jumps; jumps != st.JumpsConfirmed+st.JumpsRefused {
		tb.Errorf("%d jumps held, %d confirmed + %d refused", jumps, st.JumpsConfirmed, st.JumpsRefused)
	}
}
