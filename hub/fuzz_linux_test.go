package hub

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
)

// FuzzRingRead fills a ring's slots and head with arbitrary bytes (what a
// consumer would find if the hub, or memory, were wrong) and reads it: the
// reader never panics, never returns more bytes than its buffer or a slot
// holds, always moves forward, and its counts add up: delivered + overrun
// + truncated = how far it moved.
func FuzzRingRead(f *testing.F) {
	f.Add([]byte{}, uint64(0), uint16(0))
	seed := make([]byte, 16*128)
	binary.LittleEndian.PutUint64(seed, 1)
	binary.LittleEndian.PutUint32(seed[slLen:], 40)
	f.Add(seed, uint64(1), uint16(0))
	binary.LittleEndian.PutUint64(seed, busy|1)
	f.Add(seed, uint64(1), uint16(5))
	binary.LittleEndian.PutUint64(seed, 17)
	binary.LittleEndian.PutUint32(seed[slLen:], 1<<31)
	f.Add(seed, uint64(40), uint16(3))
	f.Fuzz(func(t *testing.T, content []byte, head uint64, start uint16) {
		const slots, slotSize = 16, 128
		mem := make([]byte, ringSize(slots, slotSize)+8)
		// 8-byte aligned, as a mapping is
		off := 0
		for uintptrOf(mem[off:])%8 != 0 {
			off++
		}
		b := mem[off : off+ringSize(slots, slotSize)]
		initRing(b, ringGeom{slots: slots, slotSize: slotSize, port: 5000, family: 4})
		copy(b[ringHeader:], content)
		atomic.StoreUint64(u64(b, rhHead), head)
		line := make([]byte, ctlLineLen+8)
		for uintptrOf(line)%8 != 0 {
			line = line[1:]
		}
		atomic.StoreUint64(u64(line, clStart), uint64(start))
		r, err := newReader(b, line)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 48)
		for range 64 {
			before := r.next
			res, n, _, _, _, _, _ := r.read(buf)
			switch res {
			case slotEmpty:
				if r.next != before {
					t.Fatalf("an empty slot moved the reader from %d to %d", before, r.next)
				}
			case slotOK:
				if n > len(buf) || n > slotSize-slotHeader {
					t.Fatalf("read %d bytes into a buffer of %d", n, len(buf))
				}
				fallthrough
			default:
				if r.next <= before {
					t.Fatalf("%v did not move the reader on from %d", res, before)
				}
			}
			if got := r.delivered + r.overrun + r.truncated; got != r.next-uint64(start) {
				t.Fatalf("delivered %d + overrun %d + truncated %d != %d read past", r.delivered, r.overrun, r.truncated, r.next-uint64(start))
			}
			if res == slotEmpty {
				break
			}
		}
		r.publish()
	})
}
