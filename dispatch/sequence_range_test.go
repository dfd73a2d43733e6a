package dispatch_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/benchcpu"
)

// rng is a range of numbers that a datagram carries: MoldUDP64's first
// message number and message count.
type rng struct{ first, count uint64 }

// rangePayload holds r, and a stream id after it.
func rangePayload(r rng, stream byte) []byte {
	return append(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, r.first), r.count), stream)
}

func extractRange(d *dispatch.Datagram) (first, count uint64, ok bool) {
	if len(d.Payload) < 17 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(d.Payload), binary.BigEndian.Uint64(d.Payload[8:]), true
}

func streamOf(d *dispatch.Datagram) (id dispatch.StreamID) {
	id[0] = d.Payload[16]
	return id
}

func newRangeTracker(t testing.TB, bits, window int) *dispatch.SequenceTracker {
	t.Helper()
	tr, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{ExtractRange: extractRange, Stream: streamOf, Bits: bits, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func observeRanges(tr *dispatch.SequenceTracker, rs ...rng) {
	for _, r := range rs {
		d := dispatch.Datagram{Payload: rangePayload(r, 0), Source: src1, Group: group1, Port: 5000}
		tr.Observe(&d)
	}
}

func ones(from, to uint64) []rng {
	var rs []rng
	for n := from; n < to; n++ {
		rs = append(rs, rng{n, 1})
	}
	return rs
}

func TestSequenceTrackerRanges(t *testing.T) {
	type S = dispatch.SequenceStats
	for _, c := range []struct {
		name   string
		bits   int
		window int
		rs     []rng
		want   S
		next   uint64
	}{
		{"in order", 0, 0, []rng{{1, 3}, {4, 2}, {6, 1}}, S{Datagrams: 3, Numbers: 6}, 7},
		{"starts mid-stream", 0, 0, []rng{{1000, 5}, {1005, 5}}, S{Datagrams: 2, Numbers: 10}, 1010},
		{"gap", 0, 0, []rng{{1, 3}, {10, 2}}, S{Datagrams: 2, Numbers: 5, Gaps: 1, Missing: 6}, 12},
		{"gap filled by a late range", 0, 0, []rng{{1, 3}, {10, 2}, {4, 6}},
			S{Datagrams: 3, Numbers: 11, Gaps: 1, Late: 1}, 12},
		{"gap filled in parts", 0, 0, []rng{{1, 3}, {10, 2}, {7, 2}, {4, 2}},
			S{Datagrams: 4, Numbers: 9, Gaps: 1, Missing: 2, Late: 2}, 12},
		{"late range overlapping seen numbers", 0, 0, []rng{{1, 3}, {10, 2}, {2, 5}},
			S{Datagrams: 3, Numbers: 8, Gaps: 1, Missing: 3, Late: 1, DuplicateNumbers: 2}, 12},
		{"duplicate range", 0, 0, []rng{{1, 5}, {2, 3}, {1, 5}},
			S{Datagrams: 3, Numbers: 5, Duplicates: 2, DuplicateNumbers: 8}, 6},
		{"range over the next number: old part duplicate, new part delivered", 0, 0, []rng{{1, 5}, {4, 4}},
			S{Datagrams: 2, Numbers: 7, DuplicateNumbers: 2}, 8},
		{"range from a gap over the next number", 0, 0, []rng{{1, 2}, {5, 1}, {3, 5}},
			S{Datagrams: 3, Numbers: 7, Gaps: 1, Late: 1, DuplicateNumbers: 1}, 8},
		{"heartbeats", 0, 0, []rng{{1, 3}, {4, 0}, {4, 0}, {4, 2}, {2, 0}, {6, 0}},
			S{Datagrams: 6, Numbers: 5}, 6},
		{"heartbeat past a lost tail", 0, 0, []rng{{1, 3}, {7, 0}, {4, 3}},
			S{Datagrams: 3, Numbers: 6, Gaps: 1, Late: 1}, 7},
		{"first datagram a heartbeat", 0, 0, []rng{{9, 0}, {9, 2}}, S{Datagrams: 2, Numbers: 2}, 11},
		{"reset", 0, 0, []rng{{100_000, 10}, {5, 3}}, S{Datagrams: 2, Numbers: 13, Resets: 1}, 8},
		{"stale heartbeat far behind: no reset", 0, 0, []rng{{100_000, 10}, {5, 0}}, S{Datagrams: 2, Numbers: 10}, 100_010},
		{"wrap at 16 bits", 16, 0, []rng{{65530, 4}, {65534, 4}, {2, 1}}, S{Datagrams: 3, Numbers: 9}, 3},
		{"gap over the wrap", 16, 0, []rng{{65530, 4}, {1, 2}}, S{Datagrams: 2, Numbers: 6, Gaps: 1, Missing: 3}, 3},
		{"late over the wrap", 16, 0, []rng{{65530, 4}, {1, 2}, {65534, 3}}, S{Datagrams: 3, Numbers: 9, Gaps: 1, Late: 1}, 3},
		{"wrap at 8 bits, duplicate across it", 8, 64, []rng{{250, 10}, {254, 4}}, S{Datagrams: 2, Numbers: 10, Duplicates: 1, DuplicateNumbers: 4}, 4},
		{"range longer than the window", 0, 64, []rng{{0, 2}, {2, 1000}, {950, 100}},
			S{Datagrams: 3, Numbers: 1050, DuplicateNumbers: 52}, 1050},
		{"range from behind the window: a reset", 0, 64, []rng{{0, 2}, {2, 1000}, {900, 200}},
			S{Datagrams: 3, Numbers: 1202, Resets: 1}, 1100},
		{"jump wider than the window: a reset; then a late one in the new window", 0, 1 << 16, []rng{{0, 2}, {200000, 1}, {199990, 1}},
			S{Datagrams: 3, Numbers: 4, Late: 1, Resets: 1}, 200001},
		{"gap and range wider than the window together", 0, 64, []rng{{0, 2}, {52, 20}, {20, 1}, {8, 1}, {7, 1}},
			S{Datagrams: 5, Numbers: 25, Gaps: 1, Missing: 48, Late: 2, Resets: 1}, 8},
		{"bits left from before a gap read as unseen", 0, 64, []rng{{0, 64}, {120, 10}, {70, 1}, {66, 1}, {66, 1}},
			S{Datagrams: 5, Numbers: 76, Gaps: 1, Missing: 54, Late: 2, Duplicates: 1, DuplicateNumbers: 1}, 130},
		{"bits left from before a reset read as unseen", 0, 64, []rng{{0, 64}, {1000, 1}, {970, 1}, {940, 2}, {941, 1}},
			S{Datagrams: 5, Numbers: 68, Late: 2, Duplicates: 1, DuplicateNumbers: 1, Resets: 1}, 1001},
		{"heartbeat past the window: a reset", 0, 64, []rng{{0, 2}, {500, 0}, {490, 2}, {500, 1}},
			S{Datagrams: 4, Numbers: 5, Late: 1, Resets: 1}, 501},
		{"ones, as Extract", 0, 0, append(append(ones(0, 10), ones(15, 20)...), rng{12, 1}, rng{11, 1}, rng{11, 1}),
			S{Datagrams: 18, Numbers: 17, Gaps: 1, Missing: 3, Late: 2, Duplicates: 1, DuplicateNumbers: 1}, 20},
		// The CLI's former tracker's MoldUDP64 case.
		{"moldudp64 session", 0, 0, []rng{{1, 3}, {4, 2}, {6, 0}, {6, 1}, {10, 2}, {7, 3}, {5, 0}, {12, 0}, {15, 0}, {10, 4}, {8, 2}, {15, 1}, {1, 1}},
			S{Datagrams: 13, Numbers: 14, Gaps: 2, Missing: 1, Late: 2, Duplicates: 2, DuplicateNumbers: 5}, 16},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newRangeTracker(t, c.bits, c.window)
			observeRanges(tr, c.rs...)
			fs := tr.Flows()
			if got := tr.Stats(); got != c.want || len(fs) != 1 || fs[0].Next != c.next {
				t.Errorf("%v:\ngot  %+v, flows %+v\nwant %+v, next %d", c.rs, got, fs, c.want, c.next)
			}
		})
	}
}

// A range of a size or at a number that the network chooses costs work
// bounded by the window, not by the range: each of these would take
// years if it did not.
func TestSequenceTrackerHugeRanges(t *testing.T) {
	tr := newRangeTracker(t, 0, 0)
	const q = 1 << 62
	observeRanges(tr,
		rng{0, q},         // next 2^62
		rng{q + q/2, q},   // 2^61 ahead: a reset, not 2^61 missing; next 2^63 + 2^61
		rng{2 * q, q},     // 2^61 behind: a reset; next 2^63 + 2^62
		rng{3*q - 10, 20}, // 10 again, 10 new
		rng{2 * q, 2 * q}, // half the number space: no order
		rng{1, ^uint64(0)},
	)
	want := dispatch.SequenceStats{Datagrams: 4, NoSequence: 2, Numbers: 3*q + 10, Resets: 2, DuplicateNumbers: 10}
	if st, fs := tr.Stats(), tr.Flows(); st != want || len(fs) != 1 || fs[0].Next != 3*q+10 || fs[0].Highest != 3*q+9 {
		t.Errorf("got %+v, flows %+v\nwant %+v", st, fs, want)
	}
	// 16-bit numbers: a count of half the range or more cannot be ordered.
	tr = newRangeTracker(t, 16, 0)
	observeRanges(tr, rng{0, 1 << 15}, rng{0, 1<<15 - 1}, rng{1 << 40, 1})
	want = dispatch.SequenceStats{Datagrams: 2, NoSequence: 1, Numbers: 1 << 15, Resets: 1}
	if st, fs := tr.Stats(), tr.Flows(); st != want || fs[0].Next != 1 {
		t.Errorf("16 bits: %+v, flows %+v\nwant %+v", st, fs, want)
	}
}

// Flows are told apart by source, group, port and stream.
func TestSequenceTrackerStreams(t *testing.T) {
	tr := newRangeTracker(t, 0, 0)
	src2 := netip.MustParseAddrPort("10.0.0.2:4000")
	for _, d := range []dispatch.Datagram{
		{Payload: rangePayload(rng{1, 2}, 'a'), Source: src1, Group: group1, Port: 5000},
		{Payload: rangePayload(rng{1, 2}, 'b'), Source: src1, Group: group1, Port: 5000},
		{Payload: rangePayload(rng{1, 2}, 'a'), Source: src1, Group: group1, Port: 5001},
		{Payload: rangePayload(rng{1, 2}, 'a'), Source: src2, Group: group1, Port: 5000},
		{Payload: rangePayload(rng{3, 2}, 'b'), Source: src1, Group: group1, Port: 5000},
		{Payload: []byte("short"), Source: src1, Group: group1, Port: 5000},
	} {
		tr.Observe(&d)
	}
	fs := tr.Flows()
	if len(fs) != 4 {
		t.Fatalf("flows %+v", fs)
	}
	type key struct {
		port   uint16
		src    netip.AddrPort
		stream byte
		next   uint64
	}
	want := []key{{5000, src1, 'a', 3}, {5000, src1, 'b', 5}, {5000, src2, 'a', 3}, {5001, src1, 'a', 3}}
	for i, f := range fs {
		if got := (key{f.Port, f.Source, f.Stream[0], f.Next}); got != want[i] || f.Group != group1 {
			t.Errorf("flow %d: %+v, want %+v", i, f, want[i])
		}
	}
	if st := tr.Stats(); st.NoSequence != 1 || st.Numbers != 10 || st.Gaps != 0 {
		t.Errorf("totals %+v", st)
	}
	b, err := json.Marshal(fs[1])
	if err != nil || !strings.Contains(string(b), `"stream":"62"`) || !strings.Contains(string(b), `"next":5`) {
		t.Errorf("JSON %s, %v", b, err)
	}
	if b, _ := json.Marshal(dispatch.FlowSequence{}); strings.Contains(string(b), "stream") {
		t.Errorf("JSON of a flow without a stream: %s", b)
	}
	for _, cfg := range []dispatch.SequenceConfig{{}, {Extract: extractSeq, ExtractRange: extractRange}} {
		if _, err := dispatch.NewSequenceTracker(&cfg); !errors.Is(err, dispatch.ErrInvalidConfig) {
			t.Errorf("Extract %v, ExtractRange %v: %v", cfg.Extract != nil, cfg.ExtractRange != nil, err)
		}
	}
}

// The tracker allocates nothing per datagram once it knows the flow, or
// once it knows MaxFlows flows and evicts one for each new one.
func TestSequenceTrackerDoesNotAllocate(t *testing.T) {
	tr := newRangeTracker(t, 0, 1<<16)
	ds := make([]dispatch.Datagram, 4)
	for i, r := range []rng{{1, 3}, {10, 2}, {4, 1}, {1 << 40, 100_000}} {
		ds[i] = dispatch.Datagram{Payload: rangePayload(r, 7), Source: src1, Group: group1, Port: 5000}
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { tr.Observe(&ds[i%len(ds)]); i++ }); n != 0 {
		t.Errorf("%v allocations per datagram", n)
	}
	tr, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{Extract: extractSeq, MaxFlows: 64})
	if err != nil {
		t.Fatal(err)
	}
	d := dispatch.Datagram{Payload: seqPayload(1), Group: group1, Port: 5000}
	port := uint16(0)
	newFlow := func() {
		d.Source = netip.AddrPortFrom(src1.Addr(), port)
		tr.Observe(&d)
		port++
	}
	for range 64 {
		newFlow()
	}
	if n := testing.AllocsPerRun(1000, newFlow); n != 0 {
		t.Errorf("%v allocations per datagram of a new flow that evicts one", n)
	}
	if st := tr.Stats(); st.Evicted != uint64(port)-64 || len(tr.Flows()) != 64 {
		t.Errorf("%d flows seen, %d tracked: %+v", port, len(tr.Flows()), st)
	}
}

// BenchmarkSequenceTracker puts what a stream's numbers can make the
// tracker do beside the ordinary case ("one"), in a window of 2^16: gaps,
// ranges, jumps within the window and beyond it (a reset), and a new flow
// each datagram once MaxFlows are known (an eviction each).
func BenchmarkSequenceTracker(b *testing.B) {
	for _, c := range []struct {
		name  string
		count uint64
		step  uint64
		flows uint16 // how many source ports the datagrams cycle through
	}{
		{"one", 1, 1, 1},
		{"range-of-10", 10, 10, 1},
		{"gap-every-datagram", 10, 12, 1},
		{"range-over-window", 100_000, 100_000, 1},
		{"jump-65535", 1, 65_535, 1},        // within the window: a gap, cleared by words
		{"jump-past-window", 1, 1 << 17, 1}, // a reset
		{"jump-2^62", 1, 1 << 62, 1},        // a reset, 2^62 ahead or behind
		{"new-flow-each", 1, 1, 8192},       // twice MaxFlows: each datagram evicts
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := newRangeTracker(b, 0, 1<<16)
			d := &dispatch.Datagram{Payload: rangePayload(rng{0, c.count}, 0), Source: src1, Group: group1, Port: 5000}
			b.ReportAllocs()
			i := uint64(0)
			stop := benchcpu.Start(b)
			for b.Loop() {
				binary.BigEndian.PutUint64(d.Payload, i*c.step)
				d.Source = netip.AddrPortFrom(src1.Addr(), uint16(i%uint64(c.flows)))
				tr.Observe(d)
				i++
			}
			stop()
			if st := tr.Stats(); st.Numbers != i*c.count || st.Missing > i*65_535 {
				b.Errorf("%d numbers counted, want %d; %+v", st.Numbers, i*c.count, st)
			}
		})
	}
}

// refFlow is the plain model of a flow that FuzzSequenceTracker checks the
// tracker against: a set of the numbers seen in the window, one number at
// a time.
type refFlow struct {
	next    uint64
	seen    map[uint64]bool
	st      dispatch.SequenceStats
	lastUse int
}

type refTracker struct {
	mask, half, window uint64
	maxFlows           int
	flows              map[byte]*refFlow
	other              dispatch.SequenceStats // NoSequence, Evicted and the evicted flows' figures
	clock              int
}

func (r *refTracker) totals() dispatch.SequenceStats {
	s := r.other
	for _, f := range r.flows {
		dispatch.AddSequenceStats(&s, &f.st)
	}
	return s
}

// mark marks the numbers [first, first+count) seen, those that will be in
// the window only: the others would be forgotten at once.
func (r *refTracker) mark(f *refFlow, first, count uint64) {
	n := min(count, r.window)
	for i := count - n; i < count; i++ {
		f.seen[(first+i)&r.mask] = true
	}
}

// forget drops the numbers no longer in the window below next.
func (r *refTracker) forget(f *refFlow) {
	for n := range f.seen {
		if back := (f.next - n) & r.mask; back == 0 || back > r.window {
			delete(f.seen, n)
		}
	}
}

// flow returns the model of flow, new (in the place of the one used
// longest ago if maxFlows are known) if need be.
func (r *refTracker) flow(flow byte, first uint64) *refFlow {
	r.clock++
	f := r.flows[flow]
	if f == nil {
		if len(r.flows) == r.maxFlows {
			var victim byte
			for k, g := range r.flows {
				if f == nil || g.lastUse < f.lastUse {
					victim, f = k, g
				}
			}
			dispatch.AddSequenceStats(&r.other, &f.st)
			r.other.Evicted++
			delete(r.flows, victim)
		}
		f = &refFlow{next: first, seen: map[uint64]bool{}}
		r.flows[flow] = f
	}
	f.lastUse = r.clock
	return f
}

// reset restarts f's numbering at first.
func (r *refTracker) reset(f *refFlow, first, count uint64) {
	f.st.Resets++
	clear(f.seen)
	r.mark(f, first, count)
	f.next = (first + count) & r.mask
	f.st.Numbers += count
}

func (r *refTracker) observe(flow byte, first, count uint64) {
	if count >= r.half {
		r.other.NoSequence++
		return
	}
	first &= r.mask
	f := r.flow(flow, first)
	f.st.Datagrams++
	defer r.forget(f)
	if ahead := (first - f.next) & r.mask; ahead < r.half {
		if ahead > r.window {
			r.reset(f, first, count)
			return
		}
		if ahead > 0 {
			f.st.Gaps++
			f.st.Missing += ahead
		}
		r.mark(f, first, count)
		f.next = (first + count) & r.mask
		f.st.Numbers += count
		return
	}
	if count == 0 {
		return
	}
	back := (f.next - first) & r.mask
	if back > r.window {
		r.reset(f, first, count)
		return
	}
	var fresh, dup uint64
	for i := uint64(0); i < min(count, back); i++ {
		if n := (first + i) & r.mask; f.seen[n] {
			dup++
		} else {
			f.seen[n] = true
			fresh++
		}
	}
	f.st.Numbers += fresh
	f.st.DuplicateNumbers += dup
	if fresh > 0 {
		f.st.Late++
		f.st.Missing -= min(fresh, f.st.Missing)
	} else if count <= back {
		f.st.Duplicates++
	}
	if count > back {
		r.mark(f, f.next, count-back)
		f.st.Numbers += count - back
		f.next = (first + count) & r.mask
	}
}

// FuzzSequenceTracker feeds the tracker ranges of numbers that the input
// chooses, on four flows of which one to four are tracked at a time, and
// checks after each datagram that the tracker holds no more flows than
// that, that every flow's counters and next number are those of a plain
// model (a flow's figures are its own: nothing spills into another's,
// whatever the numbers), that a datagram added at most the window to
// Missing, and that the totals are the model's, evicted flows included:
// every number a datagram carried counts once, as new or as a duplicate.
func FuzzSequenceTracker(f *testing.F) {
	f.Add(byte(0), []byte{0, 0, 0, 3, 0, 0, 10, 2, 0, 0, 4, 6, 1, 0, 1, 1})
	f.Add(byte(1), []byte{0, 0xff, 0xfa, 4, 1, 0, 1, 2, 0, 0xff, 0xfe, 3, 0, 0xff, 0xfe, 0})
	f.Add(byte(2), []byte{0, 0, 0, 200, 2, 0, 0, 1, 4, 9, 0, 0, 0, 0, 50, 255})
	f.Add(byte(0x1b), []byte{0x08, 0xff, 0xff, 1, 0x09, 0x40, 0, 1, 0x0e, 0, 0, 1, 0x0f, 9, 9, 1, 0x0c, 0, 1, 3, 0x0d, 0, 1, 3, 0x32, 7, 0, 9})
	f.Fuzz(checkSequenceTracker)
}

// checkSequenceTracker is the body of FuzzSequenceTracker.
func checkSequenceTracker(t *testing.T, cfg byte, ops []byte) {
	ops = ops[:min(len(ops), 400)] // a hundred datagrams
	bits := []int{8, 12, 16, 64}[cfg%4]
	window := 64 << (cfg / 4 % 2)
	maxFlows := 1 + int(cfg/8%4)
	tr, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{ExtractRange: extractRange, Stream: streamOf, Bits: bits, Window: window, MaxFlows: maxFlows})
	if err != nil {
		t.Fatal(err)
	}
	ref := &refTracker{mask: ^uint64(0) >> (64 - bits), half: 1 << (bits - 1), window: uint64(window), maxFlows: maxFlows, flows: map[byte]*refFlow{}}
	var last [4]uint64
	var datagrams, carried uint64
	for len(ops) >= 4 {
		op, a, b, c := ops[0], uint64(ops[1]), uint64(ops[2]), uint64(ops[3])
		ops = ops[4:]
		flow := op & 3
		var first, count uint64
		switch op >> 2 & 3 {
		case 0: // near the last one
			first, count = last[flow]+uint64(int8(a)), c%8
		case 1: // anywhere, a byte's worth
			first, count = a<<8|b, c
		case 2: // anywhere in the 64 bits, long or very long
			first, count = a<<56|b<<48, c<<(op>>4*4)
		case 3: // right after the last one
			first, count = last[flow]+b%2, c%4
		}
		last[flow] = first + count
		datagrams++
		if count < ref.half {
			carried += count
		}
		before := tr.Stats().Missing
		tr.Observe(&dispatch.Datagram{Payload: rangePayload(rng{first, count}, flow), Source: src1, Group: group1})
		ref.observe(flow, first, count)
		fs := tr.Flows()
		if len(fs) != len(ref.flows) || len(fs) > maxFlows {
			t.Fatalf("%d flows, want %d (at most %d)", len(fs), len(ref.flows), maxFlows)
		}
		for _, f := range fs {
			want := ref.flows[f.Stream[0]]
			if want == nil || f.SequenceStats != want.st || f.Next != want.next {
				if want == nil {
					t.Fatalf("after %d+%d on flow %d: flow %d tracked, not in the model", first&ref.mask, count, flow, f.Stream[0])
				}
				t.Fatalf("after %d+%d on flow %d: flow %d\ngot  %+v next %d\nwant %+v next %d", first&ref.mask, count, flow, f.Stream[0], f.SequenceStats, f.Next, want.st, want.next)
			}
		}
		st := tr.Stats()
		if st.Missing > before+ref.window {
			t.Fatalf("after %d+%d on flow %d: missing went from %d to %d", first&ref.mask, count, flow, before, st.Missing)
		}
		if want := ref.totals(); st != want {
			t.Fatalf("after %d+%d on flow %d: totals\ngot  %+v\nwant %+v", first&ref.mask, count, flow, st, want)
		}
	}
	st := tr.Stats()
	if st.Datagrams+st.NoSequence != datagrams || st.Numbers+st.DuplicateNumbers != carried || st.Untracked != 0 {
		t.Fatalf("totals %+v: %d datagrams carrying %d numbers", st, datagrams, carried)
	}
}
