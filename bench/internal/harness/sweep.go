//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/sharecast/sharecast/internal/netns"
)

// Report is the outcome of a sweep.
type Report struct {
	Config   Config       `json:"config"`
	Machine  Machine      `json:"machine"`
	Runs     []RunResult  `json:"runs"`
	Lossless []Lossless   `json:"lossless"`
	Skipped  []string     `json:"skipped,omitempty"` // runs left out by the budget
	Notes    []string     `json:"notes,omitempty"`
	Started  time.Time    `json:"started"`
	Elapsed  JSONDuration `json:"elapsed"`
}

// JSONDuration is a time.Duration that marshals as its String.
type JSONDuration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d JSONDuration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *JSONDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = JSONDuration(v)
	return err
}

// Lossless is the outcome of one lossless-rate search: the highest sender
// rate at which every socket got every datagram of a whole probe (Rate, 0
// if no probe was lossless), and the lowest rate found lossy (Above, 0 if
// none was). SenderBound says that the sender's flat-out rate was itself
// lossless: the receiver outran the host's delivery.
type Lossless struct {
	Kind        Kind        `json:"kind"`
	Mode        Mode        `json:"mode"`
	N           int         `json:"n"`
	Size        int         `json:"size"`
	Rate        float64     `json:"rate"`
	Above       float64     `json:"above"`
	SenderBound bool        `json:"sender_bound"`
	Probes      []RunResult `json:"probes"`
	Incomplete  bool        `json:"incomplete,omitempty"` // the budget cut the search
}

// Copies returns the lossless rate times N: delivered copies per second.
func (l *Lossless) Copies() float64 { return l.Rate * float64(l.N) }

type harness struct {
	cfg   Config
	start time.Time
	cbin  string
	port  int
	cell  int
	rep   *Report
}

// Run runs the sweep that cfg describes, in the current network namespace,
// which must hold lo alone (the harness refuses to send otherwise), and
// writes the files that cfg names.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Spawn == nil {
		return nil, errors.New("harness: Config.Spawn not set")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := netns.CheckIsolated(); err != nil {
		return nil, fmt.Errorf("refusing to run: %w", err)
	}
	h := &harness{cfg: cfg, start: time.Now()}
	h.rep = &Report{Config: cfg, Started: h.start, Machine: machineInfo(cfg.CC)}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	if slices.Contains(cfg.Receivers, KindC) || slices.Contains(cfg.Receivers, KindCMeta) {
		dir, err := os.MkdirTemp("", "sharecast-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if h.cbin, err = buildC(cfg.CC, cfg.CSource, dir); err != nil {
			h.note("C reference receiver left out: %v", err)
			h.cfg.Receivers = slices.DeleteFunc(slices.Clone(cfg.Receivers), func(k Kind) bool { return k == KindC || k == KindCMeta })
		}
	}
	for _, p := range cfg.Phases {
		if ctx.Err() != nil {
			break
		}
		switch p {
		case PhaseRate:
			h.grid(ctx, PhaseRate, float64(cfg.Rate), cfg.RateDuration, func(int) int { return 1 })
		case PhaseMax:
			h.grid(ctx, PhaseMax, 0, cfg.Duration, func(size int) int {
				if size <= 64 {
					return max(cfg.Repeats, 1)
				}
				return max(cfg.RepeatsLarge, 1)
			})
		case PhaseLossless:
			h.lossless(ctx)
		}
	}
	h.rep.Machine.LoadEnd = loadAvg()
	h.rep.Elapsed = JSONDuration(time.Since(h.start))
	if err := ctx.Err(); err != nil {
		return h.rep, err
	}
	return h.rep, h.write()
}

func (h *harness) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	h.rep.Notes = append(h.rep.Notes, s)
	h.logf("note: %s\n", s)
}

func (h *harness) logf(format string, args ...any) {
	if h.cfg.Log != nil {
		fmt.Fprintf(h.cfg.Log, "%6.1fs %s", time.Since(h.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// fits reports whether a run of d still fits in the budget (with a second
// for setting up and draining).
func (h *harness) fits(d time.Duration) bool {
	return time.Since(h.start)+d+time.Second <= h.cfg.Budget
}

// cells lists the (size, mode, N) cells of a phase. N=1 is the same in
// both modes and runs once, as proc.
func (h *harness) cells(sizes []int, modes []Mode) []runSpec {
	var out []runSpec
	for _, size := range sizes {
		for _, mode := range modes {
			for _, n := range h.cfg.Ns {
				if n == 1 && mode == ModeProcs && slices.Contains(modes, ModeProc) {
					continue
				}
				out = append(out, runSpec{mode: mode, n: n, size: size})
			}
		}
	}
	return out
}

// grid runs every cell of a phase, reps times, the receivers one after
// another within each repetition in an order rotated from one repetition
// (and cell) to the next, so that drift in the machine's load falls on all
// of them alike.
func (h *harness) grid(ctx context.Context, phase Phase, rate float64, dur time.Duration, reps func(size int) int) {
	for _, c := range h.cells(h.cfg.Sizes, h.cfg.Modes) {
		for rep := range reps(c.size) {
			h.cell++
			kinds := rotate(h.cfg.Receivers, h.cell)
			for i, k := range kinds {
				spec := c
				spec.phase, spec.kind, spec.rep, spec.cell, spec.order, spec.rate, spec.dur =
					phase, k, rep, h.cell, i, rate, dur
				if r, ok := h.attempt(ctx, spec); ok {
					h.rep.Runs = append(h.rep.Runs, r)
				}
			}
		}
	}
}

// attempt runs spec, unless ctx has ended or the budget has no room left
// for it (a skip, listed in the report); ok says whether it ran.
func (h *harness) attempt(ctx context.Context, spec runSpec) (r RunResult, ok bool) {
	if ctx.Err() != nil {
		return RunResult{}, false
	}
	if !h.fits(spec.dur) {
		h.rep.Skipped = append(h.rep.Skipped, spec.String())
		return RunResult{}, false
	}
	return h.runOne(ctx, spec), true
}

func rotate[T any](s []T, k int) []T {
	if len(s) == 0 {
		return nil
	}
	k %= len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}

// lossless searches, for each receiver and cell, the highest sender rate
// at which every socket gets every datagram of a probe of
// LosslessDuration. The first probe sends flat out: if it is lossless the
// search ends there (the sender, that is the host's delivery, is the
// limit). Otherwise the next probe starts just under the rate at which the
// slowest socket drained during the flat-out probe, and each later one
// halves the bracket (or, with no lossless rate yet, steps down by 40%),
// until the probes run out or the bracket is within 5%.
func (h *harness) lossless(ctx context.Context) {
	probes := max(h.cfg.LosslessProbes, 1)
	for _, c := range h.cells(h.cfg.LosslessSizes, h.cfg.LosslessModes) {
		h.cell++
		for i, k := range rotate(h.cfg.Receivers, h.cell) {
			l := Lossless{Kind: k, Mode: c.mode, N: c.n, Size: c.size}
			var lo, hi, next float64
			for p := range probes {
				spec := c
				spec.phase, spec.kind, spec.rep, spec.cell, spec.order, spec.rate, spec.dur =
					PhaseLossless, k, p, h.cell, i, next, h.cfg.LosslessDuration
				r, ok := h.attempt(ctx, spec)
				if !ok {
					l.Incomplete = true
					break
				}
				l.Probes = append(l.Probes, r)
				if r.Err != "" {
					break
				}
				if r.Lossless() {
					lo = max(lo, r.SendRate)
					if p == 0 {
						l.SenderBound = true
						break
					}
				} else {
					if hi == 0 || r.SendRate < hi {
						hi = r.SendRate
					}
				}
				if p == 0 {
					// The slowest socket's drain rate while flat out.
					slowest := r.SendRate
					for _, s := range r.Sockets {
						slowest = min(slowest, float64(s.Received)/r.SendSeconds)
					}
					next = min(0.9*slowest, 0.95*hi)
				} else if lo > 0 {
					next = (lo + hi) / 2
				} else {
					next = 0.6 * hi
				}
				if lo > 0 && hi > 0 && hi/lo < 1.05 {
					break
				}
			}
			l.Rate, l.Above = lo, hi
			h.rep.Lossless = append(h.rep.Lossless, l)
		}
	}
}

// Replot reads the JSON report of an earlier sweep from path and writes
// the results and the chart that cfg names from it.
func Replot(path string, cfg Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep.Config.Results, rep.Config.Chart, rep.Config.JSON = cfg.Results, cfg.Chart, ""
	h := &harness{cfg: rep.Config, rep: &rep}
	return h.write()
}

// buildC compiles the C reference receiver into dir.
func buildC(cc string, source []byte, dir string) (string, error) {
	if len(source) == 0 {
		return "", errors.New("no source")
	}
	if cc == "" {
		cc = "gcc"
	}
	path, err := exec.LookPath(cc)
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "recv.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "recv")
	out, err := exec.Command(path, "-O2", "-pthread", "-o", bin, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", cc, err, out)
	}
	return bin, nil
}
