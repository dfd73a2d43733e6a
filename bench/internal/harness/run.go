//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// RunResult is one run: one receiver kind with N sockets, one sender at a
// rate (or flat out) for a while.
type RunResult struct {
	Phase Phase `json:"phase"`
	Kind  Kind  `json:"kind"`
	Mode  Mode  `json:"mode"`
	N     int   `json:"n"`
	Size  int   `json:"size"`
	Rep   int   `json:"rep"`   // repetition (max phase) or probe (lossless search), from 0
	Cell  int   `json:"cell"`  // runs with the same Cell ran side by side, one after another
	Order int   `json:"order"` // position within its cell

	TargetRate  float64 `json:"target_rate"` // datagrams/s asked of the sender; 0: flat out
	Sent        uint64  `json:"sent"`
	SendSeconds float64 `json:"send_s"`
	SendRate    float64 `json:"send_rate"`

	Sockets []SocketReport `json:"sockets"`
	Procs   int            `json:"procs"`
	CPUNs   int64          `json:"cpu_ns"` // over the receiver processes
	Allocs  int64          `json:"allocs"` // over the receiver processes; -1: not measured
	// PerProc is, per receiver process, its datagrams and allocations, so
	// that allocations per datagram can be judged where a process
	// received enough for its one-time allocations (buffer pools growing
	// to their working size) not to count.
	PerProc []ProcCount `json:"per_proc,omitempty"`

	// From /proc/net/udp, after the queues drained: the sockets bound to
	// the run's port before sending, and their drops, summed.
	BoundSockets int `json:"bound_sockets"`
	// Hub is the hub's own socket, in a KindHub run (Sockets are then its
	// consumers): what it wrote into its ring and what the kernel dropped.
	Hub       *SocketReport `json:"hub,omitempty"`
	ProcDrops uint64        `json:"proc_drops"`
	Drained   bool          `json:"drained"`

	Start time.Time `json:"start"`
	Err   string    `json:"err,omitempty"`
}

// Received returns the datagrams received over all sockets.
func (r *RunResult) Received() uint64 {
	var n uint64
	for _, s := range r.Sockets {
		n += s.Received
	}
	return n
}

// MinRatio returns the lowest delivery ratio (received / sent) of any
// socket, 0 for a failed run.
func (r *RunResult) MinRatio() float64 {
	if r.Err != "" || r.Sent == 0 || len(r.Sockets) != r.N {
		return 0
	}
	m := 1.0
	for _, s := range r.Sockets {
		m = min(m, float64(s.Received)/float64(r.Sent))
	}
	return m
}

// MeanRatio returns the mean delivery ratio over the sockets.
func (r *RunResult) MeanRatio() float64 {
	if r.Err != "" || r.Sent == 0 || len(r.Sockets) != r.N {
		return 0
	}
	return float64(r.Received()) / float64(r.Sent) / float64(r.N)
}

// Lossless reports whether every socket received every datagram.
func (r *RunResult) Lossless() bool {
	if r.Err != "" || r.Sent == 0 || len(r.Sockets) != r.N {
		return false
	}
	for _, s := range r.Sockets {
		if s.Received != r.Sent {
			return false
		}
	}
	return true
}

// CopiesPerSec returns the datagrams delivered per second over all
// sockets (received / send time).
func (r *RunResult) CopiesPerSec() float64 {
	if r.SendSeconds <= 0 {
		return 0
	}
	return float64(r.Received()) / r.SendSeconds
}

// CPUPerMillion returns the receivers' CPU seconds per million datagrams
// received.
func (r *RunResult) CPUPerMillion() float64 {
	n := r.Received()
	if n == 0 {
		return 0
	}
	return float64(r.CPUNs) / 1e9 / (float64(n) / 1e6)
}

// AllocsPerDatagram returns the heap allocations per datagram received, or
// -1 where not measured.
func (r *RunResult) AllocsPerDatagram() float64 {
	n := r.Received()
	if r.Allocs < 0 || n == 0 {
		return -1
	}
	return float64(r.Allocs) / float64(n)
}

// P50 returns the median over the sockets of their latency medians, P99
// the highest of their 99th percentiles (ns).
func (r *RunResult) P50() int64 {
	var ps []int64
	for _, s := range r.Sockets {
		ps = append(ps, s.P50)
	}
	return medianInt(ps)
}

// P99 returns the highest 99th latency percentile of any socket (ns).
func (r *RunResult) P99() int64 {
	var m int64
	for _, s := range r.Sockets {
		m = max(m, s.P99)
	}
	return m
}

// Unaccounted returns, summed over the sockets, the datagrams sent that a
// socket neither received nor counted as dropped or truncated: 0 when the
// counts add up.
func (r *RunResult) Unaccounted() int64 {
	var u, lost int64
	if r.Hub != nil {
		lost = int64(r.Hub.Drops + r.Hub.Truncated) // the hub never had them
	}
	for _, s := range r.Sockets {
		u += int64(r.Sent) - lost - int64(s.Received+s.Drops+s.QDrops+s.Truncated)
	}
	return u
}

// Drops returns the kernel's and the queues' drops over all sockets (in a
// hub run, the hub's kernel drops, once for each consumer that lost them,
// and the consumers' overruns).
func (r *RunResult) Drops() uint64 {
	var d uint64
	for _, s := range r.Sockets {
		d += s.Drops + s.QDrops
		if r.Hub != nil {
			d += r.Hub.Drops
		}
	}
	return d
}

// ProcCount is one receiver process's datagrams and heap allocations.
type ProcCount struct {
	Received uint64 `json:"received"`
	Allocs   int64  `json:"allocs"`
}

// SteadyAllocs returns the highest allocations per datagram of any
// receiver process of the run that received at least min datagrams, and
// whether there was one (Go receivers only).
func (r *RunResult) SteadyAllocs(min uint64) (float64, bool) {
	worst, ok := 0.0, false
	for _, p := range r.PerProc {
		if p.Allocs >= 0 && p.Received >= min {
			worst, ok = max(worst, float64(p.Allocs)/float64(p.Received)), true
		}
	}
	return worst, ok
}

// runSpec is what to run.
type runSpec struct {
	phase       Phase
	kind        Kind
	mode        Mode
	n, size     int
	rep         int
	cell, order int
	rate        float64 // 0: flat out
	dur         time.Duration
}

func (s runSpec) String() string {
	rate := "max"
	if s.rate > 0 {
		rate = fmtRate(s.rate) + "/s"
	}
	return fmt.Sprintf("%-8s %4dB %-5s N=%-2d %-9s #%d %s", s.phase, s.size, s.mode, s.n, s.kind, s.rep, rate)
}

// child is one receiver process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
	mu     *sync.Mutex
}

func (h *harness) startChild(spec runSpec, port uint16, stream uint64, sockets, idx int) (*child, error) {
	group := netip.AddrPortFrom(h.cfg.Group.Addr(), port)
	life := spec.dur + time.Minute
	var cmd *exec.Cmd
	if spec.kind == KindC || spec.kind == KindCMeta {
		cmd = exec.Command(h.cbin, "-n", strconv.Itoa(sockets), "-g", group.Addr().String(),
			"-p", strconv.Itoa(int(port)), "-s", strconv.FormatUint(stream, 10),
			"-b", strconv.Itoa(BufferSize), "-r", strconv.Itoa(ReadBuffer),
			"-t", strconv.Itoa(int(life.Seconds())), "-T", strconv.Itoa(min(h.cfg.CThreads, sockets)))
		if spec.kind == KindCMeta {
			cmd.Args = append(cmd.Args, "-m")
		}
	} else {
		args := []string{"-kind", string(spec.kind), "-n", strconv.Itoa(sockets), "-group", group.String(),
			"-stream", strconv.FormatUint(stream, 10), "-life", life.String(), "-queue", strconv.Itoa(h.cfg.QueueLen), "-hub-wake", h.cfg.HubWake.String()}
		if h.cfg.ProfileDir != "" {
			name := fmt.Sprintf("%s-%s-%dB-%s-n%d-r%d-p%d.pprof", spec.phase, spec.kind, spec.size, spec.mode, spec.n, spec.rep, idx)
			args = append(args, "-profile", filepath.Join(h.cfg.ProfileDir, name))
		}
		var err error
		if cmd, err = h.cfg.Spawn(args); err != nil {
			return nil, err
		}
	}
	c := &child{cmd: cmd, lines: make(chan string, 4), mu: new(sync.Mutex)}
	if cmd.Stderr == nil {
		c.stderr = new(bytes.Buffer)
		cmd.Stderr = &lockedWriter{w: c.stderr, mu: c.mu, max: 64 << 10}
	}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s receiver: %w", spec.kind, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c, nil
}

// line returns the child's next line of output, waiting at most d.
func (c *child) line(d time.Duration) (string, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", fmt.Errorf("receiver exited: %s", c.errText())
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("receiver silent for %v", d)
	}
}

func (c *child) errText() string {
	if c.stderr == nil {
		return "(see the test log)"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(bytes.TrimSpace(c.stderr.Bytes()))
}

// kill ends the child if it still runs, and reaps it.
func (c *child) kill() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() {
		c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(2 * time.Second):
	}
	c.cmd.Process.Kill()
	<-done
}

type lockedWriter struct {
	w   *bytes.Buffer
	mu  *sync.Mutex
	max int
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w.Len() < w.max {
		w.w.Write(p[:min(len(p), w.max-w.w.Len())])
	}
	return len(p), nil
}

// runOne runs spec once and returns its result; a failure is in Err.
func (h *harness) runOne(ctx context.Context, spec runSpec) RunResult {
	res := RunResult{Phase: spec.phase, Kind: spec.kind, Mode: spec.mode, N: spec.n, Size: spec.size,
		Rep: spec.rep, Cell: spec.cell, Order: spec.order, TargetRate: spec.rate, Allocs: -1, Start: time.Now()}
	if err := h.run(ctx, spec, &res); err != nil {
		res.Err = err.Error()
	}
	h.logf("%s  %s\n", spec, res.summary())
	return res
}

func (h *harness) run(ctx context.Context, spec runSpec, res *RunResult) error {
	port := h.nextPort()
	stream := rand.Uint64()
	procs, per := 1, spec.n
	if spec.mode == ModeProcs {
		procs, per = spec.n, 1
	}
	res.Procs = procs
	var children []*child
	defer func() {
		for _, c := range children {
			c.kill()
		}
	}()
	wait := 10*time.Second + time.Duration(procs)*time.Second/2
	consumers := 0
	if spec.kind == KindHub {
		// The hub first (its consumers attach to it as they start), and
		// it is stopped first: its consumers then read to the end of
		// its ring and stop by themselves.
		ws := spec
		ws.kind = kindHubWriter
		c, err := h.startChild(ws, port, stream, 1, procs)
		if err != nil {
			return err
		}
		children = append(children, c)
		if l, err := c.line(wait); err != nil || l != "ready" {
			return fmt.Errorf("hub: %q, %v", l, err)
		}
		consumers = 1
	}
	for i := range procs {
		c, err := h.startChild(spec, port, stream, per, i)
		if err != nil {
			return err
		}
		children = append(children, c)
	}
	for _, c := range children[consumers:] {
		l, err := c.line(wait)
		if err != nil {
			return err
		}
		if l != "ready" {
			return fmt.Errorf("receiver said %q, not ready", l)
		}
	}
	bound, _, _, err := portQueues(port)
	if err != nil {
		return err
	}
	res.BoundSockets = bound
	if want := spec.n; bound != want && (spec.kind != KindHub || bound != 1) {
		return fmt.Errorf("%d sockets bound to port %d, want %d", bound, port, want)
	}

	snd, err := newSender(netip.AddrPortFrom(h.cfg.Group.Addr(), port), spec.size, stream)
	if err != nil {
		return err
	}
	sr, sendErr := snd.run(ctx, spec.dur, spec.rate)
	snd.close()
	res.Sent, res.SendSeconds, res.SendRate = sr.Sent, sr.Elapsed.Seconds(), sr.Rate()
	if sendErr != nil {
		return sendErr
	}
	if res.Drained, err = drain(port, 5*time.Second); err != nil {
		return err
	}
	if _, _, res.ProcDrops, err = portQueues(port); err != nil {
		return err
	}

	for _, c := range children {
		io.WriteString(c.stdin, "stop\n")
		c.stdin.Close()
	}
	var errs []error
	for i, c := range children {
		l, err := c.line(15 * time.Second)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var pr ProcReport
		if err := json.Unmarshal([]byte(l), &pr); err != nil {
			errs = append(errs, fmt.Errorf("receiver report %q: %w", l, err))
			continue
		}
		if i < consumers {
			if len(pr.Sockets) == 1 {
				res.Hub = &pr.Sockets[0]
			}
			res.CPUNs += pr.CPUNs
			continue
		}
		res.Sockets = append(res.Sockets, pr.Sockets...)
		pc := ProcCount{Allocs: pr.Allocs}
		for _, s := range pr.Sockets {
			pc.Received += s.Received
		}
		res.PerProc = append(res.PerProc, pc)
		res.CPUNs += pr.CPUNs
		if pr.Allocs >= 0 {
			res.Allocs = max(res.Allocs, 0) + pr.Allocs
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, c := range children {
		if err := c.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("receiver: %w: %s", err, c.errText()))
		}
	}
	children = nil
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(res.Sockets) != spec.n {
		return fmt.Errorf("%d socket reports, want %d", len(res.Sockets), spec.n)
	}
	return nil
}

func (h *harness) nextPort() uint16 {
	h.port++
	return h.cfg.Group.Port() + uint16(h.port%2000)
}

func (r *RunResult) summary() string {
	if r.Err != "" {
		return "FAILED: " + r.Err
	}
	return fmt.Sprintf("sent %s at %s/s  min ratio %.4f  %s copies/s  drops %d  cpu %.3f s/M  p50 %s p99 %s",
		fmtCount(float64(r.Sent)), fmtRate(r.SendRate), r.MinRatio(), fmtRate(r.CopiesPerSec()),
		r.Drops(), r.CPUPerMillion(), fmtNs(r.P50()), fmtNs(r.P99()))
}

func medianInt(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
