package cli

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/wire"
)

func newStatCmd(e *env) *cobra.Command {
	var f sessionFlags
	var format, seqMode string
	var interval time.Duration
	var maxStreams int
	cmd := &cobra.Command{
		Use:   "stat GROUP...",
		Short: "Live loss, gaps, reordering and latency per group and per socket",
		Long: `stat joins the groups and shows, every --interval, a table per group and per
socket: datagrams a second, Mbit/s, numbers lost, gaps, duplicates,
reordered datagrams, latency p50/p99/max, and the kernel's drops.

On a terminal the table is redrawn in place, on a screen of its own that is
given back on exit, fitted to the terminal's width (the less needed columns
go first); otherwise (or with --format json) stat writes one JSON object a
line per interval, and a last one with "final": true when it exits
(--format csv: a row a group an interval, after a header). Latency in the
live lines covers the interval, in the final line the whole run; jitter is
RFC 3550's interarrival jitter of the sharecast header's send times,
reckoned per stream (as RFC 3550 does per source), over the group's streams.

Every group asked for is listed, also one that has received nothing, with
how long it has been silent; --max-silence makes stat exit with status 1
when a group stays silent longer than that. stat tracks at most
--max-streams streams a group: past it, a new stream evicts the group's
stream idle longest (never another group's), whose figures stay in the
group's; streams_evicted counts them. A JSON line lists at most 100
streams (the busiest), and says how many it left out.

Sequence numbers come from the sharecast header (sharecast send) or from
MoldUDP64 packets (the sequence number of the first message and the message
count; heartbeats carry the next number expected). Streams are told apart
by source address and port, group, and stream id or MoldUDP64 session. A
number skipped and not received since counts as lost; for MoldUDP64 the
numbers are messages, for sharecast datagrams. Latency is the kernel's
receive time minus the sender's send time, so it needs one clock: one host,
or PTP.

It exits after --count datagrams, after --duration, or on Ctrl-C or
SIGTERM, and writes a summary to standard error.`,
		Example: `  sharecast stat 239.1.2.3:5000
  sharecast stat 239.1.2.3:5000 239.1.2.4:5001 --interval 5s
  sharecast stat 233.54.12.111:26477 --seq moldudp64 -i eth1
  sharecast stat 239.1.2.3:5000 --format json --duration 1m > stat.jsonl
  sharecast stat 239.1.2.3:5000 --metrics 127.0.0.1:9100`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			specs, err := f.parseSpecs(args)
			if err != nil {
				return err
			}
			switch format {
			case "auto":
				format = "json"
				if isTerminal(e.stdout) {
					format = "table"
				}
			case "table", "json", "csv":
			default:
				return usagef("invalid argument %q for \"--format\" flag: want auto, table, json or csv", format)
			}
			switch seqMode {
			case "auto", "sharecast", "moldudp64":
			default:
				return usagef("invalid argument %q for \"--seq\" flag: want auto, sharecast or moldudp64", seqMode)
			}
			if interval <= 0 {
				return usagef("invalid argument %s for \"--interval\" flag: want a positive duration", interval)
			}
			if maxStreams < 1 || maxStreams > maxMaxStreams {
				return usagef("invalid argument %d for \"--max-streams\" flag: want 1 to %d", maxStreams, maxMaxStreams)
			}
			st, err := newStatHandler(seqMode, f.count, maxStreams, groupKeys(specs))
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := startSession(ctx, e, specs, &f, []handlerSpec{{"stat", st}}, st.collect)
			if err != nil {
				return err
			}
			st.watch = s.watch
			r := &statReporter{w: e.stdout, format: format, h: st, srv: s.srv, start: s.start}
			stop := r.every(interval)
			dst, err := s.wait(ctx, st.done, f.duration)
			stop()
			r.report(dst, true)
			s.writeSummary(e.stderr, "sharecast stat", dst)
			if n := st.unaskedCount(); n > 0 {
				fmt.Fprintf(e.stderr, "  stat did not track %d datagrams of groups not asked for\n", n)
			}
			if past := st.past.Load(); past > 0 {
				fmt.Fprintf(e.stderr, "  stat counted the first %d datagrams (--count %d); %d more that the handler received before the stop were not counted\n", st.limit, st.limit, past)
			}
			return err
		}),
	}
	f.add(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "auto", "output: table (redrawn in place), json (a line an interval), csv (a row a group an interval), or auto: table on a terminal, json otherwise")
	cmd.Flags().StringVar(&seqMode, "seq", "auto", "where sequence numbers are: auto, sharecast or moldudp64")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to report")
	cmd.Flags().IntVar(&maxStreams, "max-streams", defaultMaxStreams, fmt.Sprintf("streams tracked per group at most, 1 to %d; past it a new stream evicts the group's idle longest (counted in streams_evicted, its figures kept in the group's). A stream takes about 8.5 KiB (a window of %d numbers), so %d about 8.5 MiB a group", maxMaxStreams, seqWindow, defaultMaxStreams))
	return cmd
}

// groupKey names a group and port.
type groupKey struct {
	group netip.Addr
	port  uint16
}

func (k groupKey) String() string { return netip.AddrPortFrom(k.group, k.port).String() }

// seqKind says how a datagram carries its sequence number.
type seqKind uint8

const (
	kindNone      seqKind = iota // no sequence number found
	kindSharecast                // the sharecast test header: one number a datagram
	kindMold                     // MoldUDP64: the first message's number and a count
)

func (k seqKind) String() string {
	switch k {
	case kindSharecast:
		return "sharecast"
	case kindMold:
		return "moldudp64"
	}
	return "none"
}

// seqInfo is what a datagram says about its place in its stream.
type seqInfo struct {
	kind seqKind
	id   [10]byte // stream id (sharecast, big-endian in the first 8 bytes) or session (MoldUDP64)
	// first is the sequence number of the datagram (sharecast) or of its
	// first message (MoldUDP64); n is how many numbers it carries: 1, or
	// the message count (0 for a heartbeat or the end of a session).
	first, n uint64
	sent     time.Time // sharecast only
}

// classify reads the sequence number of a payload, as mode says: "auto"
// tries the sharecast header, then MoldUDP64.
func classify(p []byte, mode string) seqInfo {
	// wire.Is first: a decode error is an allocated value, and most
	// payloads of a MoldUDP64 feed are not sharecast's; moldudp64.TryDecode
	// builds no error, so a payload that is neither costs nothing either.
	if (mode == "auto" || mode == "sharecast") && wire.Is(p) {
		if h, err := wire.Decode(p); err == nil {
			si := seqInfo{kind: kindSharecast, first: h.Seq, n: 1, sent: h.Time()}
			for i := range 8 {
				si.id[i] = byte(h.Stream >> (56 - 8*i))
			}
			return si
		}
	}
	if mode == "auto" || mode == "moldudp64" {
		if m, ok := moldudp64.TryDecode(p); ok {
			return seqInfo{kind: kindMold, id: m.Session, first: m.Seq, n: uint64(m.Len())}
		}
	}
	return seqInfo{}
}

// stream names si's stream for the sequence tracker: its kind, then its id.
func (si *seqInfo) stream() (s dispatch.StreamID) {
	s[0] = byte(si.kind)
	copy(s[1:], si.id[:])
	return s
}

// streamName returns the kind and the printable id of a stream that
// stream named.
func streamName(s dispatch.StreamID) (kind seqKind, id string) {
	kind = seqKind(s[0])
	if kind == kindMold {
		return kind, strings.TrimRight(string(s[1:11]), " ")
	}
	return kind, hex.EncodeToString(s[1:9])
}

// seqWindow is how many numbers below the next expected one the tracker
// remembers, to tell a late datagram from a duplicate.
const seqWindow = 1 << 16

// newSeqTracker returns the tracker of the streams that classify finds,
// as mode says, at most maxStreams of them (0: defaultMaxStreams). Numbers
// are datagrams for sharecast streams and messages for MoldUDP64.
func newSeqTracker(mode string, maxStreams int, onEvict func(dispatch.FlowSequence)) (*dispatch.SequenceTracker, error) {
	if maxStreams == 0 {
		maxStreams = defaultMaxStreams
	}
	return dispatch.NewSequenceTracker(&dispatch.SequenceConfig{
		MaxFlows: maxStreams,
		OnEvict:  onEvict,
		ExtractRange: func(d *dispatch.Datagram) (first, count uint64, ok bool) {
			si := classify(d.Payload, mode)
			return si.first, si.n, si.kind != kindNone
		},
		Stream: func(d *dispatch.Datagram) dispatch.StreamID {
			si := classify(d.Payload, mode)
			return si.stream()
		},
		Window: seqWindow,
	})
}

// seqCounters are the counts of one stream, or of many added up, as stat
// prints them. Numbers are datagrams for sharecast streams and messages
// for MoldUDP64.
type seqCounters struct {
	Numbers    uint64 `json:"numbers"`    // distinct sequence numbers received
	Lost       uint64 `json:"lost"`       // numbers skipped and not received since
	Gaps       uint64 `json:"gaps"`       // jumps over one or more numbers
	Duplicates uint64 `json:"duplicates"` // datagrams whose numbers were all received before
	Reordered  uint64 `json:"reordered"`  // datagrams that brought numbers below a higher one, within the window
	Resets     uint64 `json:"resets"`     // jumps past the window, back or ahead: the sender restarted (or a forgery), not counted as lost
}

func (c *seqCounters) add(s *dispatch.SequenceStats) {
	c.Numbers += s.Numbers
	c.Lost += s.Missing
	c.Gaps += s.Gaps
	c.Duplicates += s.Duplicates
	c.Reordered += s.Late
	c.Resets += s.Resets
}

type groupStat struct {
	datagrams, bytes uint64
	unsequenced      uint64
	total, interval  *hdrhistogram.Histogram // latency in µs
	// RFC 3550 section 6.4.1 interarrival jitter, in ns: the mean
	// deviation of the transit time (receive - send) of a datagram from
	// that of the one before it of the same stream, smoothed by 1/16. As
	// RFC 3550 reckons it per source: two senders' clocks differ by any
	// offset, which a deviation between their datagrams would take in.
	jitter float64
	// seq tracks the group's streams, at most --max-streams of them.
	seq *dispatch.SequenceTracker
}

// statHandler is the handler of stat: it tracks sequence numbers per
// stream, with a dispatch.SequenceTracker per group, and
// latency per group. Its methods are safe for concurrent use.
type statHandler struct {
	mode       string
	limit      uint64
	maxStreams int
	// asked holds the groups asked for; a datagram of another is counted
	// in unasked and not tracked. Empty (--hub without a GROUP: all the
	// hub's groups), every group that arrives is tracked.
	asked map[groupKey]bool

	mu      sync.Mutex
	groups  map[groupKey]*groupStat
	unasked uint64
	// watch lists the groups asked for, and when each last had a
	// datagram (set before serving).
	watch *groupWatch
	// transit is the transit time (ns) of the last datagram of each
	// sharecast stream, for the jitter. Its streams are the trackers'
	// flows: an entry goes when its group's tracker evicts its flow
	// (retire), so that it holds no more than --max-streams a group.
	transit map[streamKey]int64

	n        atomic.Uint64
	past     atomic.Uint64 // datagrams after --count, not counted
	done     chan struct{}
	doneOnce sync.Once
}

// newStatHandler returns stat's handler, tracking at most maxStreams
// streams (0: defaultMaxStreams) in each of the groups asked (all that
// arrive if none).
func newStatHandler(mode string, limit uint64, maxStreams int, asked []groupKey) (*statHandler, error) {
	h := &statHandler{mode: mode, limit: limit, maxStreams: maxStreams, asked: map[groupKey]bool{},
		groups: map[groupKey]*groupStat{}, transit: map[streamKey]int64{}, done: make(chan struct{})}
	for _, k := range asked {
		h.asked[k] = true
	}
	// The configuration of each group's tracker, checked once: the
	// groups' trackers are made as their first datagrams arrive.
	if _, err := h.newGroupStat(); err != nil {
		return nil, err
	}
	return h, nil
}

// newGroupStat returns the state of a group before its first datagram.
func (h *statHandler) newGroupStat() (*groupStat, error) {
	seq, err := newSeqTracker(h.mode, h.maxStreams, h.retire)
	if err != nil {
		return nil, err
	}
	return &groupStat{total: newLatencyHistogram(), interval: newLatencyHistogram(), seq: seq}, nil
}

// retire forgets the last transit time of a stream that its group's
// tracker evicted (the idle longest, when a new one came past the cap;
// its figures stay in the group's). The tracker calls it from Observe,
// which ServeDatagram calls with h.mu held.
func (h *statHandler) retire(f dispatch.FlowSequence) {
	delete(h.transit, streamKey{f.Source, f.Group, f.Port, f.Stream})
}

// streamKey names a stream in statHandler.transit as the tracker names
// its flow.
type streamKey struct {
	src    netip.AddrPort
	group  netip.Addr
	port   uint16
	stream dispatch.StreamID
}

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
}

// ServeDatagram tracks d.
func (h *statHandler) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	if h.limit > 0 && h.n.Load() >= h.limit {
		h.past.Add(1)
		return
	}
	si := classify(d.Payload, h.mode)
	gk := groupKey{d.Group, d.Port}
	h.mu.Lock()
	g := h.groups[gk]
	if g == nil {
		if len(h.asked) > 0 && !h.asked[gk] {
			h.unasked++ // a group of the port that was not asked: not tracked
			h.mu.Unlock()
			return
		}
		g, _ = h.newGroupStat() // the configuration that newStatHandler checked
		h.groups[gk] = g
	}
	g.datagrams++
	g.bytes += uint64(len(d.Payload))
	if si.kind == kindNone {
		g.unsequenced++
	} else {
		g.seq.Observe(d)
		if si.kind == kindSharecast {
			us := max(d.Time.Sub(si.sent).Microseconds(), 0)
			// A latency past the histogram's hour is recorded as its top.
			_ = g.total.RecordValue(min(us, g.total.HighestTrackableValue()))
			_ = g.interval.RecordValue(min(us, g.interval.HighestTrackableValue()))
			// observe made the stream's flow (evicting another of the
			// group's, whose entry retire deleted): the entry has room.
			transit := d.Time.Sub(si.sent).Nanoseconds()
			k := streamKey{d.Source, d.Group, d.Port, si.stream()}
			if prev, ok := h.transit[k]; ok {
				g.jitter += (math.Abs(float64(transit-prev)) - g.jitter) / 16
			}
			h.transit[k] = transit
		}
	}
	h.mu.Unlock()
	if n := h.n.Add(1); h.limit > 0 && n >= h.limit {
		h.doneOnce.Do(func() { close(h.done) })
	}
}

// unaskedCount returns how many datagrams of groups not asked for the
// handler did not track.
func (h *statHandler) unaskedCount() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unasked
}

// latency is a latency summary in microseconds.
type latency struct {
	Count uint64 `json:"count"`
	P50   int64  `json:"p50"`
	P99   int64  `json:"p99"`
	Max   int64  `json:"max"`
}

func latencyOf(h *hdrhistogram.Histogram) latency {
	return latency{Count: uint64(h.TotalCount()), P50: h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99), Max: h.Max()}
}

// The JSON lines of stat.
type (
	statLine struct {
		Time     time.Time    `json:"time"`
		Elapsed  float64      `json:"elapsed_s"`
		Interval float64      `json:"interval_s"`
		Final    bool         `json:"final"`
		Groups   []groupLine  `json:"groups"`
		Sockets  []socketLine `json:"sockets"`
		Streams  []streamLine `json:"streams"`
		// StreamsOmitted counts the streams left out of Streams, past
		// maxStreamLines (the least busy).
		StreamsOmitted int `json:"streams_omitted"`
	}
	groupLine struct {
		Group       string  `json:"group"`
		Streams     int     `json:"streams"`
		Datagrams   uint64  `json:"datagrams"`
		Bytes       uint64  `json:"bytes"`
		PPS         float64 `json:"pps"`
		Mbps        float64 `json:"mbps"`
		Unsequenced uint64  `json:"unsequenced"`
		seqCounters
		Latency latency `json:"latency_us"`
		// JitterUS is RFC 3550's interarrival jitter, in µs.
		JitterUS float64 `json:"jitter_us"`
		// SilentS is how long the group has received nothing, in seconds.
		SilentS float64 `json:"silent_s"`
		// StreamsEvicted counts the group's streams that stat stopped
		// tracking to make room for new ones of the group (the idle
		// longest, past --max-streams); their figures stay in the group's.
		StreamsEvicted uint64 `json:"streams_evicted"`
	}
	socketLine struct {
		Socket      string  `json:"socket"`
		Local       string  `json:"local"`
		Datagrams   uint64  `json:"datagrams"`
		Bytes       uint64  `json:"bytes"`
		PPS         float64 `json:"pps"`
		Mbps        float64 `json:"mbps"`
		KernelDrops uint64  `json:"kernel_drops"`
		Truncated   uint64  `json:"truncated"`
		Filtered    uint64  `json:"filtered"`
	}
	streamLine struct {
		Group     string `json:"group"`
		Source    string `json:"source"`
		Kind      string `json:"kind"`
		ID        string `json:"id"`
		Datagrams uint64 `json:"datagrams"`
		Next      uint64 `json:"next"`
		seqCounters
	}
)

// snapshot returns the per-group and per-stream lines (rates not set),
// and resets the interval histograms.
func (h *statHandler) snapshot(final bool, now time.Time) ([]groupLine, []streamLine, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	gs := make([]groupLine, 0, len(h.groups))
	at := make(map[groupKey]int, len(h.groups))
	var ss []streamLine
	for gk, g := range h.groups {
		c, evicted := seqCounts(g.seq)
		flows := g.seq.Flows()
		gl := groupLine{Group: gk.String(), Streams: len(flows), Datagrams: g.datagrams, Bytes: g.bytes, Unsequenced: g.unsequenced,
			JitterUS: math.Round(g.jitter/1e3*10) / 10, seqCounters: c, StreamsEvicted: evicted}
		if final {
			gl.Latency = latencyOf(g.total)
		} else {
			gl.Latency = latencyOf(g.interval)
		}
		g.interval.Reset()
		at[gk] = len(gs)
		gs = append(gs, gl)
		for _, f := range flows {
			kind, id := streamName(f.Stream)
			sl := streamLine{Group: gl.Group, Source: f.Source.String(), Kind: kind.String(), ID: id, Datagrams: f.Datagrams, Next: f.Next}
			sl.seqCounters.add(&f.SequenceStats)
			ss = append(ss, sl)
		}
	}
	// Every group asked for has a line, also one that received nothing.
	if h.watch != nil {
		for _, gk := range h.watch.order {
			i, ok := at[gk]
			if !ok {
				i = len(gs)
				at[gk] = i
				gs = append(gs, groupLine{Group: gk.String()})
			}
			gs[i].SilentS = math.Round(h.watch.silentFor(gk, now).Seconds()*1000) / 1000
		}
	}
	slices.SortFunc(gs, func(a, b groupLine) int { return cmp.Compare(a.Group, b.Group) })
	omitted := 0
	if len(ss) > maxStreamLines {
		// The busiest streams, so that a flood of one-datagram streams
		// cannot push the real feed's out of the line.
		slices.SortFunc(ss, func(a, b streamLine) int { return cmp.Compare(b.Datagrams, a.Datagrams) })
		omitted, ss = len(ss)-maxStreamLines, ss[:maxStreamLines]
	}
	slices.SortFunc(ss, func(a, b streamLine) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Source, b.Source), cmp.Compare(a.ID, b.ID))
	})
	return gs, ss, omitted
}

// maxStreamLines caps the streams that one report lists.
const maxStreamLines = 100

var (
	mGroupLost       = prometheus.NewDesc("sharecast_group_lost_total", "Sequence numbers skipped and not received since (datagrams, or MoldUDP64 messages).", []string{"group", "port"}, nil)
	mGroupGaps       = prometheus.NewDesc("sharecast_group_gaps_total", "Jumps over one or more sequence numbers.", []string{"group", "port"}, nil)
	mGroupDuplicates = prometheus.NewDesc("sharecast_group_duplicates_total", "Datagrams whose sequence numbers were all received before.", []string{"group", "port"}, nil)
	mGroupReordered  = prometheus.NewDesc("sharecast_group_reordered_total", "Datagrams that brought sequence numbers below a higher one.", []string{"group", "port"}, nil)
	mGroupEvicted    = prometheus.NewDesc("sharecast_group_streams_evicted_total", "Streams no longer tracked to make room for new ones of the group (the idle longest, past --max-streams); their figures stay in the group's.", []string{"group", "port"}, nil)
)

// collect adds stat's sequence counters to the metrics.
func (h *statHandler) collect(ch chan<- prometheus.Metric) {
	type figures struct {
		seqCounters
		evicted uint64
	}
	h.mu.Lock()
	byGroup := make(map[groupKey]figures, len(h.groups))
	for gk, g := range h.groups {
		c, evicted := seqCounts(g.seq)
		byGroup[gk] = figures{c, evicted}
	}
	h.mu.Unlock()
	for gk, c := range byGroup {
		g, port := gk.group.String(), strconv.Itoa(int(gk.port))
		ch <- prometheus.MustNewConstMetric(mGroupLost, prometheus.CounterValue, float64(c.Lost), g, port)
		ch <- prometheus.MustNewConstMetric(mGroupGaps, prometheus.CounterValue, float64(c.Gaps), g, port)
		ch <- prometheus.MustNewConstMetric(mGroupDuplicates, prometheus.CounterValue, float64(c.Duplicates), g, port)
		ch <- prometheus.MustNewConstMetric(mGroupReordered, prometheus.CounterValue, float64(c.Reordered), g, port)
		ch <- prometheus.MustNewConstMetric(mGroupEvicted, prometheus.CounterValue, float64(c.evicted), g, port)
	}
}

// statReporter writes stat's table or JSON lines.
type statReporter struct {
	w      io.Writer
	format string
	h      *statHandler
	srv    *dispatch.Server
	start  time.Time

	mu        sync.Mutex
	last      time.Time
	lastGroup map[string][2]uint64 // datagrams, bytes
	lastSock  map[string][2]uint64 // datagrams, bytes
	csvHeader bool                 // the CSV header was written
	altScreen bool                 // the live table is on the terminal's alternate screen
}

// every reports every period until the returned function is called.
func (r *statReporter) every(period time.Duration) func() {
	return every(period, func() { r.report(r.srv.Stats(), false) })
}

// report writes one report from the server's counters st.
func (r *statReporter) report(st dispatch.Stats, final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	prev := r.last
	if prev.IsZero() {
		prev = r.start
	}
	iv := now.Sub(prev).Seconds()
	r.last = now
	if r.lastGroup == nil {
		r.lastGroup, r.lastSock = map[string][2]uint64{}, map[string][2]uint64{}
	}
	line := statLine{Time: now, Elapsed: now.Sub(r.start).Seconds(), Interval: iv, Final: final}
	line.Groups, line.Streams, line.StreamsOmitted = r.h.snapshot(final, now)
	if final {
		iv = line.Elapsed // rates over the whole run
	}
	rate := func(now, before uint64) float64 {
		if iv <= 0 {
			return 0
		}
		return float64(now-before) / iv
	}
	for i := range line.Groups {
		g := &line.Groups[i]
		before := r.lastGroup[g.Group]
		if final {
			before = [2]uint64{}
		}
		g.PPS = rate(g.Datagrams, before[0])
		g.Mbps = rate(g.Bytes, before[1]) * 8 / 1e6
		r.lastGroup[g.Group] = [2]uint64{g.Datagrams, g.Bytes}
	}
	for _, s := range st.Sockets {
		sl := socketLine{Socket: s.Name, Local: s.Local.String(), Datagrams: s.Datagrams, Bytes: s.Bytes}
		before := r.lastSock[s.Name]
		if final {
			before = [2]uint64{}
		}
		sl.PPS = rate(s.Datagrams, before[0])
		sl.Mbps = rate(s.Bytes, before[1]) * 8 / 1e6
		r.lastSock[s.Name] = [2]uint64{s.Datagrams, s.Bytes}
		if k := s.Kernel; k != nil {
			sl.KernelDrops, sl.Truncated, sl.Filtered = k.KernelDrops, k.Truncated, k.Filtered
		}
		line.Sockets = append(line.Sockets, sl)
	}
	if line.Groups == nil {
		line.Groups = []groupLine{}
	}
	if line.Streams == nil {
		line.Streams = []streamLine{}
	}
	switch r.format {
	case "json":
		b, _ := json.Marshal(line) // plain data: cannot fail
		r.w.Write(append(b, '\n')) // an error closes env.outFailed, which stops the session
	case "csv":
		r.writeCSV(line)
	default:
		r.drawTable(line)
	}
}

// csvHeader names the columns of --format csv.
var csvHeader = []string{"time", "elapsed_s", "final", "group", "streams", "datagrams", "bytes", "pps", "mbps", "unsequenced",
	"numbers", "lost", "gaps", "duplicates", "reordered", "resets", "latency_p50_us", "latency_p99_us", "latency_max_us", "jitter_us", "silent_s", "streams_evicted"}

// writeCSV writes a row per group, after the header the first time.
func (r *statReporter) writeCSV(line statLine) {
	w := csv.NewWriter(r.w)
	if !r.csvHeader {
		w.Write(csvHeader)
		r.csvHeader = true
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for _, g := range line.Groups {
		w.Write([]string{line.Time.UTC().Format(time.RFC3339Nano), f(line.Elapsed), strconv.FormatBool(line.Final), g.Group,
			strconv.Itoa(g.Streams), u(g.Datagrams), u(g.Bytes), f(g.PPS), f(g.Mbps), u(g.Unsequenced),
			u(g.Numbers), u(g.Lost), u(g.Gaps), u(g.Duplicates), u(g.Reordered), u(g.Resets),
			strconv.FormatInt(g.Latency.P50, 10), strconv.FormatInt(g.Latency.P99, 10), strconv.FormatInt(g.Latency.Max, 10), f(g.JitterUS), f(g.SilentS), u(g.StreamsEvicted)})
	}
	w.Flush() // an error closes env.outFailed, which stops the session
}

// drawTable writes the tables of one report. On a terminal the live
// tables are drawn on the alternate screen (as top and less do), from its
// top-left corner each time, fitted to the terminal's width; the final
// report gives the screen back and is printed on the ordinary one, so that
// neither a resize, a long line nor Ctrl-C leaves debris. Elsewhere each
// report is printed after the last, in full.
func (r *statReporter) drawTable(line statLine) {
	term := isTerminal(r.w)
	width := 0
	if term {
		width = termWidth(r.w)
	}
	what := fmt.Sprintf("every %.1fs", line.Interval)
	if line.Final {
		what = "final, over the run"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sharecast stat  %s  up %s  (%s)\n", line.Time.Format("15:04:05"), time.Duration(line.Elapsed*float64(time.Second)).Round(time.Second), what)
	groups := [][]string{{"group", "streams", "evicted", "pps", "Mbit/s", "received", "lost", "gaps", "dup", "reorder", "jitter", "p50", "p99", "max", "silent"}}
	for _, g := range line.Groups {
		silent := "-"
		if g.SilentS >= 1 {
			silent = (time.Duration(g.SilentS * float64(time.Second))).Round(time.Second).String()
		}
		jitter := "-"
		if g.Latency.Count > 1 {
			jitter = (time.Duration(g.JitterUS * float64(time.Microsecond))).Round(time.Microsecond).String()
		}
		groups = append(groups, []string{g.Group, strconv.Itoa(g.Streams), strconv.FormatUint(g.StreamsEvicted, 10), fmt.Sprintf("%.1f", g.PPS), fmt.Sprintf("%.2f", g.Mbps),
			strconv.FormatUint(g.Datagrams, 10), strconv.FormatUint(g.Lost, 10), strconv.FormatUint(g.Gaps, 10),
			strconv.FormatUint(g.Duplicates, 10), strconv.FormatUint(g.Reordered, 10), jitter,
			us(g.Latency.P50, g.Latency.Count), us(g.Latency.P99, g.Latency.Count), us(g.Latency.Max, g.Latency.Count), silent})
	}
	// The columns to drop first when the terminal is too narrow.
	writeFitted(&b, groups, width, []string{"evicted", "max", "streams", "reorder", "dup", "p50", "Mbit/s", "gaps", "jitter", "silent"})
	if len(line.Groups) == 0 {
		b.WriteString("(no group)\n")
	}
	b.WriteString("\n")
	socks := [][]string{{"socket", "local", "pps", "Mbit/s", "received", "kernel drops", "truncated", "filtered"}}
	for _, s := range line.Sockets {
		socks = append(socks, []string{s.Socket, s.Local, fmt.Sprintf("%.1f", s.PPS), fmt.Sprintf("%.2f", s.Mbps),
			strconv.FormatUint(s.Datagrams, 10), strconv.FormatUint(s.KernelDrops, 10), strconv.FormatUint(s.Truncated, 10), strconv.FormatUint(s.Filtered, 10)})
	}
	writeFitted(&b, socks, width, []string{"local", "filtered", "truncated", "Mbit/s"})
	out := b.String()
	switch {
	case term && !line.Final:
		if !r.altScreen {
			io.WriteString(r.w, "\x1b[?1049h\x1b[?25l") // the alternate screen, the cursor hidden
			r.altScreen = true
		}
		io.WriteString(r.w, "\x1b[H\x1b[J"+out) // top-left, clear, draw
	case term:
		if r.altScreen {
			io.WriteString(r.w, "\x1b[?25h\x1b[?1049l") // the cursor and the ordinary screen back
			r.altScreen = false
		}
		io.WriteString(r.w, out)
	default:
		io.WriteString(r.w, out+"\n")
	}
}

// writeFitted writes rows as a table of right-aligned columns (the first
// left-aligned), dropping columns in the order drop names them while a
// line is wider than width (0: no limit), and cutting lines that are still
// too wide.
func writeFitted(b *strings.Builder, rows [][]string, width int, drop []string) {
	keep := make([]bool, len(rows[0]))
	for i := range keep {
		keep[i] = true
	}
	render := func() string {
		var sb strings.Builder
		tw := newTable(&sb, tabwriter.AlignRight)
		for _, row := range rows {
			for i, c := range row {
				if keep[i] {
					tw.Write([]byte(c + "\t"))
				}
			}
			tw.Write([]byte("\n"))
		}
		tw.Flush()
		return sb.String()
	}
	out := render()
	for _, name := range drop {
		if width <= 0 || maxLineWidth(out) <= width {
			break
		}
		if i := slices.Index(rows[0], name); i >= 0 {
			keep[i] = false
			out = render()
		}
	}
	for _, l := range strings.SplitAfter(out, "\n") {
		if width > 0 && utf8.RuneCountInString(strings.TrimSuffix(l, "\n")) > width {
			l = string([]rune(l)[:width-1]) + "…\n"
		}
		b.WriteString(l)
	}
}

// maxLineWidth returns the width of the widest line of s, in runes.
func maxLineWidth(s string) int {
	w := 0
	for _, l := range strings.Split(s, "\n") {
		w = max(w, utf8.RuneCountInString(l))
	}
	return w
}

// us formats microseconds, or "-" when there were no samples.
func us(v int64, n uint64) string {
	if n == 0 {
		return "-"
	}
	return (time.Duration(v) * time.Microsecond).String()
}
