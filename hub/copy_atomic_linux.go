//go:build !amd64 || race

package hub

import (
	"encoding/binary"
	"sync/atomic"
)

// On weakly ordered CPUs, and under the race detector (which would see the
// seqlock's deliberate race), the payload moves a word at a time through
// atomic loads and stores, which keeps them ordered with the sequence word.

// storePayload copies src to the front of dst (a slot's payload area, whose
// length is a multiple of 8 and 8-byte aligned).
func storePayload(dst, src []byte) {
	i := 0
	for ; i+8 <= len(src); i += 8 {
		atomic.StoreUint64(u64(dst, i), binary.LittleEndian.Uint64(src[i:]))
	}
	if i < len(src) {
		var w [8]byte
		copy(w[:], src[i:])
		atomic.StoreUint64(u64(dst, i), binary.LittleEndian.Uint64(w[:]))
	}
}

// loadPayload fills dst from the front of src (a slot's payload area).
func loadPayload(dst, src []byte) {
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], atomic.LoadUint64(u64(src, i)))
	}
	if i < len(dst) {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], atomic.LoadUint64(u64(src, i)))
		copy(dst[i:], w[:])
	}
}
