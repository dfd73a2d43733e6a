package feedhandler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
)

// checker follows what a Handler's arbiter delivers and reports: every
// sequence number must come exactly once, as a message (checked byte for
// byte against feedgen's pattern) or in a gap, in order.
type checker struct {
	mu        sync.Mutex
	next      uint64 // the next sequence number to be delivered or reported
	delivered uint64
	missing   uint64
	gaps      []feedgen.Range // adjacent gaps merged
	reported  []feedgen.Range // the gaps as reported
	errs      []string
	lines     []arbiter.LineEvent
	sessions  []arbiter.SessionEvent
	malformed [2]int
	ended     chan arbiter.SessionEvent
}

func newChecker(first uint64) *checker {
	return &checker{next: first, ended: make(chan arbiter.SessionEvent, 16)}
}

func (c *checker) errorf(format string, args ...any) {
	if len(c.errs) < 20 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

// hook sets cfg's callbacks.
func (c *checker) hook(cfg *feedhandler.Config) {
	cfg.Arbiter.OnMessage = func(m arbiter.Message) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if m.Seq != c.next {
			c.errorf("message %d delivered, want %d", m.Seq, c.next)
		}
		if err := feedgen.CheckMessage(m.Seq, m.Data); err != nil {
			c.errorf("message %d: %v", m.Seq, err)
		}
		c.next = m.Seq + 1
		c.delivered++
	}
	cfg.Arbiter.OnGap = func(g arbiter.Gap) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if g.First != c.next || g.Last < g.First {
			c.errorf("gap %d-%d reported, want one from %d", g.First, g.Last, c.next)
		}
		c.reported = append(c.reported, feedgen.Range{First: g.First, Last: g.Last})
		if n := len(c.gaps); n > 0 && c.gaps[n-1].Last+1 == g.First {
			c.gaps[n-1].Last = g.Last
		} else {
			c.gaps = append(c.gaps, feedgen.Range{First: g.First, Last: g.Last})
		}
		c.next = g.Last + 1
		c.missing += g.Len()
	}
	cfg.Arbiter.OnLine = func(e arbiter.LineEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.lines = append(c.lines, e)
	}
	cfg.Arbiter.OnSession = func(e arbiter.SessionEvent) {
		c.mu.Lock()
		c.sessions = append(c.sessions, e)
		c.mu.Unlock()
		if e.Kind == arbiter.SessionEnded {
			select {
			case c.ended <- e:
			default:
			}
		}
	}
	cfg.OnMalformed = func(line arbiter.Line, payload []byte, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.malformed[line]++
	}
}

func (c *checker) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Error(e)
	}
}

// waitEnd waits for the session's end, for at most d.
func (c *checker) waitEnd(t *testing.T, d time.Duration) arbiter.SessionEvent {
	t.Helper()
	select {
	case e := <-c.ended:
		return e
	case <-time.After(d):
		t.Fatalf("the session did not end within %v", d)
		return arbiter.SessionEvent{}
	}
}

// start runs h until the test ends, and returns a function that shuts it
// down and returns Run's error.
func start(t *testing.T, h *feedhandler.Handler) (stop func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- h.Run(context.Background()) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if serr := h.Shutdown(ctx); serr != nil {
				err = serr
			}
			select {
			case rerr := <-errc:
				err = errors.Join(err, rerr)
			case <-ctx.Done():
				err = errors.Join(err, errors.New("Run did not return after Shutdown"))
			}
			h.Close()
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls cond every millisecond until it holds, and fails the test
// if it does not within d.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		<-tick.C
	}
}
