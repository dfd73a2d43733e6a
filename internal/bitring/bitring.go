// Package bitring records which numbers of a sliding window were seen: a
// ring of bits, number n at bit n mod the window, the window being
// len(ring)*64 numbers (a power of two). A range of numbers is set,
// cleared or counted a word at a time, so that its cost is that of its
// length over 64, whatever the numbers; a range is at most the window
// long. Package dispatch's SequenceTracker and natsrelay's Source keep
// their windows with it.
package bitring

import "math/bits"

// Set sets the bits of the n numbers from first.
func Set(ring []uint64, first, n uint64) { bitRange(ring, first, n, opSet) }

// Clear clears the bits of the n numbers from first.
func Clear(ring []uint64, first, n uint64) { bitRange(ring, first, n, opClear) }

// Count returns how many of the n numbers from first have their bit set.
func Count(ring []uint64, first, n uint64) uint64 { return bitRange(ring, first, n, opCount) }

// The operations on the bits of a range of numbers.
const (
	opSet = iota
	opClear
	opCount
)

// bitRange applies op to the bits of the n numbers from first in ring
// (n at most the window), a word at a time, and returns how many of them
// were set before.
func bitRange(ring []uint64, first, n uint64, op int) uint64 {
	window := uint64(len(ring)) * 64
	var c uint64
	for i := first & (window - 1); n > 0; i = 0 { // at most twice: the ring wraps once
		run := min(n, window-i)
		c += bitRun(ring, i, run, op)
		n -= run
	}
	return c
}

// bitRun is bitRange for the bits [i, i+n) of ws, n > 0.
func bitRun(ws []uint64, i, n uint64, op int) uint64 {
	lo, hi := i/64, (i+n-1)/64
	head, tail := ^uint64(0)<<(i%64), ^uint64(0)>>(63-(i+n-1)%64)
	if lo == hi {
		return bitWord(&ws[lo], head&tail, op)
	}
	c := bitWord(&ws[lo], head, op) + bitWord(&ws[hi], tail, op)
	mid := ws[lo+1 : hi]
	switch op {
	case opSet:
		for j := range mid {
			mid[j] = ^uint64(0)
		}
	case opClear:
		clear(mid)
	case opCount:
		for _, w := range mid {
			c += uint64(bits.OnesCount64(w))
		}
	}
	return c
}

func bitWord(w *uint64, m uint64, op int) uint64 {
	switch op {
	case opSet:
		*w |= m
	case opClear:
		*w &^= m
	case opCount:
		return uint64(bits.OnesCount64(*w & m))
	}
	return 0
}
