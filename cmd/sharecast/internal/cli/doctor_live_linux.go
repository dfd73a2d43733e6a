package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/procnet"
)

// maxLiveSources caps the sources that --listen remembers per group; past
// it, further ones are counted.
const maxLiveSources = 16

// liveGroup is what arrived for one group and port while doctor listened.
type liveGroup struct {
	datagrams, bytes uint64
	sources          []netip.Addr
	moreSources      uint64 // sources past maxLiveSources
	ttlMin, ttlMax   int
	// seq tracks the group's sequenced streams, at most defaultMaxStreams
	// of them: a flood of new streams on one group evicts only its own.
	seq *dispatch.SequenceTracker
}

// udpCounters are the UDP counters of /proc/net/snmp that say the kernel
// dropped datagrams.
var udpCounters = []string{"RcvbufErrors", "InErrors", "NoPorts"}

// checkLive joins the groups for opt.listen through dispatch.Listen, as
// listen does, and reports what arrived: datagrams, sources and TTLs per
// group, the socket's kernel drops, and UDP's error counters over the
// same time.
func checkLive(cmd *cobra.Command, e *env, r *DoctorReport, opt doctorOptions) error {
	var specs []string
	var asked []group.Spec // opt.specs with -i where they name no interface
	live := map[netip.AddrPort]*liveGroup{}
	for _, sp := range opt.specs {
		if sp.Interface == "" {
			sp.Interface = opt.iface
		}
		asked = append(asked, sp)
		specs = append(specs, sp.String())
		if live[sp.AddrPort()] != nil {
			continue
		}
		// Sequence numbers where the payload carries a header that stat
		// knows (sharecast's, MoldUDP64), tracked as stat tracks them: a
		// stream evicted under a flood of new ones of its group (past
		// the cap) leaves its figures in its group's.
		seq, err := newSeqTracker("auto", defaultMaxStreams, nil)
		if err != nil {
			return err
		}
		live[sp.AddrPort()] = &liveGroup{seq: seq}
	}
	if len(specs) == 0 {
		r.add("live", statusWarning, "host", "--listen needs a GROUP with its port", "sharecast doctor GROUP:PORT --listen 10s")
		return nil
	}
	var mu sync.Mutex
	h := dispatch.HandlerFunc(func(_ context.Context, d *dispatch.Datagram) {
		mu.Lock()
		defer mu.Unlock()
		g := live[netip.AddrPortFrom(d.Group, d.Port)]
		if g == nil {
			return // a group of the port that was not asked
		}
		g.seq.Observe(d)
		if g.datagrams == 0 || d.TTL < g.ttlMin {
			g.ttlMin = d.TTL
		}
		g.ttlMax = max(g.ttlMax, d.TTL)
		g.datagrams++
		g.bytes += uint64(len(d.Payload))
		src := d.Source.Addr()
		switch {
		case slices.Contains(g.sources, src):
		case len(g.sources) < maxLiveSources:
			g.sources = append(g.sources, src)
		default:
			g.moreSources++
		}
	})
	var ports []uint16
	for _, sp := range opt.specs {
		if !slices.Contains(ports, sp.Port) {
			ports = append(ports, sp.Port)
		}
	}
	socksBefore := portSockets(ports)
	before := readUDPCounters()
	rpBefore, _ := netstatCounter("TcpExt", "IPReversePathFilter")
	ctx, cancel := context.WithTimeout(cmd.Context(), opt.listen)
	defer cancel()
	rc, err := dispatch.Listen(ctx, specs, h, &dispatch.ListenConfig{ReadBuffer: opt.rcvbuf, Logger: e.log})
	if err != nil {
		fix := "see the problems above"
		if errors.Is(err, group.ErrMembershipLimit) {
			fix = "sysctl -w net.ipv4.igmp_max_memberships=N (N at least the groups asked)"
		}
		r.add("live", statusProblem, "host", "could not listen: "+oneLine(err), fix)
		return nil
	}
	var granted []string
	for _, so := range rc.Sockets() {
		granted = append(granted, fmt.Sprintf("%s %d bytes", so.Name, so.Conn.ReadBufferGranted()))
	}
	// The queriers heard meanwhile, on a raw socket of each family asked.
	var queriers []*querierListener
	for _, v6 := range []bool{false, true} {
		if slices.ContainsFunc(opt.specs, func(sp group.Spec) bool { return sp.Group.Is6() == v6 }) {
			queriers = append(queriers, listenQueriers(ctx, v6))
		}
	}
	start := time.Now()
	serr := rc.Serve(ctx)
	took := time.Since(start)
	cancel() // ends the querier listeners too, whatever ended Serve
	st := rc.Stats()
	if cerr := rc.Close(); serr == nil {
		serr = cerr
	}
	if cmd.Context().Err() != nil {
		return cmd.Context().Err()
	}
	if serr != nil && !errors.Is(serr, context.DeadlineExceeded) {
		return serr
	}
	for _, q := range queriers {
		q.report(r, asked, took)
	}
	after := readUDPCounters()
	for inode, s := range portSockets(ports) {
		b, ok := socksBefore[inode]
		if !ok || s.Drops <= b.Drops {
			continue // doctor's own socket is closed by now
		}
		who, fix := staleSocket(s)
		r.add("port", statusProblem, "port "+fmt.Sprint(s.Local.Port()),
			fmt.Sprintf("%s dropped %d datagrams while doctor listened (receive queue %d bytes)", who, s.Drops-b.Drops, s.RxQueue), fix)
	}
	rpAfter, _ := netstatCounter("TcpExt", "IPReversePathFilter")
	mu.Lock()
	defer mu.Unlock()
	for _, sp := range opt.specs {
		g := live[sp.AddrPort()]
		subj := subject(sp)
		if g.datagrams == 0 {
			r.add("live", statusProblem, subj, fmt.Sprintf("no datagram arrived in %v of listening", took.Round(time.Millisecond)),
				"check that the sender sends to this group and port (sharecast send "+sp.AddrPort().String()+" on its host), and the problems above")
			continue
		}
		srcs := make([]string, len(g.sources))
		for i, s := range g.sources {
			srcs[i] = s.String()
		}
		if g.moreSources > 0 {
			srcs = append(srcs, fmt.Sprintf("and %d more", g.moreSources))
		}
		seen := fmt.Sprintf("%s, %s in %v (%.0f/s) from %s (%s), TTL %d to %d",
			plural(g.datagrams, "datagram"), plural(g.bytes, "byte"), took.Round(time.Millisecond),
			float64(g.datagrams)/took.Seconds(), plural(uint64(len(g.sources))+g.moreSources, "source"), strings.Join(srcs, ", "), g.ttlMin, g.ttlMax)
		c, evicted := seqCounts(g.seq)
		streams := len(g.seq.Flows())
		if streams == 0 && evicted == 0 {
			r.add("live", statusOK, subj, seen+"; no known header (sharecast, MoldUDP64) to count sequence gaps by", "")
			continue
		}
		seen += fmt.Sprintf("; %s: sequence gaps %d, lost %d, reordered %d, duplicates %d, resets %d",
			plural(uint64(streams), "sequenced stream"), c.Gaps, c.Lost, c.Reordered, c.Duplicates, c.Resets)
		if evicted > 0 {
			seen += fmt.Sprintf("; %s evicted past %d streams of the group (the idle longest, their figures kept)", plural(evicted, "stream"), defaultMaxStreams)
		}
		if c.Lost > 0 {
			r.add("live", statusProblem, subj,
				seen+": datagrams were lost before this socket (on the network, at the sender, or in this host's kernel: see the counters below)",
				"look for the loss on the path: sharecast stat on the sender's segment, the switch's port counters, and a larger --rcvbuf if RcvbufErrors rose")
			continue
		}
		r.add("live", statusOK, subj, seen, "")
	}
	var drops uint64
	for _, s := range st.Sockets {
		if s.Kernel != nil {
			drops += s.Kernel.KernelDrops
		}
	}
	seen := fmt.Sprintf("receive buffer granted: %s; the socket's kernel drops: %d", strings.Join(granted, ", "), drops)
	if drops > 0 {
		r.add("live", statusProblem, "host", seen+": its receive buffer overflowed",
			"a larger --rcvbuf for the receivers, and net.core.rmem_max at least that")
	} else {
		r.add("live", statusOK, "host", seen, "")
	}
	var rose []string
	var deltas []string
	for i, name := range udpCounters {
		d := after[i] - before[i]
		deltas = append(deltas, fmt.Sprintf("%s +%d", name, d))
		if d > 0 && name != "NoPorts" {
			rose = append(rose, name)
		}
	}
	seen = "UDP counters of this namespace over the time (/proc/net/snmp): " + strings.Join(deltas, ", ")
	if rp := rpAfter - rpBefore; rp > 0 {
		r.add("live", statusProblem, "host", fmt.Sprintf("IPReversePathFilter +%d over the time (/proc/net/netstat): the reverse-path filter dropped datagrams", rp),
			"net.ipv4.conf.all.rp_filter=2 and net.ipv4.conf.IFACE.rp_filter=2 (loose), or a route back to the source through the interface it arrives on")
	}
	if len(rose) > 0 {
		r.add("live", statusWarning, "host", seen+": the kernel dropped UDP datagrams on this host (this socket's or others')",
			"sharecast ports (which socket drops), and a larger receive buffer where one does")
	} else {
		r.add("live", statusOK, "host", seen, "")
	}
	return nil
}

// portSockets returns the sockets bound to ports, by inode (none where
// /proc cannot be read).
func portSockets(ports []uint16) map[uint64]portSocket {
	out := map[uint64]portSocket{}
	t, err := readHostTables(ports)
	if err != nil {
		return out
	}
	for _, p := range buildPortsReport(t, ports, os.Geteuid()).Ports {
		for _, s := range p.Sockets {
			out[s.Inode] = s
		}
	}
	return out
}

// readUDPCounters reads udpCounters from /proc/net/snmp (zero where absent).
func readUDPCounters() []uint64 {
	out := make([]uint64, len(udpCounters))
	cs, err := procnet.ReadSNMP()
	if err != nil {
		return out
	}
	for i, name := range udpCounters {
		v, _ := procnet.Lookup(cs, "Udp", name)
		out[i] = uint64(v)
	}
	return out
}
