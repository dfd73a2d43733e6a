package bitring

import (
	"math/rand/v2"
	"testing"
)

// Set, Clear and Count agree with a model of one bool a number, for ranges
// of every length up to the window, starting anywhere (across words and
// across the ring's end).
func TestAgainstModel(t *testing.T) {
	const window = 256
	ring := make([]uint64, window/64)
	var model [window]bool
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		first, n := r.Uint64(), r.Uint64N(window+1)
		want := uint64(0)
		for k := range n {
			if model[(first+k)%window] {
				want++
			}
		}
		if got := Count(ring, first, n); got != want {
			t.Fatalf("step %d: Count(%d, %d) = %d, want %d", i, first, n, got, want)
		}
		op := r.IntN(2)
		for k := range n {
			model[(first+k)%window] = op == 0
		}
		if op == 0 {
			Set(ring, first, n)
		} else {
			Clear(ring, first, n)
		}
	}
}
