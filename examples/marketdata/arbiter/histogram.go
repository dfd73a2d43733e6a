package arbiter

import (
	"math/bits"
	"time"
)

// HistogramBuckets is the number of buckets in a [Histogram].
const HistogramBuckets = 41

// Histogram is a log-2 histogram of durations, fixed in size so that
// recording allocates nothing. Bucket 0 counts durations of 0 (and below);
// bucket i, for 1 <= i < 40, counts durations d with 2^(i-1) <= d < 2^i
// nanoseconds; bucket 40 counts everything from 2^39 ns (about 9 minutes)
// up. Its zero value is empty and ready to use.
type Histogram struct {
	// Count is the number of durations recorded.
	Count uint64

	// Sum is their total.
	Sum time.Duration

	// Max is the largest.
	Max time.Duration

	// Buckets holds the counts, as the type's doc says.
	Buckets [HistogramBuckets]uint64
}

// Record adds d to the histogram. Negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.Count++
	h.Sum += d
	h.Max = max(h.Max, d)
	h.Buckets[min(bits.Len64(uint64(d)), HistogramBuckets-1)]++
}

// Mean returns the mean duration, or 0 for an empty histogram.
func (h *Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

// Quantile returns an upper bound for the q-quantile (0 <= q <= 1): the top
// of the bucket that holds it, capped at Max. It is within a factor of two
// of the true value. An empty histogram returns 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.Count) + 0.5)
	rank = min(max(rank, 1), h.Count)
	var seen uint64
	for i, n := range h.Buckets {
		seen += n
		if seen >= rank {
			if i == 0 {
				return 0
			}
			if i == HistogramBuckets-1 {
				return h.Max
			}
			return min(time.Duration(uint64(1)<<i-1), h.Max)
		}
	}
	return h.Max
}
