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

// Each group has a tracker of its own (newSeqTracker, with --max-streams
// as its MaxFlows): the cap on streams is per group, so that a flood of new
// streams (new stream ids or source ports) on one group evicts only that
// group's streams, never another group's. The tracker keeps an evicted
// stream's figures in its totals, so that the group's figures never go
// down.

// seqCounts returns the figures of a group's tracker t, its evicted streams
// included, and how many streams it evicted.
func seqCounts(t *dispatch.SequenceTracker) (c seqCounters, evicted uint64) {
	s := t.Stats()
	c.add(&s)
	return c, s.Evicted
}
