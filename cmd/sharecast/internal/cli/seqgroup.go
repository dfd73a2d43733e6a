package cli

import (
	"github.com/sharecast/sharecast/dispatch"
)

// defaultMaxStreams is how many streams stat (--max-streams) and doctor
// --listen track per group by default. A stream costs about 8.5 KiB: its
// window of seqWindow numbers is 8 KiB of bits, and its state and map
// entries (the tracker's, and stat's last transit time for the jitter)
// the rest (8,748 bytes a stream measured on the heap of a stat handler
// that tracked 1,024); 1,024 streams hold about 8.5 MiB a group.
const defaultMaxStreams = 1024

// maxMaxStreams bounds --max-streams: 2^20 streams are about 8.5 GiB a
// group.
const maxMaxStreams = 1 << 20

// groupSeq tracks the sequenced streams of one group and port, with a
// tracker of its own: the cap on streams is per group, so that a flood of
// new streams (new stream ids or source ports) on one group evicts only
// that group's streams, never another group's. Its methods are not safe
// for concurrent use: its owner serialises the calls.
type groupSeq struct {
	seq *dispatch.SequenceTracker
	// retired adds up the figures of the streams that seq evicted (the
	// idle longest, when a new stream came past the cap), so that the
	// group's figures never go down; evicted counts them.
	retired seqCounters
	evicted uint64
}

// newGroupSeq returns the tracker of a group's streams, of those that
// classify finds as mode says, at most maxStreams of them (0: the
// default). onEvict, if not nil, is called with each stream evicted, from
// observe, after its figures are kept in the group's.
func newGroupSeq(mode string, maxStreams int, onEvict func(dispatch.FlowSequence)) (*groupSeq, error) {
	g := &groupSeq{}
	var err error
	g.seq, err = newSeqTracker(mode, maxStreams, func(f dispatch.FlowSequence) {
		g.retired.add(&f.SequenceStats)
		g.evicted++
		if onEvict != nil {
			onEvict(f)
		}
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// observe tracks d, a datagram of the group.
func (g *groupSeq) observe(d *dispatch.Datagram) { g.seq.Observe(d) }

// totals returns the group's figures (its evicted streams' and those of
// the streams tracked) and the streams tracked.
func (g *groupSeq) totals() (seqCounters, []dispatch.FlowSequence) {
	c := g.retired
	flows := g.seq.Flows()
	for i := range flows {
		c.add(&flows[i].SequenceStats)
	}
	return c, flows
}
