package tools

import (
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/wire"
)

// StatsSummary is the statistics tool's part of the summary.
type StatsSummary struct {
	// Rate is datagrams a second and Mbps megabits a second, from the
	// first datagram's arrival to the last's.
	Rate float64 `json:"rate"`
	Mbps float64 `json:"mbps"`
	// Sequence counts what the sequence numbers in the sharecast headers
	// say, over every flow: gaps, missing, late, duplicates, resets, and
	// the flows evicted (Evicted) and datagrams not tracked (Untracked).
	Sequence dispatch.SequenceStats `json:"sequence"`
	// Flows is the number of flows (source, group) tracked at the end:
	// at most 4,096, the default MaxFlows of the sequence tracker, which
	// evicts the flow idle longest for a new one beyond that.
	Flows int `json:"flows"`
	// NoHeader counts datagrams without a sharecast header, and BadFill
	// those whose bytes after the header are not what the sender wrote.
	NoHeader uint64 `json:"no_header"`
	BadFill  uint64 `json:"bad_fill"`
	// Latency is receive time minus send time, in microseconds
	// (meaningful when sender and receiver share a clock).
	Latency Latency `json:"latency_us"`
}

// Latency summarises a latency histogram, in microseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  int64   `json:"p50"`
	P99  int64   `json:"p99"`
	Max  int64   `json:"max"`
}

type statsTool struct {
	seq      *dispatch.SequenceTracker
	lat      *hdrhistogram.Histogram
	bytes    atomic.Uint64 // read by tick while the worker runs
	noHeader uint64
	badFill  uint64

	first, last time.Time // receive times of the first and last datagram

	lastAt    time.Time
	lastCount uint64
	lastBytes uint64
}

func (s *statsTool) flags(*flag.FlagSet) {}

func (s *statsTool) open(c *common) error {
	t, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{
		Extract: func(d *dispatch.Datagram) (uint64, bool) {
			h, err := wire.Decode(d.Payload)
			return h.Seq, err == nil
		},
		Window: 1 << 14,
		Logger: c.log,
	})
	if err != nil {
		return err
	}
	s.seq = t
	s.lat = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	s.lastAt = time.Now()
	return nil
}

func (s *statsTool) ready() string { return "" }

func (s *statsTool) handle(d *dispatch.Datagram) {
	s.bytes.Add(uint64(len(d.Payload)))
	if s.first.IsZero() {
		s.first = d.Time
	}
	s.last = d.Time
	s.seq.Observe(d)
	h, err := wire.Decode(d.Payload)
	if err != nil {
		s.noHeader++
		return
	}
	if !wire.CheckFill(d.Payload[h.Len:], h.Seq) {
		s.badFill++
	}
	if us := d.Time.Sub(time.Unix(0, h.SendTime)).Microseconds(); us >= 0 {
		_ = s.lat.RecordValue(max(us, 1)) // beyond a minute: not recorded
	}
}

// tick prints the rates since the last tick. It reads counters that the
// handler's worker writes: the figures are approximate while the feed
// runs (the summary, taken after the worker stops, is exact).
func (s *statsTool) tick(w io.Writer, c *common) {
	now := time.Now()
	n, b := c.handled.Load(), s.bytes.Load()
	dt := now.Sub(s.lastAt).Seconds()
	st := s.seq.Stats()
	fmt.Fprintf(w, "%s %8.0f datagrams/s %8.3f Mbit/s; total %d, gaps %d, missing %d, late %d, duplicates %d\n",
		now.Format("15:04:05.000"), float64(n-s.lastCount)/dt, float64(b-s.lastBytes)*8/dt/1e6,
		n, st.Gaps, st.Missing, st.Late, st.Duplicates)
	s.lastAt, s.lastCount, s.lastBytes = now, n, b
}

func (s *statsTool) finish(sum *Summary) {
	sum.Bytes = s.bytes.Load()
	ss := &StatsSummary{Sequence: s.seq.Stats(), Flows: len(s.seq.Flows()), NoHeader: s.noHeader, BadFill: s.badFill}
	if span := s.last.Sub(s.first).Seconds(); span > 0 && sum.Datagrams > 1 {
		ss.Rate = float64(sum.Datagrams-1) / span
		ss.Mbps = float64(sum.Bytes) * 8 / span / 1e6
	}
	ss.Latency = Latency{Mean: s.lat.Mean(), P50: s.lat.ValueAtQuantile(50), P99: s.lat.ValueAtQuantile(99), Max: s.lat.Max()}
	sum.Stats = ss
}

func (s *statsTool) text(w io.Writer, sum *Summary) {
	ss := sum.Stats
	q := ss.Sequence
	fmt.Fprintf(w, "  %.0f datagrams/s, %.3f Mbit/s; %d flows (evicted %d, untracked %d)\n", ss.Rate, ss.Mbps, ss.Flows, q.Evicted, q.Untracked)
	fmt.Fprintf(w, "  sequence: gaps %d, missing %d, late %d, duplicates %d, resets %d; no header %d, bad fill %d\n",
		q.Gaps, q.Missing, q.Late, q.Duplicates, q.Resets, ss.NoHeader, ss.BadFill)
	fmt.Fprintf(w, "  latency: mean %.0fµs, p50 %dµs, p99 %dµs, max %dµs\n", ss.Latency.Mean, ss.Latency.P50, ss.Latency.P99, ss.Latency.Max)
}

func (s *statsTool) close() error { return nil }
