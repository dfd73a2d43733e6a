package dispatch

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/sharecast/sharecast/mcast"
)

// record is one receive buffer and the Datagram that handlers see of it.
// A record is owned by one reader between get and dispatch; after dispatch
// it is shared read-only by the queues it was pushed to, each holding one
// reference, and goes back to the pool when the last reference is released.
//
// The reference count has a cache line of its own: every handler's worker
// writes it, possibly on another core than the others, and the Datagram
// that they all read should not move between cores with it. A record is a
// whole number of cache lines, and the chunks that records come in are
// large enough to be aligned to one.
type record struct {
	refs atomic.Int32
	_    [cacheLine - 4]byte
	buf  []byte // the whole buffer; d.Payload is a prefix of it
	d    Datagram
	_    [recordPad]byte
}

// cacheLine is the cache line size of common CPUs (amd64, most arm64).
const cacheLine = 64

// recordPad pads record to a multiple of cacheLine.
const recordPad = (cacheLine - (unsafe.Sizeof([]byte{})+unsafe.Sizeof(Datagram{}))%cacheLine) % cacheLine

// pool holds the records that no reader or queue holds. It grows on demand
// in chunks and never shrinks: how many records are in use at once is
// bounded by the readers' batches, the queues' capacities and the workers'
// hand-over batches, so in steady state get and put allocate nothing.
type pool struct {
	size  int // buffer size of each record
	mu    sync.Mutex
	free  []*record
	total atomic.Int64
}

// newPool returns a pool of buffers that hold datagrams of up to size
// bytes: each has mcast.ReadSlack bytes more, which an mcast.Conn keeps
// spare outside Linux to tell a datagram that fills the buffer from one
// cut short. (A Source other than an mcast.Conn may take those bytes too.)
func newPool(size int) *pool { return &pool{size: size + mcast.ReadSlack} }

// get fills rs with records, allocating a chunk if the pool runs short.
func (p *pool) get(rs []*record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < len(rs) {
		p.grow(len(rs) - len(p.free))
	}
	n := len(p.free) - len(rs)
	copy(rs, p.free[n:])
	clear(p.free[n:])
	p.free = p.free[:n]
}

// grow adds at least n records; p.mu is held. Chunks double with the pool
// (at least 64 records), so that the pool reaches its working size in a few
// steps.
func (p *pool) grow(n int) {
	total := int(p.total.Load())
	n = max(n, total, 64)
	buf := make([]byte, n*p.size)
	recs := make([]record, n)
	if cap(p.free) < total+n {
		free := make([]*record, len(p.free), total+n)
		copy(free, p.free)
		p.free = free
	}
	for i := range recs {
		recs[i].buf = buf[i*p.size : (i+1)*p.size : (i+1)*p.size]
		p.free = append(p.free, &recs[i])
	}
	p.total.Add(int64(n))
}

// put returns records whose last reference was released.
func (p *pool) put(rs []*record) {
	if len(rs) == 0 {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, rs...)
	p.mu.Unlock()
}

// stats returns how many records exist and how many are free.
func (p *pool) stats() (total, free int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int(p.total.Load()), len(p.free)
}

// releaser collects records whose last reference one goroutine released,
// and returns them to the pool a batch at a time.
type releaser struct {
	p    *pool
	recs []*record
}

func newReleaser(p *pool, n int) releaser {
	return releaser{p: p, recs: make([]*record, 0, n)}
}

// release drops one reference to r.
func (rl *releaser) release(r *record) {
	if r.refs.Add(-1) != 0 {
		return
	}
	r.d = Datagram{}
	if len(rl.recs) == cap(rl.recs) {
		rl.flush()
	}
	rl.recs = append(rl.recs, r)
}

// flush returns the collected records to the pool.
func (rl *releaser) flush() {
	rl.p.put(rl.recs)
	clear(rl.recs)
	rl.recs = rl.recs[:0]
}
