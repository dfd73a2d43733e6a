// Package benchcpu reports the CPU time of a benchmark per operation
// beside its wall time. On a machine shared with other work, the CPU time
// per operation is the steadier figure: the time that the benchmark spends
// waiting for a core does not count in it.
package benchcpu

import (
	"testing"
)

// Start returns a function that reports the process's CPU time (user and
// system, all threads) since Start, per b.N, as "cpu-ns/op". Call Start
// just before the loop (for b.Loop() or over b.N) and the function just
// after it. Where the CPU time cannot be read (Windows) it reports
// nothing.
func Start(b *testing.B) func() {
	t0, ok := cpuTime()
	return func() {
		t1, ok1 := cpuTime()
		if ok && ok1 && b.N > 0 {
			b.ReportMetric(float64(t1-t0)/float64(b.N), "cpu-ns/op")
		}
	}
}
