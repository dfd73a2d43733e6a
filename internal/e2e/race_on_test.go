//go:build race

package e2e

// raceEnabled reports whether the race detector is on: it makes the
// receive path several times slower, so load tests scale down.
const raceEnabled = true
