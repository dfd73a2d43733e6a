//go:build !unix

package dispatch_test

import "time"

// cpuTime returns 0: the benchmarks report no CPU time on this OS.
func cpuTime() time.Duration { return 0 }
