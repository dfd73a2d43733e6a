package dispatch

import (
	"sync"
	"sync/atomic"
)

// handOver is the most datagrams a worker takes from its queue at once.
const handOver = 16

// claimedAll is stored in worker.next by a hard stop: every index of the
// hand-over batch is then claimed.
const claimedAll = 1 << 62

// worker is one goroutine's queue: a bounded ring of records, filled by the
// readers and emptied by the worker a hand-over batch at a time.
//
// The hand-over batch (local[:ln]) is claimed one index at a time with
// next.Add, so that a hard stop can claim, and drop, the indexes that the
// worker has not reached, while the worker may be stuck in a handler.
//
// The fields are in two groups, each on cache lines of its own: those that
// readers and the worker share under mu, and those that only the worker
// writes, many times a batch, so that a reader on another core does not
// make the worker's line move with every push.
type worker struct {
	b     *binding
	idx   int           // index in view.queues
	wake  chan struct{} // a push to an idle worker
	space chan struct{} // room for a waiting reader

	_       [cacheLine]byte
	mu      sync.Mutex
	ring    []*record
	head, n int
	idle    bool // the worker waits on wake
	waiters int  // readers waiting on space (Block)
	hard    bool // stopped hard: no more pushes or pops
	started bool

	highWater atomic.Int64
	taken     uint64 // datagrams moved into hand-over batches
	dropped   uint64 // of those, dropped by a hard stop

	_ [cacheLine]byte
	// local[:ln] is the hand-over batch; ln is written under mu by the
	// worker. The worker claims index i with next.Add, which returns i+1
	// once it has finished with index i-1: the index before next is in the
	// handler (or just out of it), those below are done.
	local []*record
	ln    int
	next  atomic.Int64
	_     [cacheLine]byte
}

// enqueue appends rs, which fit; w.mu is held.
func (w *worker) enqueue(rs []*record) {
	c := len(w.ring)
	tail := w.head + w.n
	if tail >= c {
		tail -= c
	}
	k := copy(w.ring[tail:], rs)
	copy(w.ring, rs[k:])
	w.n += len(rs)
	if int64(w.n) > w.highWater.Load() {
		w.highWater.Store(int64(w.n))
	}
}

// dequeue moves the k oldest records into dst; w.mu is held.
func (w *worker) dequeue(dst []*record) {
	c := len(w.ring)
	for i := range dst {
		dst[i] = w.ring[w.head]
		w.ring[w.head] = nil
		if w.head++; w.head == c {
			w.head = 0
		}
	}
	w.n -= len(dst)
}

// signal wakes the worker if it waits; w.mu is held. It reports whether
// the caller must send on w.wake after unlocking.
func (w *worker) signal() bool {
	if w.idle {
		w.idle = false
		return true
	}
	return false
}

func (w *worker) notify(wake bool) {
	if wake {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *worker) notifySpace() {
	select {
	case w.space <- struct{}{}:
	default:
	}
}

// push queues rs (the records of one read batch for this worker, in
// arrival order), applying the overflow policy to those that do not fit.
// Each of rs carries one reference for this queue; a record that is
// dropped has it released through rl. hard is closed on a hard stop, which
// ends a Block wait. push reports how many records it dropped because of a
// hard stop.
func (w *worker) push(rs []*record, rl *releaser, scratch []*record, hard <-chan struct{}) (shutdownDrops int) {
	b := w.b
	b.received.Add(uint64(len(rs)))
	w.mu.Lock()
	for {
		if w.hard {
			w.mu.Unlock()
			w.drop(rs, causeShutdown, rl)
			return len(rs)
		}
		k := min(len(w.ring)-w.n, len(rs))
		w.enqueue(rs[:k])
		rs = rs[k:]
		if len(rs) == 0 {
			break
		}
		switch b.overflow {
		case DropNewest:
			wake := w.signal()
			w.mu.Unlock()
			w.notify(wake)
			w.drop(rs, causeQueueFull, rl)
			return 0
		case DropOldest:
			// Those of rs that would be evicted by later ones of rs
			// never enter the queue; they are as evicted all the same.
			if extra := len(rs) - len(w.ring); extra > 0 {
				w.drop(rs[:extra], causeEvicted, rl)
				rs = rs[extra:]
			}
			old := scratch[:len(rs)]
			w.dequeue(old)
			w.drop(old, causeEvicted, rl)
			clear(old)
		case Block:
			wake := w.signal()
			w.waiters++
			w.mu.Unlock()
			w.notify(wake)
			var stopped bool
			select {
			case <-w.space:
			case <-hard:
				stopped = true
			}
			w.mu.Lock()
			w.waiters--
			if stopped {
				w.mu.Unlock()
				w.drop(rs, causeShutdown, rl)
				return len(rs)
			}
		}
	}
	wake := w.signal()
	more := w.waiters > 0 && w.n < len(w.ring)
	w.mu.Unlock()
	w.notify(wake)
	if more {
		w.notifySpace()
	}
	return 0
}

// handed returns how many datagrams the worker has handed to the handler
// (or is handing), and how many of those calls may still be running: its
// hand-over batch less what a hard stop dropped, less the indexes not yet
// claimed. w.mu is held.
func (w *worker) handed() (handed uint64, inFlight int) {
	handed = w.taken - w.dropped
	if w.hard {
		return handed, 0
	}
	switch next := int(w.next.Load()); {
	case next == 0:
		inFlight = w.ln
	case next <= w.ln:
		inFlight = w.ln - next + 1
	}
	return handed - uint64(inFlight), inFlight
}

// drop counts rs as dropped for cause c and releases them.
func (w *worker) drop(rs []*record, c cause, rl *releaser) {
	if len(rs) == 0 {
		return
	}
	w.b.drops[c].Add(uint64(len(rs)))
	for _, r := range rs {
		rl.release(r)
	}
}

// take fills the hand-over batch from the queue. It returns the number
// taken, or -1 if the worker is stopped hard.
func (w *worker) take() int {
	w.mu.Lock()
	if w.hard {
		w.mu.Unlock()
		return -1
	}
	k := min(w.n, len(w.local))
	if k > 0 {
		w.dequeue(w.local[:k])
		w.ln = k
		w.taken += uint64(k)
		w.next.Store(0)
		// Waiting readers are woken once half the queue is free, not
		// for every hand-over batch: fewer switches between goroutines
		// when a fast reader feeds a queue that is always full.
		if w.waiters > 0 && 2*(len(w.ring)-w.n) >= len(w.ring) {
			w.notifySpace()
		}
	}
	w.mu.Unlock()
	return k
}

// stopHard drops what the queue holds and what the worker has not yet
// claimed of its hand-over batch, and marks the worker stopped. It reports
// how many records it dropped and whether a handler call is running (or
// has just returned: the worker marks an index done only by claiming the
// next, so a call that returned an instant ago still counts; its datagram
// is then delivered).
func (w *worker) stopHard(rl *releaser) (dropped int, inFlight bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hard = true
	var buf [handOver]*record
	for w.n > 0 {
		k := min(w.n, len(buf))
		w.dequeue(buf[:k])
		w.drop(buf[:k], causeShutdown, rl)
		dropped += k
	}
	old := int(w.next.Swap(claimedAll))
	if old < w.ln {
		w.drop(w.local[old:w.ln], causeShutdown, rl)
		dropped += w.ln - old
		w.dropped += uint64(w.ln - old)
	}
	inFlight = old >= 1 && old <= w.ln
	return dropped, inFlight
}
