package feedgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Lines, as Packet.Line and the line arguments number them (the same values
// as arbiter.LineA and arbiter.LineB).
const (
	LineA = 0
	LineB = 1
)

// ErrInvalidConfig reports a bad Config value; the wrapping error names it.
var ErrInvalidConfig = errors.New("feedgen: invalid configuration")

// LineConfig says what one line does to the packets it carries. Each
// decision is drawn per packet, independently of the other line, from the
// line's own random stream, so changing one line's settings leaves the
// other's losses where they were. Its zero value is a perfect line.
type LineConfig struct {
	// Loss is the probability that the line loses a packet.
	Loss float64

	// Duplicate is the probability that a packet the line carries arrives
	// twice (the copy up to two Intervals later).
	Duplicate float64

	// Reorder is the probability that a packet the line carries is held
	// back, arriving after up to ReorderDepth later packets.
	Reorder float64

	// ReorderDepth is how many packets a held-back packet may fall behind;
	// 0 means 4.
	ReorderDepth int

	// Delay is added to every packet of the line: its lag behind a
	// perfect line.
	Delay time.Duration

	// Jitter is the bound of a uniform random delay, [0, Jitter), added to
	// each packet. Jitter beyond Interval reorders packets too.
	Jitter time.Duration
}

// Config describes a feed. Its zero value means the defaults, except that
// Messages must be set.
type Config struct {
	// Seed seeds every random choice: one Config and Seed make one feed.
	Seed uint64

	// Session is the session of every packet; the zero Session means
	// "FEEDGEN".
	Session moldudp64.Session

	// FirstSeq is the first message's sequence number; 0 means 1.
	FirstSeq uint64

	// Messages is the number of messages; at least 1.
	Messages int

	// MinBatch and MaxBatch bound the messages per data packet (uniform);
	// 0 means 1 and 8.
	MinBatch, MaxBatch int

	// MinSize and MaxSize bound the length of a message (uniform); 0 means
	// 8 and 48. Lengths below 8 are raised to 8, since every message starts
	// with its sequence number (see AppendMessage).
	MinSize, MaxSize int

	// Interval is the time between the packets the server sends; 0 means
	// 1µs.
	Interval time.Duration

	// HeartbeatEvery, if positive, makes the server send a heartbeat after
	// every HeartbeatEvery data packets.
	HeartbeatEvery int

	// EndOfSession is the number of end-of-session packets the server sends
	// after the last message, Interval apart (each subject to the lines'
	// loss like any packet); 0 sends none.
	EndOfSession int

	// A and B configure the two lines.
	A, B LineConfig

	// LoseBoth lists runs of sequence numbers that both lines lose: every
	// data packet holding a message in one of them is lost on both (as
	// when the server's own uplink fails), on top of each line's Loss.
	LoseBoth []Range

	// OnSend, if set, is called with every packet the server sends, in
	// order, before the lines lose, duplicate or delay it (so also with
	// those both lines lose): what a re-request server holds. data is
	// valid only during the call.
	OnSend func(data []byte)
}

// Packet is one packet arriving on a line.
type Packet struct {
	// Line is LineA or LineB.
	Line int

	// At is its arrival time, from the start of the feed.
	At time.Duration

	// Data is the encoded MoldUDP64 packet. It is valid until the next call
	// of Next; the generator then reuses it.
	Data []byte

	// Copy is true for the second copy of a duplicated packet.
	Copy bool
}

// LineCounts counts what a line did.
type LineCounts struct {
	// Packets counts the packets the line carried (duplicates not
	// included), Lost those it lost, Duplicated and Reordered those it
	// duplicated or held back.
	Packets, Lost, Duplicated, Reordered int

	// Messages counts the messages in the packets it carried.
	Messages int
}

// Generator produces the packets of both lines of a feed, merged in order
// of arrival. It is not safe for concurrent use.
type Generator struct {
	cfg   Config
	lines [2]lineGen
	rng   *rand.Rand

	sent     int // messages sent so far
	seq      uint64
	slot     int // the server's next send slot
	dataPkts int // data packets sent
	endPkts  int // end-of-session packets sent
	hbDue    bool
	done     bool
	order    uint64
	revealed uint64

	pending []item    // min-heap by (at, order)
	free    []*buffer // buffers to reuse
	last    *buffer   // the buffer returned by the last Next
	msgs    [][]byte  // views into arena: the messages of the packet being built
	arena   []byte
	ends    []int // where each message in arena ends
}

type lineGen struct {
	cfg     LineConfig
	rng     *rand.Rand
	carried []uint64 // bit per message, from FirstSeq
	counts  LineCounts
}

type item struct {
	at    time.Duration
	order uint64
	line  int
	copy  bool
	buf   *buffer
}

type buffer struct {
	b    []byte
	refs int
}

// New returns a Generator for cfg, or an error wrapping ErrInvalidConfig
// (as for a nil cfg, which sets no Messages).
func New(cfg *Config) (*Generator, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Messages < 1 {
		return nil, fmt.Errorf("config: Messages %d, want at least 1: %w", c.Messages, ErrInvalidConfig)
	}
	if c.Session == (moldudp64.Session{}) {
		c.Session = moldudp64.MustParseSession("FEEDGEN")
	}
	if c.FirstSeq == 0 {
		c.FirstSeq = 1
	}
	if c.MinBatch == 0 {
		c.MinBatch = 1
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = max(8, c.MinBatch)
	}
	if c.MinSize == 0 {
		c.MinSize = 8
	}
	if c.MaxSize == 0 {
		c.MaxSize = max(48, c.MinSize)
	}
	c.MinSize, c.MaxSize = max(c.MinSize, 8), max(c.MaxSize, 8)
	if c.Interval == 0 {
		c.Interval = time.Microsecond
	}
	switch {
	case c.MinBatch < 1 || c.MaxBatch < c.MinBatch || c.MaxBatch > moldudp64.MaxMessages:
		return nil, fmt.Errorf("batch %d to %d: %w", c.MinBatch, c.MaxBatch, ErrInvalidConfig)
	case c.MaxSize < c.MinSize || c.MaxSize > moldudp64.MaxMessageLen:
		return nil, fmt.Errorf("size %d to %d: %w", c.MinSize, c.MaxSize, ErrInvalidConfig)
	case c.Interval < 0 || c.HeartbeatEvery < 0 || c.EndOfSession < 0:
		return nil, fmt.Errorf("negative Interval, HeartbeatEvery or EndOfSession: %w", ErrInvalidConfig)
	case c.FirstSeq > ^uint64(0)-uint64(c.Messages):
		return nil, fmt.Errorf("config: FirstSeq %d overflows: %w", c.FirstSeq, ErrInvalidConfig)
	}
	g := &Generator{
		cfg:      c,
		rng:      rand.New(rand.NewPCG(c.Seed, 0x5eed0)),
		seq:      c.FirstSeq,
		revealed: c.FirstSeq,
	}
	for i, lc := range [2]LineConfig{c.A, c.B} {
		if lc.Loss < 0 || lc.Loss > 1 || lc.Duplicate < 0 || lc.Duplicate > 1 || lc.Reorder < 0 || lc.Reorder > 1 ||
			lc.ReorderDepth < 0 || lc.Delay < 0 || lc.Jitter < 0 {
			return nil, fmt.Errorf("line %c: %+v: %w", 'A'+i, lc, ErrInvalidConfig)
		}
		if lc.ReorderDepth == 0 {
			lc.ReorderDepth = 4
		}
		g.lines[i] = lineGen{
			cfg:     lc,
			rng:     rand.New(rand.NewPCG(c.Seed, 0x11e0+uint64(i))),
			carried: make([]uint64, (c.Messages+63)/64),
		}
	}
	return g, nil
}

// Next returns the next packet to arrive, on either line, or false when the
// feed is over. Packets come in order of arrival time (ties in the order
// they were sent).
func (g *Generator) Next() (Packet, bool) {
	if g.last != nil {
		g.release(g.last)
		g.last = nil
	}
	for {
		if len(g.pending) > 0 && (g.done || g.pending[0].at <= g.horizon()) {
			it := g.pop()
			g.last = it.buf
			return Packet{Line: it.line, At: it.at, Data: it.buf.b, Copy: it.copy}, true
		}
		if g.done {
			return Packet{}, false
		}
		g.produce()
	}
}

// Carried reports whether line (LineA or LineB) carried message seq: a
// packet holding it was not lost. It is final for every message sent so
// far, which includes every message in a packet Next has returned.
func (g *Generator) Carried(line int, seq uint64) bool {
	if line < 0 || line > 1 || seq < g.cfg.FirstSeq || seq-g.cfg.FirstSeq >= uint64(g.cfg.Messages) {
		return false
	}
	i := seq - g.cfg.FirstSeq
	return g.lines[line].carried[i/64]&(1<<(i%64)) != 0
}

// Revealed returns one past the highest sequence number that a packet
// which arrives (or will) on either line announces: its last message, or
// the sequence number of a heartbeat or end of session. A receiver can
// know of no message from Revealed on.
func (g *Generator) Revealed() uint64 { return g.revealed }

// Counts returns what line (LineA or LineB) has done so far.
func (g *Generator) Counts(line int) LineCounts { return g.lines[line].counts }

// Range is a run of sequence numbers, First to Last inclusive.
type Range struct{ First, Last uint64 }

// Missing returns the maximal runs of sequence numbers, from FirstSeq up to
// Revealed, that neither line carried: the gaps an arbiter must report.
// Call it after Next has returned false.
func (g *Generator) Missing() []Range {
	var out []Range
	n := g.revealed - g.cfg.FirstSeq // messages a receiver can know of
	a, b := g.lines[0].carried, g.lines[1].carried
	var cur *Range
	for w := uint64(0); w*64 < n; w++ {
		miss := ^(a[w] | b[w])
		if rest := n - w*64; rest < 64 {
			miss &= 1<<rest - 1
		}
		for bit := uint64(0); bit < 64; {
			if miss>>bit == 0 {
				break
			}
			bit += uint64(bits.TrailingZeros64(miss >> bit))
			seq := g.cfg.FirstSeq + w*64 + bit
			if cur != nil && cur.Last+1 == seq {
				cur.Last = seq
			} else {
				out = append(out, Range{seq, seq})
				cur = &out[len(out)-1]
			}
			bit++
		}
	}
	return out
}

// horizon is the earliest time at which a packet not yet produced can
// arrive.
func (g *Generator) horizon() time.Duration {
	return time.Duration(g.slot)*g.cfg.Interval + min(g.lines[0].cfg.Delay, g.lines[1].cfg.Delay)
}

// produce sends the server's next packet and schedules its copies.
func (g *Generator) produce() {
	c := &g.cfg
	buf := g.alloc()
	first, n := g.seq, 0
	switch {
	case g.hbDue:
		g.hbDue = false
		buf.b = moldudp64.AppendHeartbeat(buf.b[:0], c.Session, g.seq)
	case g.sent < c.Messages:
		n = min(c.MinBatch+g.rng.IntN(c.MaxBatch-c.MinBatch+1), c.Messages-g.sent)
		g.arena, g.ends = g.arena[:0], g.ends[:0]
		for i := range n {
			size := c.MinSize + g.rng.IntN(c.MaxSize-c.MinSize+1)
			g.arena = AppendMessage(g.arena, g.seq+uint64(i), size)
			g.ends = append(g.ends, len(g.arena))
		}
		g.msgs = g.msgs[:0]
		for i, end := range g.ends {
			start := 0
			if i > 0 {
				start = g.ends[i-1]
			}
			g.msgs = append(g.msgs, g.arena[start:end])
		}
		var err error
		if buf.b, err = moldudp64.AppendPacket(buf.b[:0], c.Session, g.seq, g.msgs...); err != nil {
			panic(err) // New checked the sizes
		}
		g.seq += uint64(n)
		g.sent += n
		g.dataPkts++
		g.hbDue = c.HeartbeatEvery > 0 && g.dataPkts%c.HeartbeatEvery == 0
	case g.endPkts < c.EndOfSession:
		buf.b = moldudp64.AppendEndOfSession(buf.b[:0], c.Session, g.seq)
		g.endPkts++
	default:
		g.free = append(g.free, buf)
		g.done = true
		return
	}
	send := time.Duration(g.slot) * c.Interval
	g.slot++
	if c.OnSend != nil {
		c.OnSend(buf.b)
	}
	both := n > 0 && g.losesBoth(first, first+uint64(n)-1)
	for i := range g.lines {
		g.schedule(i, buf, send, first, n, both)
	}
	if buf.refs == 0 {
		g.free = append(g.free, buf)
	}
}

// losesBoth reports whether the messages first to last meet a run of
// Config.LoseBoth.
func (g *Generator) losesBoth(first, last uint64) bool {
	for _, r := range g.cfg.LoseBoth {
		if r.First <= last && first <= r.Last {
			return true
		}
	}
	return false
}

// schedule decides what line i does with a packet sent at send that holds
// n messages from first (or, with n == 0, announces first); lost says it
// is lost on both lines.
func (g *Generator) schedule(i int, buf *buffer, send time.Duration, first uint64, n int, lost bool) {
	l := &g.lines[i]
	r, lc := l.rng, &l.cfg
	// The line's draw is made whether or not the packet is lost on both,
	// so that LoseBoth leaves the line's other losses where they were.
	if r.Float64() < lc.Loss || lost {
		l.counts.Lost++
		return
	}
	l.counts.Packets++
	l.counts.Messages += n
	for k := first - g.cfg.FirstSeq; k < first-g.cfg.FirstSeq+uint64(n); k++ {
		l.carried[k/64] |= 1 << (k % 64)
	}
	g.revealed = max(g.revealed, first+uint64(n))
	at := send + lc.Delay
	if lc.Jitter > 0 {
		at += time.Duration(r.Int64N(int64(lc.Jitter)))
	}
	if r.Float64() < lc.Reorder {
		l.counts.Reordered++
		at += time.Duration(1+r.IntN(lc.ReorderDepth))*g.cfg.Interval + g.cfg.Interval/2
	}
	g.push(item{at: at, line: i, buf: buf})
	if r.Float64() < lc.Duplicate {
		l.counts.Duplicated++
		g.push(item{at: at + time.Duration(r.Int64N(int64(2*g.cfg.Interval)+1)), line: i, copy: true, buf: buf})
	}
}

func (g *Generator) alloc() *buffer {
	if n := len(g.free); n > 0 {
		b := g.free[n-1]
		g.free = g.free[:n-1]
		return b
	}
	return &buffer{}
}

func (g *Generator) release(b *buffer) {
	if b.refs--; b.refs == 0 {
		g.free = append(g.free, b)
	}
}

// push adds it to the heap of pending arrivals.
func (g *Generator) push(it item) {
	it.order = g.order
	g.order++
	it.buf.refs++
	g.pending = append(g.pending, it)
	for i := len(g.pending) - 1; i > 0; {
		p := (i - 1) / 2
		if !g.pending[i].before(g.pending[p]) {
			break
		}
		g.pending[i], g.pending[p] = g.pending[p], g.pending[i]
		i = p
	}
}

// pop removes and returns the earliest pending arrival.
func (g *Generator) pop() item {
	h := g.pending
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < n && h[l].before(h[m]) {
			m = l
		}
		if r < n && h[r].before(h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	g.pending = h
	return top
}

func (a item) before(b item) bool { return a.at < b.at || (a.at == b.at && a.order < b.order) }

// AppendMessage appends to dst a test message for sequence number seq,
// size bytes long (at least 8) as a MoldUDP64 message block would carry
// it: the sequence number (8 bytes, big-endian), then size-8 bytes that
// depend on seq and their position. CheckMessage verifies one.
func AppendMessage(dst []byte, seq uint64, size int) []byte {
	dst = binary.BigEndian.AppendUint64(dst, seq)
	for i := 8; i < size; i++ {
		dst = append(dst, pattern(seq, i))
	}
	return dst
}

// CheckMessage reports whether msg is the message AppendMessage makes for
// seq (of any size), and if not, what is wrong.
func CheckMessage(seq uint64, msg []byte) error {
	if len(msg) < 8 {
		return fmt.Errorf("feedgen: message for %d is %d bytes, want at least 8", seq, len(msg))
	}
	if got := binary.BigEndian.Uint64(msg); got != seq {
		return fmt.Errorf("feedgen: message for %d holds sequence number %d", seq, got)
	}
	for i := 8; i < len(msg); i++ {
		if msg[i] != pattern(seq, i) {
			return fmt.Errorf("feedgen: message for %d differs at byte %d", seq, i)
		}
	}
	return nil
}

func pattern(seq uint64, i int) byte { return byte(seq*31 + uint64(i)*7) }
