package hub

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkRing measures the ring alone, in one process: one writer
// goroutine writes b.N datagrams of 64 bytes; 1, 4 or 16 reader goroutines
// each read all they can, spinning briefly and then sleeping on the futex
// as a consumer does. It reports the datagrams a second that each reader
// got, and the share it lost to overrun (the writer never waits).
//
// Lossless is the same with a gate that only the benchmark has: the
// writer waits while the slowest reader is more than half a ring behind,
// as the disruptor's producer does; its rate is then the ring's lossless
// throughput, the figure that the disruptor publishes.
func BenchmarkRing(b *testing.B) {
	for _, lossless := range []bool{false, true} {
		for _, readers := range []int{1, 4, 16} {
			name := fmt.Sprintf("readers=%d", readers)
			if lossless {
				name = "lossless/" + name
			}
			b.Run(name, func(b *testing.B) { benchRing(b, readers, lossless) })
		}
	}
}

func benchRing(b *testing.B, readers int, lossless bool) {
	const slots = 1 << 16
	slotSize := slotSizeFor(64)
	mem, err := unix.Mmap(-1, 0, ringSize(slots, slotSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(mem)
	ctl, err := unix.Mmap(-1, 0, ctlSize(1, readers), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(ctl)
	initRing(mem, ringGeom{slots: slots, slotSize: slotSize, port: 5000, family: 4})
	w := newWriter(mem, ctl, 0, futexWakeAll)
	word, waiters := u32(ctl, ctlWake+wkWord), u32(ctl, ctlWake+wkWaiters)
	var done atomic.Bool
	var wg sync.WaitGroup
	var delivered, overrun atomic.Uint64
	var lines [][]byte
	for i := range readers {
		lines = append(lines, ctl[ctlLine(1, i, 0):][:ctlLineLen])
		r, err := newReader(mem, ctl[ctlLine(1, i, 0):][:ctlLineLen])
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			idle := 0
			for {
				res, _, _, _, _, _, _ := r.read(buf)
				if res != slotEmpty {
					idle = 0
					if r.next&255 == 0 {
						r.publish()
					}
					continue
				}
				if idle == 0 {
					r.publish() // for the lossless gate
				}
				if done.Load() && r.next >= w.headAtomic() {
					break
				}
				if idle++; idle < spins {
					continue
				}
				v := atomic.LoadUint32(word)
				atomic.StoreUint32(waiters, 1)
				if !r.available() && !done.Load() {
					futexSleep(word, v, backstop)
				}
			}
			delivered.Add(r.delivered)
			overrun.Add(r.overrun)
		}()
	}
	payload := make([]byte, 64)
	src := netip.MustParseAddrPort("10.0.0.1:4000")
	grp := netip.MustParseAddr("239.1.2.3")
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if lossless && i&255 == 0 {
			for slowest(lines)+slots/2 < uint64(i) {
				runtime.Gosched()
			}
		}
		payload[0] = byte(i)
		w.write(payload, src, grp, 1, 1, now)
	}
	done.Store(true)
	atomic.AddUint32(word, 1)
	futexWakeAll(word)
	wg.Wait()
	el := time.Since(t0).Seconds()
	b.StopTimer()
	if lossless && overrun.Load() != 0 {
		b.Fatalf("lossless run: %d overrun", overrun.Load())
	}
	if got := delivered.Load() + overrun.Load(); got != uint64(b.N*readers) {
		b.Fatalf("delivered %d + overrun %d != %d written x %d readers", delivered.Load(), overrun.Load(), b.N, readers)
	}
	b.ReportMetric(float64(delivered.Load())/float64(readers)/el, "dgrams/s/reader")
	b.ReportMetric(float64(overrun.Load())/float64(b.N*readers), "overrun-frac")
	b.ReportMetric(float64(b.N)/el, "written/s")
}

// slowest returns the smallest position that the readers published.
func slowest(lines [][]byte) uint64 {
	m := ^uint64(0)
	for _, l := range lines {
		m = min(m, atomic.LoadUint64(u64(l, clNext)))
	}
	return m
}

func (w *writer) headAtomic() uint64 { return atomic.LoadUint64(w.headp) }
