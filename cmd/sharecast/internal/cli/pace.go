package cli

import (
	"context"
	"math"
	"time"
)

// schedule paces a stream by an absolute timetable: datagram i is due at
// start + i/rate. A sender that falls behind (the OS slept longer than
// asked, or a system call was slow) sends what is due in bursts, so that
// the average rate stays exact; it never sends ahead of the timetable.
type schedule struct {
	start time.Time
	rate  float64 // datagrams a second, > 0
}

// at returns when datagram i is due.
func (s schedule) at(i uint64) time.Time {
	return s.start.Add(time.Duration(float64(i) / s.rate * float64(time.Second)))
}

// due returns how many datagrams are due by now: those i with at(i) <= now.
func (s schedule) due(now time.Time) uint64 {
	el := now.Sub(s.start)
	if el < 0 {
		return 0
	}
	n := uint64(el.Seconds()*s.rate) + 1
	// Correct the float rounding at the edges, so that due and at agree.
	for n > 0 && s.at(n-1).After(now) {
		n--
	}
	for !s.at(n).After(now) {
		n++
	}
	return n
}

// within returns how many datagrams are due strictly before d has passed
// since the start: the count for --duration.
func (s schedule) within(d time.Duration) uint64 {
	n := uint64(math.Ceil(d.Seconds() * s.rate))
	for n > 0 && !s.at(n-1).Before(s.start.Add(d)) {
		n--
	}
	for s.at(n).Before(s.start.Add(d)) {
		n++
	}
	return n
}

// clock is time for the pacing loop, replaced in tests.
type clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) {
	if d < 2*time.Millisecond {
		time.Sleep(d) // too short to be worth a timer and a select
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// pace sends total datagrams (0: until ctx ends) on the schedule, or as
// fast as send takes them if rate is 0, in batches of at most batch. send
// sends datagrams first, first+1, ..., first+n-1 and returns how many it
// sent; an error stops the loop. It returns how many were sent, and when
// the sends of the first and of the last of them began.
func pace(ctx context.Context, c clock, rate float64, total uint64, batch int, send func(first uint64, n int) (int, error)) (sent uint64, first, last time.Time, err error) {
	sch := schedule{start: c.Now(), rate: rate}
	for total == 0 || sent < total {
		if ctx.Err() != nil {
			break
		}
		n := uint64(batch)
		if rate > 0 {
			due := sch.due(c.Now())
			if due <= sent {
				c.Sleep(ctx, sch.at(sent).Sub(c.Now()))
				continue
			}
			n = min(n, due-sent)
		}
		if total > 0 {
			n = min(n, total-sent)
		}
		at := c.Now()
		k, err := send(sent, int(n))
		if k > 0 {
			if sent == 0 {
				first = at
			}
			sent += uint64(k)
			last = at
		}
		if err != nil {
			return sent, first, last, err
		}
	}
	return sent, first, last, nil
}
