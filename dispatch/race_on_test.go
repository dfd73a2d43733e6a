//go:build race

package dispatch_test

// raceEnabled is whether the race detector is on; it allocates and slows
// everything, so allocation counts and timings mean nothing under it.
const raceEnabled = true
