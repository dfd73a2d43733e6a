//go:build linux

package harness

import (
	"math"
	"slices"
)

// cellKey names a cell of a phase: all runs of one size, mode and N.
type cellKey struct {
	phase Phase
	size  int
	mode  Mode
	n     int
}

// find returns the runs of a cell and kind, in order.
func (r *Report) find(k cellKey, kind Kind) []*RunResult {
	var out []*RunResult
	for i := range r.Runs {
		x := &r.Runs[i]
		if x.Phase == k.phase && x.Size == k.size && x.Mode == k.mode && x.N == k.n && x.Kind == kind {
			out = append(out, x)
		}
	}
	return out
}

// keys returns the cells of a phase and size that ran, in the order of
// the sweep (proc before procs, N ascending).
func (r *Report) keys(phase Phase, size int) []cellKey {
	var out []cellKey
	for _, x := range r.Runs {
		k := cellKey{x.Phase, x.Size, x.Mode, x.N}
		if x.Phase == phase && x.Size == size && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.SortStableFunc(out, func(a, b cellKey) int {
		if a.mode != b.mode {
			if a.mode == ModeProc {
				return -1
			}
			return 1
		}
		return a.n - b.n
	})
	return out
}

// sizes returns the datagram sizes of a phase's runs, ascending.
func (r *Report) sizes(phase Phase) []int {
	var out []int
	for _, x := range r.Runs {
		if x.Phase == phase && !slices.Contains(out, x.Size) {
			out = append(out, x.Size)
		}
	}
	slices.Sort(out)
	return out
}

// kinds returns the receivers that ran, in the order of the tables.
func (r *Report) kinds() []Kind {
	var out []Kind
	for _, k := range knownKinds {
		for _, x := range r.Runs {
			if x.Kind == k {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// med returns the median of f over the runs that did not fail (NaN if
// none).
func med(runs []*RunResult, f func(*RunResult) float64) float64 {
	var v []float64
	for _, x := range runs {
		if x.Err == "" {
			v = append(v, f(x))
		}
	}
	return median(v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pairRatio returns the median, over the repetitions of a cell, of
// f(a) / f(b) for the runs of kinds a and b that ran side by side (same
// Cell), and how many pairs there were.
func (r *Report) pairRatio(k cellKey, a, b Kind, f func(*RunResult) float64) (float64, int) {
	as, bs := r.find(k, a), r.find(k, b)
	var v []float64
	for _, x := range as {
		for _, y := range bs {
			if x.Cell == y.Cell && x.Err == "" && y.Err == "" && f(y) > 0 {
				v = append(v, f(x)/f(y))
			}
		}
	}
	return median(v), len(v)
}

// allLossless reports whether every repetition of kind in cell k was
// lossless, and how many there were.
func (r *Report) allLossless(k cellKey, kind Kind) (bool, int) {
	runs := r.find(k, kind)
	for _, x := range runs {
		if !x.Lossless() {
			return false, len(runs)
		}
	}
	return len(runs) > 0, len(runs)
}

// lossless returns the search result for a receiver and cell, or nil.
func (r *Report) lossless(kind Kind, mode Mode, n, size int) *Lossless {
	for i := range r.Lossless {
		l := &r.Lossless[i]
		if l.Kind == kind && l.Mode == mode && l.N == n && l.Size == size {
			return l
		}
	}
	return nil
}
