//go:build linux

package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sharecast/sharecast/dispatch"
)

// The harness owns the part of RESULTS.md between these markers and
// leaves the rest of the file (other sections, hand-written analysis) as
// it finds it.
const (
	beginMark = "<!-- BEGIN bench harness: written by `go run ./bench`; edits between these markers are lost -->"
	endMark   = "<!-- END bench harness -->"
)

// writeResults writes the report's section into the RESULTS.md at path.
func writeResults(r *Report, path string) error {
	var sec bytes.Buffer
	sec.WriteString(beginMark + "\n")
	chart := ""
	if r.Config.Chart != "" {
		dir, err1 := filepath.Abs(filepath.Dir(path))
		abs, err2 := filepath.Abs(r.Config.Chart)
		if rel, err := filepath.Rel(dir, abs); err1 == nil && err2 == nil && err == nil {
			chart = filepath.ToSlash(rel)
		}
	}
	writeSection(&sec, r, chart)
	sec.WriteString(endMark + "\n")

	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, spliceSection(old, sec.Bytes()), 0o644)
}

// spliceSection puts sec in place of the marked section of old, or at its
// end if it has none (under a title if old is empty).
func spliceSection(old, sec []byte) []byte {
	s := string(old)
	b, e := strings.Index(s, beginMark), strings.Index(s, endMark)
	switch {
	case b >= 0 && e > b:
		return []byte(s[:b] + string(sec) + s[e+len(endMark)+1:])
	case len(strings.TrimSpace(s)) == 0:
		return append([]byte("# Benchmark results\n\n"), sec...)
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(s + "\n" + string(sec))
}

func writeSection(w io.Writer, r *Report, chart string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := r.Machine
	p("## Per-socket delivery: sharecast, mcast, the standard library and C, side by side\n\n")
	p("Measured %s on %s, %d cores, %s, %s, C compiler %s; commit %s.\n", m.Date, m.CPU, m.Cores, m.Kernel, m.Go, m.CC, m.Commit)
	p("Load average (1, 5, 15 min) %s at the start, %s at the end (the sweep's own sender and receivers count in the latter). The sweep took %v.\n\n",
		m.LoadStart, m.LoadEnd, time.Duration(r.Elapsed).Round(time.Second))
	p("Command (from the repository's root): `%s`\n\n", r.Config.Command)
	if busy(m.LoadStart) {
		p("**The machine was busy when this run started** (load average above 1.0: other work shared its two cores). " +
			"Absolute rates are low and noisy; the ratios between receivers, measured side by side in the same cells, hold better.\n\n")
	} else {
		p("The machine is shared with other work: quiet when this run started, it need not have stayed so; single runs vary by up to 2x " +
			"from one minute to the next. The ratios between receivers, measured side by side in the same cells, hold better than the absolute rates.\n\n")
	}
	p("%s\n\n", methodText(r))

	kinds := r.kinds()
	writeTargets(w, r)
	for _, size := range r.sizes(PhaseMax) {
		writeMax(w, r, size, kinds)
	}
	writeLossless(w, r, kinds)
	if chart != "" {
		p("### Chart\n\n![delivery ratio and lossless rate against N](%s)\n\n", chart)
	}
	for _, size := range r.sizes(PhaseMax) {
		writeDetail(w, r, PhaseMax, size, kinds)
	}
	for _, size := range r.sizes(PhaseRate) {
		writeDetail(w, r, PhaseRate, size, kinds)
	}
	if len(r.Skipped) > 0 || len(r.Notes) > 0 {
		p("### Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
		if len(r.Skipped) > 0 {
			p("- %d runs did not fit in the time budget (%v) and were skipped: %s.\n",
				len(r.Skipped), r.Config.Budget, strings.Join(r.Skipped, "; "))
		}
		p("\n")
	}
}

func busy(load string) bool {
	var l1 float64
	if _, err := fmt.Sscan(load, &l1); err != nil {
		return false
	}
	return l1 > 1.0
}

func methodText(r *Report) string {
	c := r.Config
	return fmt.Sprintf(`How: the harness runs in a private network namespace that it makes (only lo, up, with 224.0.0.0/4 routed through it; it refuses to send if any other interface is there). One sender (sendmmsg, %d datagrams a call, on a blocking socket from a locked thread) sends to one group and port; the receiver under test opens N sockets on that port, each joined to the group, either as N sockets in one process (proc) or as N processes of one socket (procs; N=1 runs once, as proc). Each datagram carries the sharecast test header (internal/wire: stream, sequence, send time). The receivers, run one after another within each cell, in an order rotated from cell to cell:

- **sharecast**: mcast.Conn batch reads (recvmmsg, 64 a call) through a dispatch.Server per socket, with one inline handler (HandlerConfig.Inline: called on the reader's goroutine, no queue, so that a slow handler holds up the socket and every loss shows as a kernel drop)%s;
- **mcast**: mcast.Conn.ReadBatch in a plain loop, no dispatcher;
- **stdlib**: net.ListenMulticastUDP and ReadFromUDP, one datagram a call;
- **c**: bench/cref/recv.c, built with the C compiler at run time: recvmmsg (64 a call); %s; it marks the kernel's limit%s.

Every receiver does the same work per datagram (decodes the header, checks the stream, counts, reads the clock and records the latency in a histogram: hdrhistogram-go, or a log-linear one in C), and every socket has a %d MiB receive buffer (SO_RCVBUFFORCE). After the sender stops, the harness waits for the receive queues to drain (/proc/net/udp), then stops the receivers, which report per socket: received, kernel drops (SO_MEMINFO), truncated, latency p50/p99 (from the sender's time stamp to the receiver's clock), and per process the CPU time (getrusage) and heap allocations (Go) from "ready" to the end. Delivery ratio = received / sent; copies/s = datagrams received over all sockets / send time; CPU s/M = receivers' CPU seconds per million datagrams received.

Phases: **rate**: sender at %s datagrams/s (paced per millisecond or so: Go's timers sleep about 1 ms here) for %v; **max**: sender flat out for %v, %d repetitions (64-byte datagrams; %d for larger ones): on loopback the sender's own system call pays the kernel's delivery to every socket, so the sender's rate is the host's limit and the question is which receivers keep up; **lossless**: per receiver and N, the highest sender rate at which every socket gets 100%% of a %v run, by a bounded search (at most %d probes: flat out first, then from the slowest socket's drain rate, bisecting). Figures are medians over repetitions; ratios between receivers are taken within each repetition (runs side by side) and then the median.`,
		sendBatch, queuedText(r), cThreadsText(c.CThreads), cMetaText(r), ReadBuffer>>20, fmtRate(float64(c.Rate)), c.RateDuration, c.Duration, c.Repeats, c.RepeatsLarge,
		c.LosslessDuration, c.LosslessProbes)
}

func queuedText(r *Report) string {
	if !slices.Contains(r.kinds(), KindSharecastQueued) {
		return ""
	}
	q := r.Config.QueueLen
	if q == 0 {
		q = dispatch.DefaultQueueLen
	}
	return fmt.Sprintf("; **sharecast-queued** is the same with the handler behind a queue of %d and a worker goroutine (overflow Block), the isolation that several handlers of different speeds need", q)
}

func cMetaText(r *Report) string {
	if !slices.Contains(r.kinds(), KindCMeta) {
		return ""
	}
	return "; **c-meta** is the same program asking for, and reading, the control messages that mcast reads on every datagram (IP_PKTINFO with the destination checked against the group, SO_TIMESTAMPNS, SO_RXQ_OVFL)"
}

func cThreadsText(k int) string {
	if k == 0 {
		return "a thread per socket, blocking in recvmmsg (MSG_WAITFORONE)"
	}
	return fmt.Sprintf("per process, %d thread(s) (at most one per socket), each waiting on its share of the sockets with epoll and reading each ready socket until it is empty (with a thread per socket blocking in recvmmsg, the sender pays a wake-up per socket and its rate falls several times at N=16)", k)
}

// target is one line of the summary against the targets.
type target struct {
	what, figure string
	met          string // "yes", "no", "n/a"
}

func writeTargets(w io.Writer, r *Report) {
	ts := targets(r)
	if len(ts) == 0 {
		return
	}
	fmt.Fprintf(w, "### Summary against the targets\n\n")
	fmt.Fprintf(w, "From the max-rate phase, 64-byte datagrams, N = 1 to 16, both modes; ratios within each repetition, then the median per cell.\n\n")
	fmt.Fprintf(w, "| target | measured | met |\n|---|---|---|\n")
	for _, t := range ts {
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.what, t.figure, t.met)
	}
	fmt.Fprintln(w)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func targets(r *Report) []target {
	var keys []cellKey
	for _, k := range r.keys(PhaseMax, 64) {
		if k.n <= 16 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	var ts []target
	has := func(k Kind) bool { return slices.Contains(r.kinds(), k) }
	if has(KindSharecast) && has(KindC) {
		// 100% wherever C gets 100%.
		var cCells, both int
		var misses []string
		for _, k := range keys {
			if ok, _ := r.allLossless(k, KindC); !ok {
				continue
			}
			cCells++
			if ok, _ := r.allLossless(k, KindSharecast); ok {
				both++
			} else {
				runs := r.find(k, KindSharecast)
				lossless := 0
				var lossy []*RunResult
				for _, x := range runs {
					if x.Lossless() {
						lossless++
					} else {
						lossy = append(lossy, x)
					}
				}
				// Flat out, the sender goes as fast as the receiver
				// leaves it CPU for: say how hard each was pushed.
				rate := func(x *RunResult) float64 { return x.SendRate }
				misses = append(misses, fmt.Sprintf("%s N=%d (lossless in %d of %d repetitions, lowest socket's ratio %.4f; the sender ran at %s/s in the lossy ones, at %s/s against C)",
					k.mode, k.n, lossless, len(runs), med(runs, (*RunResult).MinRatio),
					fmtRate(med(lossy, rate)), fmtRate(med(r.find(k, KindC), rate))))
			}
		}
		fig := fmt.Sprintf("lossless in %d of the %d cells where C was lossless in every repetition", both, cCells)
		if len(misses) > 0 {
			fig += "; short: " + strings.Join(misses, ", ")
		}
		ts = append(ts, target{"sharecast gets 100% on every socket wherever C does (N = 1-16, proc and procs)", fig, yesNo(both == cCells && cCells > 0)})

		// copies/s vs C.
		lo, loAt, ok := worstRatio(r, keys, KindSharecast, KindC, (*RunResult).CopiesPerSec, func(v float64) bool { return v >= 0.9 }, false)
		ts = append(ts, target{"sharecast delivered copies/s >= 0.9x C", fmt.Sprintf("lowest %.2fx (%s); met in %s", lo, loAt, ok), yesNo(strings.HasPrefix(ok, "all"))})

		// CPU vs C.
		cpu := func(x *RunResult) float64 { return x.CPUPerMillion() }
		hi, hiAt, ok2 := worstRatio(r, keys, KindSharecast, KindC, cpu, func(v float64) bool { return v <= 1.5 }, true)
		ts = append(ts, target{"sharecast receiver CPU per million datagrams <= 1.5x C", fmt.Sprintf("highest %.2fx (%s); met in %s", hi, hiAt, ok2), yesNo(strings.HasPrefix(ok2, "all"))})
	}
	if has(KindSharecast) && has(KindStdlib) {
		lo, loAt, ok := worstRatio(r, keys, KindSharecast, KindStdlib, (*RunResult).CopiesPerSec, func(v float64) bool { return v >= 3 }, false)
		fig := fmt.Sprintf("lowest %.2fx (%s); met in %s", lo, loAt, ok)
		if has(KindC) {
			// The ceiling: what the kernel's limit makes of the same ratio.
			var best float64
			var bestAt string
			for _, k := range keys {
				if v, n := r.pairRatio(k, KindC, KindStdlib, (*RunResult).CopiesPerSec); n > 0 && v > best {
					best, bestAt = v, fmt.Sprintf("%s N=%d", k.mode, k.n)
				}
			}
			fig += fmt.Sprintf("; for scale, the C reference's own copies/s over stdlib's is at most %.2fx (%s)", best, bestAt)
		}
		ts = append(ts, target{"sharecast delivered copies/s >= 3x the stdlib receiver", fig, yesNo(strings.HasPrefix(ok, "all"))})
	}
	if has(KindSharecast) {
		worst, n := 0.0, 0
		for i := range r.Runs {
			x := &r.Runs[i]
			if a, ok := x.SteadyAllocs(steadyMin); ok && x.Kind == KindSharecast && x.Err == "" {
				worst, n = max(worst, a), n+1
			}
		}
		ts = append(ts, target{"0 allocations per datagram on the read + dispatch path",
			fmt.Sprintf("at most %.4f heap allocations per datagram in any sharecast receiver process of %s datagrams or more (%d runs, all phases; counted from ready to exit, so one-time pool growth is in it)", worst, fmtCount(steadyMin), n),
			yesNo(n > 0 && worst < 0.01)})
	}
	return ts
}

// worstRatio returns the worst median ratio of a over b across keys (the
// lowest, or the highest if higherIsWorse), where it was, and how many
// cells pass.
func worstRatio(r *Report, keys []cellKey, a, b Kind, f func(*RunResult) float64, pass func(float64) bool, higherIsWorse bool) (float64, string, string) {
	worst, at, n, good := math.NaN(), "", 0, 0
	for _, k := range keys {
		v, cnt := r.pairRatio(k, a, b, f)
		if cnt == 0 || math.IsNaN(v) {
			continue
		}
		n++
		if pass(v) {
			good++
		}
		if math.IsNaN(worst) || (v > worst) == higherIsWorse && v != worst {
			worst, at = v, fmt.Sprintf("%s N=%d", k.mode, k.n)
		}
	}
	return worst, at, passCount(good, n)
}

func passCount(good, n int) string {
	if good == n {
		return fmt.Sprintf("all %d cells", n)
	}
	return fmt.Sprintf("%d of %d cells", good, n)
}

// writeMax writes the side-by-side table of the max-rate phase.
func writeMax(w io.Writer, r *Report, size int, kinds []Kind) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("### Max-rate mode, %d-byte datagrams\n\n", size)
	p("Sender flat out. Each receiver cell: lowest delivery ratio of any socket · delivered copies/s over all sockets (medians over repetitions); the sender's rate is in brackets, since it depends on how each receiver loads the host. The last columns are sharecast's copies/s over the others', per repetition side by side, median.\n\n")
	p("| mode | N |")
	for _, k := range kinds {
		p(" %s |", k)
	}
	var others []Kind
	if slices.Contains(kinds, KindSharecast) {
		for _, k := range []Kind{KindC, KindStdlib, KindMcast} {
			if slices.Contains(kinds, k) {
				others = append(others, k)
				p(" sharecast ÷ %s |", k)
			}
		}
	}
	p("\n|---|---|")
	for range len(kinds) + len(others) {
		p("---|")
	}
	p("\n")
	for _, key := range r.keys(PhaseMax, size) {
		p("| %s | %d |", key.mode, key.n)
		for _, k := range kinds {
			runs := r.find(key, k)
			if len(runs) == 0 || math.IsNaN(med(runs, (*RunResult).MinRatio)) {
				p(" failed |")
				continue
			}
			p(" %s · %s (%s/s) |", fmtRatio(med(runs, (*RunResult).MinRatio)), fmtRate(med(runs, (*RunResult).CopiesPerSec)),
				fmtRate(med(runs, func(x *RunResult) float64 { return x.SendRate })))
		}
		for _, o := range others {
			v, n := r.pairRatio(key, KindSharecast, o, (*RunResult).CopiesPerSec)
			if n == 0 {
				p(" - |")
			} else {
				p(" %.2fx |", v)
			}
		}
		p("\n")
	}
	p("\n")
}

func fmtRatio(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 1:
		return "**1.000**"
	case v > 0.9995: // not all, but rounds to 1.000
		return "0.9995+"
	}
	return fmt.Sprintf("%.3f", v)
}

// writeLossless writes the lossless-rate table.
func writeLossless(w io.Writer, r *Report, kinds []Kind) {
	if len(r.Lossless) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	type mk struct {
		mode Mode
		size int
	}
	var cells []mk
	for _, l := range r.Lossless {
		if c := (mk{l.Mode, l.Size}); !slices.Contains(cells, c) {
			cells = append(cells, c)
		}
	}
	for _, c := range cells {
		p("### Lossless rate, %d-byte datagrams, %s\n\n", c.size, c.mode)
		p("The highest sender rate (datagrams/s per socket) at which every socket got 100%% of a %v run, and in brackets the delivered copies/s it makes over N sockets. \"flat out\": the sender's maximum itself was lossless (the host's delivery is the limit, not the receiver). \"< x\": no probe was lossless, x the lowest rate tried. A second figure after \"/\" is the lowest rate found lossy.\n\n", r.Config.LosslessDuration)
		p("| N |")
		for _, k := range kinds {
			p(" %s |", k)
		}
		if slices.Contains(kinds, KindSharecast) && slices.Contains(kinds, KindC) {
			p(" sharecast ÷ c |")
		}
		p("\n|---|")
		for range kinds {
			p("---|")
		}
		if slices.Contains(kinds, KindSharecast) && slices.Contains(kinds, KindC) {
			p("---|")
		}
		p("\n")
		var ns []int
		for _, l := range r.Lossless {
			if l.Mode == c.mode && l.Size == c.size && !slices.Contains(ns, l.N) {
				ns = append(ns, l.N)
			}
		}
		for _, n := range ns {
			p("| %d |", n)
			for _, k := range kinds {
				l := r.lossless(k, c.mode, n, c.size)
				p(" %s |", fmtLossless(l))
			}
			if slices.Contains(kinds, KindSharecast) && slices.Contains(kinds, KindC) {
				a, b := r.lossless(KindSharecast, c.mode, n, c.size), r.lossless(KindC, c.mode, n, c.size)
				if a != nil && b != nil && a.Rate > 0 && b.Rate > 0 {
					p(" %.2fx |", a.Rate/b.Rate)
				} else {
					p(" - |")
				}
			}
			p("\n")
		}
		p("\n")
	}
}

func fmtLossless(l *Lossless) string {
	switch {
	case l == nil:
		return "-"
	case len(l.Probes) > 0 && l.Probes[len(l.Probes)-1].Err != "":
		return "failed"
	case l.SenderBound:
		return fmt.Sprintf("%s flat out (%s copies/s)", fmtRate(l.Rate), fmtRate(l.Copies()))
	case l.Rate == 0 && l.Above > 0:
		return fmt.Sprintf("< %s", fmtRate(l.Above))
	case l.Rate == 0:
		return "-"
	}
	s := fmt.Sprintf("%s (%s copies/s)", fmtRate(l.Rate), fmtRate(l.Copies()))
	if l.Above > 0 {
		s += " / " + fmtRate(l.Above)
	}
	if l.Incomplete {
		s += " (cut by the budget)"
	}
	return s
}

// writeDetail writes the per-socket figures of a phase and size: one row
// per mode, N and receiver, medians over repetitions.
func writeDetail(w io.Writer, r *Report, phase Phase, size int, kinds []Kind) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	what := "sender flat out"
	if phase == PhaseRate {
		what = fmt.Sprintf("sender at %s datagrams/s", fmtRate(float64(r.Config.Rate)))
	}
	p("<details><summary>Per-socket figures: %s phase, %d-byte datagrams (%s)</summary>\n\n", phase, size, what)
	p("Per socket: datagrams received (mean), delivery ratio (lowest socket · mean), kernel drops (all sockets), truncated, pps (mean per socket), receivers' CPU seconds per million datagrams, heap allocations per datagram (Go), latency p50 (median of the sockets') and p99 (highest socket's). Medians over repetitions.\n\n")
	p("| mode | N | receiver | sent | received/socket | ratio min · mean | drops | truncated | pps/socket | CPU s/M | allocs/dgram | p50 | p99 |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, key := range r.keys(phase, size) {
		for _, k := range kinds {
			runs := r.find(key, k)
			if len(runs) == 0 {
				continue
			}
			if math.IsNaN(med(runs, (*RunResult).MinRatio)) {
				p("| %s | %d | %s | failed: %s |||||||||\n", key.mode, key.n, k, runs[0].Err)
				continue
			}
			allocs := "-"
			if a := med(runs, (*RunResult).AllocsPerDatagram); a >= 0 {
				allocs = fmt.Sprintf("%.4f", a)
			}
			p("| %s | %d | %s | %s | %s | %s · %s | %.0f | %.0f | %s | %.3f | %s | %s | %s |\n",
				key.mode, key.n, k,
				fmtCount(med(runs, func(x *RunResult) float64 { return float64(x.Sent) })),
				fmtCount(med(runs, func(x *RunResult) float64 { return float64(x.Received()) / float64(x.N) })),
				fmtRatio(med(runs, (*RunResult).MinRatio)), fmtRatio(med(runs, (*RunResult).MeanRatio)),
				med(runs, func(x *RunResult) float64 { return float64(x.Drops()) }),
				med(runs, func(x *RunResult) float64 {
					var t uint64
					for _, s := range x.Sockets {
						t += s.Truncated
					}
					return float64(t)
				}),
				fmtRate(med(runs, func(x *RunResult) float64 { return x.CopiesPerSec() / float64(x.N) })),
				med(runs, (*RunResult).CPUPerMillion), allocs,
				fmtNs(int64(med(runs, func(x *RunResult) float64 { return float64(x.P50()) }))),
				fmtNs(int64(med(runs, func(x *RunResult) float64 { return float64(x.P99()) }))))
		}
	}
	p("\n</details>\n\n")
}
