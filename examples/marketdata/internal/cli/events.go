package cli

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultEventLimit is the -event-limit default: event lines printed a
// second, at most.
const DefaultEventLimit = 20

// eventKind sorts the event lines for the summary of those suppressed.
type eventKind uint8

const (
	gapEvent eventKind = iota
	lineEvent
	sessionEvent
)

// eventPrinter prints the event lines (gaps, lines, sessions), at most
// limit in each period from the first of them; the rest it counts, by
// kind, and sums up in one line when the period is over (at the next event
// or flush). The network chooses how many events there are (a flood of
// forged sessions makes two a packet), so their output is bounded: limit
// lines and one summary a period. It is safe for concurrent use, and
// writes through the lock that the statistics take too.
type eventPrinter struct {
	mu     *sync.Mutex // guards w, shared with the statistics output
	w      io.Writer
	limit  int // 0: no limit
	period time.Duration

	start   time.Time // the current period's start (zero: none yet)
	printed int       // event lines printed in it

	suppressed [3]uint64 // by kind, in the current period
	missing    uint64    // messages in the suppressed gaps
	firstAt    time.Time // of the first suppressed event
}

// printf prints an event line about something that happened at at (a
// time from the arbiter, which never goes backwards), or counts it.
// missing is the number of messages a gap leaves out.
func (p *eventPrinter) printf(at time.Time, k eventKind, missing uint64, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start.IsZero() || at.Sub(p.start) >= p.period {
		p.summaryLocked(at)
		p.start, p.printed = at, 0
	}
	if p.limit == 0 || p.printed < p.limit {
		p.printed++
		fmt.Fprintf(p.w, format, args...)
		return
	}
	if p.suppressedLocked() == 0 {
		p.firstAt = at
	}
	p.suppressed[k]++
	p.missing += missing
}

// flush prints the summary of what was suppressed, if the period is over
// by now, or if final.
func (p *eventPrinter) flush(now time.Time, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if final || now.Sub(p.start) >= p.period {
		p.summaryLocked(now)
	}
}

func (p *eventPrinter) suppressedLocked() uint64 {
	return p.suppressed[gapEvent] + p.suppressed[lineEvent] + p.suppressed[sessionEvent]
}

// summaryLocked prints and resets the count of suppressed lines, if any.
func (p *eventPrinter) summaryLocked(now time.Time) {
	n := p.suppressedLocked()
	if n == 0 {
		return
	}
	fmt.Fprintf(p.w, "%s suppressed %d event lines since %s (more than %d a second): %d gaps (%d missing), %d line and %d session events\n",
		stamp(now), n, stamp(p.firstAt), p.limit,
		p.suppressed[gapEvent], p.missing, p.suppressed[lineEvent], p.suppressed[sessionEvent])
	p.suppressed, p.missing = [3]uint64{}, 0
}

// lockedWriter serialises writes to w with mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// stamp formats an event's time.
func stamp(t time.Time) string { return t.Format("15:04:05.000000") }
