//go:build linux

package harness_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/bench/internal/harness"
	"github.com/sharecast/sharecast/internal/testbed"
)

func TestMain(m *testing.M) {
	testbed.Register("bench-recv", harness.RecvMain)
	testbed.Main(m)
}

// logWriter sends the harness's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// setup fills in what the command would: the receivers as helper processes
// of the test binary, in the test bed's namespace, and the C source.
func setup(t *testing.T, cfg harness.Config) harness.Config {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "cref", "recv.c"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.CSource = src
	cfg.Spawn = func(args []string) (*exec.Cmd, error) { return testbed.Command(t, "bench-recv", args...), nil }
	cfg.Log = logWriter{t}
	cfg.Command = "go test ./bench/..."
	return cfg
}

// allKinds is every receiver, sharecast-queued, c-meta and hub too.
var allKinds = append(slices.Clone(harness.AllKinds), harness.KindSharecastQueued, harness.KindCMeta, harness.KindHub)

// wantKinds returns the receivers of asked that the run must have
// measured: the C ones only where a C compiler is found.
func wantKinds(t *testing.T, asked []harness.Kind) []harness.Kind {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Logf("no gcc: the C reference receivers are left out (%v)", err)
		return slices.DeleteFunc(slices.Clone(asked), func(k harness.Kind) bool {
			return k == harness.KindC || k == harness.KindCMeta
		})
	}
	return asked
}

func run(t *testing.T, cfg harness.Config) *harness.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := harness.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestQuick runs the CI mode (`go run ./bench -quick`), with sharecast-queued and c-meta as well:
// every receiver, N=1
// and N=2 in one process and in two, at 2,000 datagrams/s. It checks
// sanity only, never a timing: every socket got every datagram, byte for
// byte in count, and the counts add up.
func TestQuick(t *testing.T) {
	testbed.Require(t)
	cfg := setup(t, harness.Quick())
	cfg.Receivers = allKinds
	rep := run(t, cfg)
	kinds := wantKinds(t, cfg.Receivers)
	// N=1 runs once (as proc); N=2 as proc and procs.
	if want := 3 * len(kinds); len(rep.Runs) != want {
		t.Fatalf("%d runs, want %d (skipped: %v, notes: %v)", len(rep.Runs), want, rep.Skipped, rep.Notes)
	}
	seen := map[harness.Kind]int{}
	for _, r := range rep.Runs {
		seen[r.Kind]++
		if r.Err != "" {
			t.Errorf("%s N=%d %s: %s", r.Kind, r.N, r.Mode, r.Err)
			continue
		}
		// How many the sender gets out in RateDuration is the machine's
		// business (a busy one sends fewer); that it sends is not.
		if r.Sent == 0 {
			t.Errorf("%s N=%d %s: sent nothing in %v at %d/s", r.Kind, r.N, r.Mode, cfg.RateDuration, cfg.Rate)
		}
		bound := r.N
		if r.Kind == harness.KindHub {
			bound = 1 // the hub's socket; its N consumers read its ring
			if r.Hub == nil || r.Hub.Received != r.Sent || r.Hub.Drops != 0 {
				t.Errorf("hub N=%d %s: sent %d, the hub's socket %+v", r.N, r.Mode, r.Sent, r.Hub)
			}
		}
		if len(r.Sockets) != r.N || r.BoundSockets != bound {
			t.Errorf("%s N=%d %s: %d socket reports, %d sockets bound", r.Kind, r.N, r.Mode, len(r.Sockets), r.BoundSockets)
		}
		wantProcs := 1
		if r.Mode == harness.ModeProcs {
			wantProcs = r.N
		}
		if r.Procs != wantProcs {
			t.Errorf("%s N=%d %s: %d processes", r.Kind, r.N, r.Mode, r.Procs)
		}
		for i, s := range r.Sockets {
			if s.Received != r.Sent || s.Bytes != r.Sent*uint64(r.Size) || s.Drops+s.QDrops+s.Truncated+s.Foreign != 0 {
				t.Errorf("%s N=%d %s socket %d: sent %d of %d bytes, got %+v", r.Kind, r.N, r.Mode, i, r.Sent, r.Size, s)
			}
			if s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
				t.Errorf("%s N=%d %s socket %d: latency p50 %d p99 %d max %d ns", r.Kind, r.N, r.Mode, i, s.P50, s.P99, s.Max)
			}
		}
		if r.MinRatio() != 1 {
			t.Errorf("%s N=%d %s: delivery ratio %v", r.Kind, r.N, r.Mode, r.MinRatio())
		}
		if r.CPUNs <= 0 {
			t.Errorf("%s N=%d %s: no CPU time reported", r.Kind, r.N, r.Mode)
		}
		if (r.Kind == harness.KindC || r.Kind == harness.KindCMeta) != (r.Allocs < 0) {
			t.Errorf("%s: allocations %d (C does not count them, Go does)", r.Kind, r.Allocs)
		}
	}
	for _, k := range kinds {
		if seen[k] != 3 {
			t.Errorf("receiver %s ran %d times, want 3", k, seen[k])
		}
	}
	for _, p := range harness.Check(rep) {
		t.Error(p)
	}
}

// TestSweepWritesReport runs a tiny sweep of every phase (short runs, one
// cell each) and checks that the files come out whole: RESULTS.md keeps
// what was around its section, the chart is an SVG, the JSON reads back
// and can be plotted again. It judges no figure but the counts.
func TestSweepWritesReport(t *testing.T) {
	testbed.Require(t)
	dir := t.TempDir()
	cfg := harness.Quick()
	cfg.Quick = false
	cfg.Phases = []harness.Phase{harness.PhaseMax, harness.PhaseLossless}
	cfg.Ns = []int{2}
	cfg.Modes = []harness.Mode{harness.ModeProc}
	cfg.Duration, cfg.LosslessDuration = 200*time.Millisecond, 200*time.Millisecond
	cfg.Repeats, cfg.LosslessProbes = 1, 2
	cfg.LosslessModes, cfg.LosslessSizes = []harness.Mode{harness.ModeProc}, []int{64}
	cfg.Results = filepath.Join(dir, "RESULTS.md")
	cfg.Chart = filepath.Join(dir, "chart.svg")
	cfg.JSON = filepath.Join(dir, "results.json")
	const before, after = "# Results\n\n## Another section\n\nkept\n\n", "\n## A later section\n\nkept too\n"
	if err := os.WriteFile(cfg.Results, []byte(before+harness.BeginMark+"\nold\n"+harness.EndMark+"\n"+after), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := run(t, setup(t, cfg))
	kinds := wantKinds(t, cfg.Receivers)
	if len(rep.Runs) != len(kinds) || len(rep.Lossless) != len(kinds) {
		t.Fatalf("%d max runs and %d lossless searches, want %d each", len(rep.Runs), len(rep.Lossless), len(kinds))
	}
	for _, l := range rep.Lossless {
		if len(l.Probes) == 0 || len(l.Probes) > 2 {
			t.Errorf("%s: %d probes, want 1 or 2", l.Kind, len(l.Probes))
		}
		if l.SenderBound != (l.Probes[0].Lossless()) || (l.Rate > 0) != (l.SenderBound || len(l.Probes) > 1 && l.Probes[1].Lossless()) {
			t.Errorf("%s: search result %+v does not follow from its probes", l.Kind, l)
		}
	}
	for _, p := range harness.Check(rep) {
		t.Error(p)
	}

	md, err := os.ReadFile(cfg.Results)
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	if !strings.HasPrefix(s, before+harness.BeginMark) || !strings.HasSuffix(s, harness.EndMark+"\n"+after) || strings.Contains(s, "\nold\n") {
		t.Errorf("RESULTS.md: the section was not put in place of the old one:\n%s", s)
	}
	for _, want := range []string{"### Max-rate mode, 64-byte datagrams", "### Lossless rate, 64-byte datagrams, proc", "![delivery ratio", "| proc | 2 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	svg, err := os.ReadFile(cfg.Chart)
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("chart: %v, %.60q", err, svg)
	}
	b, err := os.ReadFile(cfg.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var back harness.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Runs) != len(rep.Runs) || back.Runs[0].Sent != rep.Runs[0].Sent {
		t.Fatalf("JSON does not read back: %v", err)
	}
	png := filepath.Join(dir, "chart.png")
	if err := harness.Replot(cfg.JSON, harness.Config{Chart: png}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Errorf("replot to PNG: %v", err)
	}
}

func TestSpliceSection(t *testing.T) {
	sec := harness.BeginMark + "\nnew\n" + harness.EndMark + "\n"
	for _, c := range []struct{ old, want string }{
		{"", "# Benchmark results\n\n" + sec},
		{"# R\n\n## dispatch\n\nx\n", "# R\n\n## dispatch\n\nx\n\n" + sec},
		{"# R\n\nx", "# R\n\nx\n\n" + sec},
		{"# R\n\n" + harness.BeginMark + "\nold\nold\n" + harness.EndMark + "\n\n## later\n", "# R\n\n" + sec + "\n## later\n"},
	} {
		if got := string(harness.SpliceSection([]byte(c.old), []byte(sec))); got != c.want {
			t.Errorf("splice into %q:\n got %q\nwant %q", c.old, got, c.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var out strings.Builder
	c, err := harness.ParseFlags(nil, &out)
	if err != nil || len(c.Ns) != 6 || len(c.Receivers) != 4 || c.Results != "bench/RESULTS.md" || c.Quick {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = harness.ParseFlags([]string{"-quick"}, &out)
	if err != nil || !c.Quick || c.Results != "" || c.Chart != "" || c.JSON != "" || c.Rate != 2000 {
		t.Fatalf("-quick: %+v, %v", c, err)
	}
	c, err = harness.ParseFlags([]string{"-phases", "max", "-n", "16", "-receivers", "sharecast,c", "-results", "-", "-duration", "2s"}, &out)
	if err != nil || len(c.Phases) != 1 || c.Ns[0] != 16 || len(c.Receivers) != 2 || c.Results != "" || c.Duration != 2*time.Second {
		t.Fatalf("flags: %+v, %v", c, err)
	}
	for _, bad := range [][]string{
		{"-n", "0"}, {"-n", "65"}, {"-receivers", "rust"}, {"-sizes", "16"}, {"-sizes", "9000"},
		{"-phases", "warp"}, {"-group", "10.0.0.1:5000"}, {"-group", "[ff02::1]:5000"},
		{"-duration", "1h"}, {"-rate", "-5"}, {"-modes", "threads"}, {"extra"},
	} {
		if _, err := harness.ParseFlags(bad, &out); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
