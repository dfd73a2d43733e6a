//go:build amd64 && !race

package hub

// On amd64 (total store order) a plain copy between the seqlock's atomic
// operations is ordered with them: loads are not reordered with loads, nor
// stores with stores.

func storePayload(dst, src []byte) { copy(dst, src) }

func loadPayload(dst, src []byte) { copy(dst, src) }
