package cli_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
)

func TestSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	for _, rate := range []float64{100, 1000, 3, 200_000, 333.3} {
		s := cli.NewSchedule(start, rate)
		for i := uint64(0); i < 2000; i += 7 {
			at := s.At(i)
			if got := s.Due(at); got != i+1 {
				t.Fatalf("rate %g: Due(At(%d)) = %d, want %d", rate, i, got, i+1)
			}
			if got := s.Due(at.Add(-1)); got != i {
				t.Fatalf("rate %g: Due(At(%d)-1ns) = %d, want %d", rate, i, got, i)
			}
		}
		if s.Due(start.Add(-time.Second)) != 0 {
			t.Fatal("datagrams due before the start")
		}
	}
	for _, c := range []struct {
		rate float64
		d    time.Duration
		want uint64
	}{
		{1000, 3 * time.Second, 3000},
		{100, 10 * time.Second, 1000},
		{200_000, time.Second, 200_000},
		{3, time.Second, 3},
		{3, 1100 * time.Millisecond, 4},
		{1000, 0, 0},
	} {
		if got := cli.NewSchedule(start, c.rate).Within(c.d); got != c.want {
			t.Errorf("Within(%v) at %g/s = %d, want %d", c.d, c.rate, got, c.want)
		}
	}
}

// fakeClock advances only when the loop sleeps, and oversleeps, as an OS
// with a coarse timer does.
type fakeClock struct {
	now       time.Time
	oversleep time.Duration
	sleeps    int
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) {
	c.sleeps++
	c.now = c.now.Add(max(d, 0) + c.oversleep)
}

// The loop never sends ahead of the timetable, catches up in bursts of at
// most a batch after oversleeping, and ends on time.
func TestPaceKeepsTheTimetable(t *testing.T) {
	for _, c := range []struct {
		rate      float64
		total     uint64
		oversleep time.Duration
	}{
		{100, 500, 0},
		{100, 500, 4 * time.Millisecond},
		{200_000, 400_000, 0},
		{200_000, 400_000, time.Millisecond},
		{200_000, 400_000, 10 * time.Millisecond},
	} {
		clk := &fakeClock{now: time.Unix(5000, 0), oversleep: c.oversleep}
		sch := cli.NewSchedule(clk.now, c.rate)
		calls := 0
		send := func(first uint64, n int) (int, error) {
			calls++
			if n < 1 || n > 64 {
				t.Fatalf("batch of %d", n)
			}
			if due := sch.Due(clk.now); first+uint64(n) > due {
				t.Fatalf("sent up to %d at %v, when %d were due", first+uint64(n), clk.now.Sub(sch.At(0)), due)
			}
			return n, nil
		}
		sent, first, last, err := cli.Pace(context.Background(), clk, c.rate, c.total, 64, send)
		if err != nil || sent != c.total {
			t.Fatalf("rate %g: sent %d, %v", c.rate, sent, err)
		}
		// The last datagram goes at its time, or at most one oversleep late.
		lag := last.Sub(sch.At(c.total - 1))
		if lag < 0 || lag > c.oversleep {
			t.Errorf("rate %g, oversleep %v: last sent %v after its time", c.rate, c.oversleep, lag)
		}
		achieved := float64(sent-1) / last.Sub(first).Seconds()
		if d := achieved/c.rate - 1; d < -0.01 || d > 0.01 {
			t.Errorf("rate %g, oversleep %v: achieved %.1f", c.rate, c.oversleep, achieved)
		}
		t.Logf("rate %g, oversleep %v: %d send calls, %d sleeps, achieved %.2f", c.rate, c.oversleep, calls, clk.sleeps, achieved)
	}
}

func TestPaceStops(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	boom := errors.New("boom")
	sent, _, _, err := cli.Pace(context.Background(), clk, 0, 1000, 64, func(first uint64, n int) (int, error) {
		if first >= 128 {
			return 10, boom
		}
		return n, nil
	})
	if !errors.Is(err, boom) || sent != 138 {
		t.Fatalf("sent %d, %v; want 138 and the send error", sent, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sent, _, _, err = cli.Pace(ctx, clk, 100, 0, 64, func(first uint64, n int) (int, error) {
		if first+uint64(n) >= 50 {
			cancel()
		}
		return n, nil
	})
	if err != nil || sent < 50 || sent > 51 {
		t.Fatalf("after cancel: sent %d, %v", sent, err)
	}
}

// send --rate R --duration D sends the datagrams due within D, and the
// last goes before D has passed, or at most one oversleep after: on a
// clock the test controls, a slow machine is an OS that oversleeps.
func TestPaceDuration(t *testing.T) {
	for _, c := range []struct {
		rate      float64
		d         time.Duration
		oversleep time.Duration
		want      uint64
	}{
		{1000, 3 * time.Second, 0, 3000},
		{1000, 3 * time.Second, 50 * time.Millisecond, 3000},
		{200_000, 2 * time.Second, 0, 400_000},
		{200_000, 2 * time.Second, 20 * time.Millisecond, 400_000},
		{3, 1100 * time.Millisecond, 10 * time.Millisecond, 4},
	} {
		clk := &fakeClock{now: time.Unix(7000, 0), oversleep: c.oversleep}
		start := clk.now
		total := cli.NewSchedule(start, c.rate).Within(c.d)
		sent, _, last, err := cli.Pace(context.Background(), clk, c.rate, total, 64, func(_ uint64, n int) (int, error) { return n, nil })
		if err != nil || total != c.want || sent != c.want {
			t.Errorf("rate %g for %v: due %d, sent %d, %v; want %d", c.rate, c.d, total, sent, err, c.want)
		}
		if end := last.Sub(start); end >= c.d+c.oversleep {
			t.Errorf("rate %g for %v, oversleep %v: last sent at %v", c.rate, c.d, c.oversleep, end)
		}
	}
}
