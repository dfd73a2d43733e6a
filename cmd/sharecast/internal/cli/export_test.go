package cli

import (
	"context"
	"io"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/procnet"
)

// Internals for the tests of package cli_test.

type (
	Membership  = membership
	HostTables  = hostTables
	PortsReport = portsReport
	ProcInfo    = procInfo
)

var (
	AddFilters       = addFilters
	BuildPortsReport = buildPortsReport
	WritePortsText   = writePortsText
	Classify         = classify
	UserName         = userName
)

// SeqWindow is how many numbers below the next expected stat remembers.
const SeqWindow = seqWindow

// NewHostTables builds the tables that readHostTables reads on Linux.
func NewHostTables(udp4, udp6 []procnet.UDPSocket, procs map[uint64][]procInfo, groups []membership) *hostTables {
	return &hostTables{udp4: udp4, udp6: udp6, procs: procs, groups: groups}
}

// SeqInfo is what Classify returns, exported.
func (si seqInfo) Kind() string            { return si.kind.String() }
func (si seqInfo) Range() (uint64, uint64) { return si.first, si.n }

// Schedule is the pacing timetable.
type Schedule = schedule

func NewSchedule(start time.Time, rate float64) Schedule { return schedule{start: start, rate: rate} }
func (s schedule) At(i uint64) time.Time                 { return s.at(i) }
func (s schedule) Due(now time.Time) uint64              { return s.due(now) }
func (s schedule) Within(d time.Duration) uint64         { return s.within(d) }

// Clock is the pacing loop's clock.
type Clock = clock

// Pace runs the pacing loop.
func Pace(ctx context.Context, c Clock, rate float64, total uint64, batch int, send func(first uint64, n int) (int, error)) (uint64, time.Time, time.Time, error) {
	return pace(ctx, c, rate, total, batch, send)
}

// NewPrinter returns listen's handler, writing to w.
func NewPrinter(w io.Writer, format, encoding string) (dispatch.Handler, func()) {
	p := newPrinter(w, format, encoding, 0, nil)
	return p, p.flush
}

// NewStatHandler returns stat's handler.
func NewStatHandler(mode string) dispatch.Handler {
	h, err := newStatHandler(mode, 0, 0, nil)
	if err != nil {
		panic(err) // a fixed configuration
	}
	return h
}

// The lines of stat.
type (
	GroupLine  = groupLine
	StreamLine = streamLine
)

// StatTransits returns how many streams a stat handler keeps the last
// transit time of, for the jitter.
func StatTransits(h dispatch.Handler) int {
	s := h.(*statHandler)
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.transit)
}

// StatSnapshot returns the final lines of a handler that NewStatHandler made.
func StatSnapshot(h dispatch.Handler) ([]GroupLine, []StreamLine) {
	gs, ss, _ := h.(*statHandler).snapshot(true, time.Now())
	return gs, ss
}

// FirewallDrops returns what doctor says of each nftables rule in js (nft
// -j list ruleset) that drops or rejects UDP to one of specs.
func FirewallDrops(js []byte, specs []group.Spec) ([]string, error) {
	ds, err := firewallDrops(js, specs)
	var out []string
	for _, d := range ds {
		out = append(out, d.status+" "+d.subject+": "+d.seen)
	}
	return out, err
}

// DefaultMaxStreams is the default of stat's --max-streams.
const DefaultMaxStreams = defaultMaxStreams
