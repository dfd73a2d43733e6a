package dispatch

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sharecast/sharecast/mcast"
)

// Stats is a snapshot of a Server's counters, per socket, per group and per
// handler: what this Server read and dispatched, also from a Mux that
// other Servers serve too. Counters only grow; Queued and InFlight are the
// values of the moment. Taken while the Server runs, the counters of
// different handlers are read one after another, not at one instant. The
// fields have JSON names, for export.
type Stats struct {
	Sockets  []SocketStats  `json:"sockets"`
	Groups   []GroupStats   `json:"groups"`
	Handlers []HandlerStats `json:"handlers"`
	// Unmatched counts datagrams that no pattern matched (they went to
	// the fallback handler, if any).
	Unmatched uint64 `json:"unmatched"`
	// GroupsOverflow counts the datagrams of groups that had no row in
	// Groups because Config.MaxGroups rows existed already (they were
	// served as usual).
	GroupsOverflow uint64 `json:"groups_overflow,omitempty"`
	// Buffers is how many receive buffers exist, BuffersFree how many of
	// them no socket, queue or handler holds.
	Buffers     int `json:"buffers"`
	BuffersFree int `json:"buffers_free"`
}

// SocketStats are the counters of one Source.
type SocketStats struct {
	Name  string         `json:"name"`
	Local netip.AddrPort `json:"local"`
	// Datagrams and Bytes count what the Server read from the Source.
	Datagrams uint64 `json:"datagrams"`
	Bytes     uint64 `json:"bytes"`
	// ReadErrors counts failed reads (temporary ones, retried, and the
	// one that stopped the reader, if any).
	ReadErrors uint64 `json:"read_errors"`
	// Kernel is the Source's own counters, for a Source with a Stats
	// method (an mcast.Conn: kernel drops, truncated and filtered
	// datagrams), or nil.
	Kernel *mcast.Stats `json:"kernel,omitempty"`
}

// GroupStats are the counters of one destination group and port, over all
// sockets of that port.
type GroupStats struct {
	Group netip.Addr `json:"group"`
	// Port is the destination port (Datagram.Port), or 0 where the Source
	// does not say.
	Port      uint16 `json:"port"`
	Datagrams uint64 `json:"datagrams"`
	Bytes     uint64 `json:"bytes"`
	// Unmatched counts this group's datagrams that no pattern matched.
	Unmatched uint64 `json:"unmatched"`
}

// HandlerStats are the counters of one handler and its queue(s).
//
// Each datagram that the handler's pattern matched is in Received, and
// ends up either delivered or dropped: at any instant
// Received = Delivered + Drops.Total() + Queued + InFlight, where the last
// two are the datagrams on their way. Once the Server has stopped and the
// handler calls have returned, Received = Delivered + Drops.Total().
type HandlerStats struct {
	Name     string   `json:"name"`
	Pattern  Pattern  `json:"pattern"`
	Fallback bool     `json:"fallback,omitempty"`
	Overflow Overflow `json:"overflow"`
	// Inline says the handler is called on the readers' goroutines, with
	// no queue (HandlerConfig.Inline); Overflow, Workers and QueueLen are
	// then 0.
	Inline   bool `json:"inline,omitempty"`
	Workers  int  `json:"workers"`
	QueueLen int  `json:"queue_len"`

	Received  uint64 `json:"received"`
	Delivered uint64 `json:"delivered"`
	Drops     Drops  `json:"drops"`

	// Queued is how many datagrams wait in the queue(s) now, HighWater
	// the most that ever waited (with several workers, the sum of each
	// worker's queue's mark).
	Queued    int `json:"queued"`
	HighWater int `json:"high_water"`
	// InFlight is how many datagrams the workers have taken from the
	// queue and not yet finished with (at most 16 per worker); for an
	// inline handler, those of the batch being handed to it. After a hard
	// stop it is 0, and a call still running counts as delivered.
	InFlight int `json:"in_flight"`

	// HandlerTime is the time the workers spent handing datagrams to the
	// handler, over all workers.
	HandlerTime time.Duration `json:"handler_time_ns"`
}

// Drops counts a handler's lost datagrams by cause.
type Drops struct {
	// QueueFull counts datagrams dropped on arrival at a full queue
	// (DropNewest).
	QueueFull uint64 `json:"queue_full"`
	// Evicted counts queued datagrams dropped to make room for newer ones
	// (DropOldest).
	Evicted uint64 `json:"evicted"`
	// Panic counts datagrams whose handler call panicked.
	Panic uint64 `json:"panic"`
	// Shutdown counts datagrams dropped because the Server stopped
	// before the handler got them.
	Shutdown uint64 `json:"shutdown"`
}

// Total returns the sum of the drops.
func (d Drops) Total() uint64 { return d.QueueFull + d.Evicted + d.Panic + d.Shutdown }

// Stats returns a snapshot of the counters. It is safe to call at any time,
// also while the Server runs.
func (s *Server) Stats() Stats {
	var st Stats
	s.mu.Lock()
	readers := s.readers
	s.mu.Unlock()
	for _, r := range readers {
		ss := SocketStats{
			Name:       r.name,
			Local:      r.local,
			Datagrams:  r.datagrams.Load(),
			Bytes:      r.bytes.Load(),
			ReadErrors: r.readErrors.Load(),
		}
		if k, ok := r.src.(interface{ Stats() mcast.Stats }); ok {
			ks := k.Stats()
			ss.Kernel = &ks
		}
		st.Sockets = append(st.Sockets, ss)
	}

	s.groupsMu.Lock()
	for _, g := range s.groups {
		st.Groups = append(st.Groups, GroupStats{
			Group:     g.group,
			Port:      g.port,
			Datagrams: g.datagrams.Load(),
			Bytes:     g.bytes.Load(),
			Unmatched: g.unmatched.Load(),
		})
	}
	st.GroupsOverflow = s.overflow.datagrams.Load()
	s.groupsMu.Unlock()
	slices.SortFunc(st.Groups, func(a, b GroupStats) int { return cmp.Or(a.Group.Compare(b.Group), cmp.Compare(a.Port, b.Port)) })

	v := s.sync()
	for _, b := range v.routes {
		st.Handlers = append(st.Handlers, b.stats())
	}
	if v.fallback != nil {
		st.Handlers = append(st.Handlers, v.fallback.stats())
	}
	st.Unmatched = s.unmatched.Load()
	st.Buffers, st.BuffersFree = s.pool.stats()
	return st
}

func (b *binding) stats() HandlerStats {
	hs := HandlerStats{
		Name:     b.rt.name,
		Pattern:  b.rt.pat,
		Fallback: b.rt.fallback,
		Overflow: b.overflow,
		Workers:  len(b.workers),
		QueueLen: b.rt.cfg.QueueLen,
		Drops: Drops{
			QueueFull: b.drops[causeQueueFull].Load(),
			Evicted:   b.drops[causeEvicted].Load(),
			Panic:     b.drops[causePanic].Load(),
			Shutdown:  b.drops[causeShutdown].Load(),
		},
		HandlerTime: time.Duration(b.busyNS.Load()),
	}
	if b.inline {
		// Read in the order that the reader writes them backwards, so
		// that InFlight never dips below 0.
		served := b.served.Load()
		hs.Inline = true
		hs.Drops.Panic = b.drops[causePanic].Load()
		hs.Drops.Shutdown = b.drops[causeShutdown].Load()
		hs.Delivered = served - min(served, hs.Drops.Panic)
		hs.Received = b.received.Load()
		hs.InFlight = int(hs.Received - min(hs.Received, served+hs.Drops.Shutdown))
		return hs
	}
	var handed uint64
	for _, w := range b.workers {
		w.mu.Lock()
		h, inFlight := w.handed()
		hs.Queued += w.n
		w.mu.Unlock()
		handed += h
		hs.InFlight += inFlight
		hs.HighWater += int(w.highWater.Load())
	}
	// A call that panicked counts as handed until its worker claims the
	// next index; so that Delivered never dips below 0, panics are read
	// after the workers.
	hs.Drops.Panic = b.drops[causePanic].Load()
	hs.Delivered = handed - min(handed, hs.Drops.Panic)
	// Received last, so that a datagram counted as delivered or dropped
	// above is in it too.
	hs.Received = b.received.Load()
	return hs
}

// Handler returns the stats of the handler named name, and whether there
// is one.
func (st *Stats) Handler(name string) (HandlerStats, bool) {
	for _, h := range st.Handlers {
		if h.Name == name {
			return h, true
		}
	}
	return HandlerStats{}, false
}

// WriteText writes st as three aligned text tables (sockets, groups,
// handlers) and a line of totals, for people.
func (st *Stats) WriteText(w io.Writer) error {
	var rows [][]string
	rows = append(rows, []string{"socket", "local", "datagrams", "bytes", "read errors", "kernel drops", "truncated", "filtered"})
	for _, s := range st.Sockets {
		kd, tr, fi := "-", "-", "-"
		if s.Kernel != nil {
			kd, tr, fi = u64(s.Kernel.KernelDrops), u64(s.Kernel.Truncated), u64(s.Kernel.Filtered)
		}
		rows = append(rows, []string{s.Name, s.Local.String(), u64(s.Datagrams), u64(s.Bytes), u64(s.ReadErrors), kd, tr, fi})
	}
	if err := writeTable(w, rows); err != nil {
		return err
	}
	rows = [][]string{{"group", "port", "datagrams", "bytes", "unmatched"}}
	for _, g := range st.Groups {
		rows = append(rows, []string{g.Group.String(), strconv.Itoa(int(g.Port)), u64(g.Datagrams), u64(g.Bytes), u64(g.Unmatched)})
	}
	if err := writeTable(w, rows); err != nil {
		return err
	}
	rows = [][]string{{"handler", "overflow", "received", "delivered", "queue full", "evicted", "panic", "shutdown", "queued", "high water", "time"}}
	hs := slices.Clone(st.Handlers)
	slices.SortStableFunc(hs, func(a, b HandlerStats) int { return cmp.Compare(a.Name, b.Name) })
	for _, h := range hs {
		policy := h.Overflow.String()
		if h.Inline {
			policy = "inline"
		}
		rows = append(rows, []string{h.Name, policy, u64(h.Received), u64(h.Delivered),
			u64(h.Drops.QueueFull), u64(h.Drops.Evicted), u64(h.Drops.Panic), u64(h.Drops.Shutdown),
			strconv.Itoa(h.Queued), strconv.Itoa(h.HighWater), h.HandlerTime.Round(time.Microsecond).String()})
	}
	if err := writeTable(w, rows); err != nil {
		return err
	}
	over := ""
	if st.GroupsOverflow > 0 {
		over = fmt.Sprintf(", %d datagrams of groups past the cap", st.GroupsOverflow)
	}
	_, err := fmt.Fprintf(w, "unmatched %d%s, buffers %d (%d free)\n", st.Unmatched, over, st.Buffers, st.BuffersFree)
	return err
}

// writeTable writes rows with the first column left-aligned and the others
// right-aligned, and a blank line after.
func writeTable(w io.Writer, rows [][]string) error {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i == 0 {
				b.WriteString(c + strings.Repeat(" ", widths[0]-len(c)))
				continue
			}
			b.WriteString("  " + strings.Repeat(" ", widths[i]-len(c)) + c)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
