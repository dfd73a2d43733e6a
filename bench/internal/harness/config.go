//go:build linux

package harness

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is a receiver under test.
type Kind string

// The receivers, in the order of the tables.
const (
	// KindSharecast is mcast's batch reads through a dispatch.Server, one
	// handler per socket, called inline (HandlerConfig.Inline: on the
	// reader's goroutine, no queue), as a quick handler is best run.
	KindSharecast Kind = "sharecast"
	// KindSharecastQueued is the same with the handler behind a queue and
	// a worker goroutine of its own (overflow Block, Config.QueueLen): what
	// the queue's isolation costs. It is not in the default sweep.
	KindSharecastQueued Kind = "sharecast-queued"
	// KindMcast is mcast.Conn.ReadBatch in a plain loop, no dispatcher.
	KindMcast Kind = "mcast"
	// KindStdlib is net.ListenMulticastUDP and ReadFromUDP, one datagram a
	// call.
	KindStdlib Kind = "stdlib"
	// KindC is the C reference receiver (recvmmsg), cref/recv.c.
	KindC Kind = "c"
	// KindCMeta is the C receiver asking for, and reading, the control
	// messages that mcast reads on every datagram (destination, time stamp,
	// drop count): the kernel's cost of that metadata, apart. It is not in
	// the default sweep.
	KindCMeta Kind = "c-meta"
	// KindHub is a hub (package hub: one socket, a ring in shared memory)
	// and N consumers of its ring, each with a dispatch.Server and an
	// inline handler: the kernel delivers each datagram once, to the hub,
	// whatever N is. A consumer's losses are its overruns (counted as its
	// drops). It is not in the default sweep.
	KindHub Kind = "hub"
	// kindHubWriter is the hub process of a KindHub run.
	kindHubWriter Kind = "hub-writer"
)

// AllKinds lists the receivers of the default sweep, in the order of the
// tables.
var AllKinds = []Kind{KindSharecast, KindMcast, KindStdlib, KindC}

// knownKinds is every receiver, in the order of the tables.
var knownKinds = []Kind{KindSharecast, KindSharecastQueued, KindMcast, KindStdlib, KindC, KindCMeta, KindHub}

// Mode says how a run's N sockets are spread over processes.
type Mode string

const (
	// ModeProc is N sockets in one process.
	ModeProc Mode = "proc"
	// ModeProcs is N processes of one socket each.
	ModeProcs Mode = "procs"
)

// Phase is one part of the sweep.
type Phase string

const (
	// PhaseRate sends at Config.Rate datagrams a second.
	PhaseRate Phase = "rate"
	// PhaseMax sends flat out (sendmmsg in a loop) for Config.Duration.
	PhaseMax Phase = "max"
	// PhaseLossless searches each receiver's lossless rate.
	PhaseLossless Phase = "lossless"
)

// Config says what to measure. Run fills in defaults for zero fields
// (see Defaults); Spawn must be set.
type Config struct {
	Phases    []Phase
	Receivers []Kind
	Ns        []int
	Modes     []Mode
	Sizes     []int // datagram sizes in bytes, at least the wire header

	// Rate is the sender's rate in the rate phase, datagrams a second,
	// and RateDuration how long it sends there.
	Rate         int
	RateDuration time.Duration
	// Duration is how long the sender sends in each max-phase run.
	Duration time.Duration
	// Repeats is how many times each max-phase cell runs (for 64-byte
	// datagrams; RepeatsLarge for the other sizes). Receivers alternate
	// within each repetition, in a rotated order.
	Repeats, RepeatsLarge int

	// LosslessDuration is the length of each probe of the lossless search
	// (at least 3 s for a result to count), LosslessProbes the most probes
	// per receiver and N, LosslessModes and LosslessSizes the cells searched.
	LosslessDuration time.Duration
	LosslessProbes   int
	LosslessModes    []Mode
	LosslessSizes    []int

	// Budget bounds the whole sweep: runs that would start past it are
	// skipped and listed as such.
	Budget time.Duration

	// Group is the multicast group; each run uses its own port from
	// Group.Port() on.
	Group netip.AddrPort

	// Results, Chart and JSON are the files to write ("" for none).
	Results, Chart, JSON string
	// ProfileDir, if set, makes every Go receiver process write a CPU
	// profile of its measured window there.
	ProfileDir string

	// Replot, if set, names a JSON report of an earlier sweep to write
	// the results and the chart from, without measuring anything.
	Replot string `json:"-"`

	// Quick marks the CI mode: Check's sanity checks decide the outcome.
	Quick bool

	// CSource is the C reference receiver's source (bench/cref/recv.c).
	CSource []byte `json:"-"`

	// QueueLen is the queue length of the sharecast-queued receiver's
	// handlers; 0 means dispatch.DefaultQueueLen.
	QueueLen int

	// HubWake is the hub's Config.WakeInterval in KindHub runs; 0 means
	// hub.DefaultWakeInterval.
	HubWake time.Duration

	// CThreads is how the C receiver reads several sockets in one
	// process: 0 means a thread per socket, each blocking in recvmmsg; k
	// means k threads (at most one per socket), each waiting on its share
	// of the sockets with epoll.
	CThreads int

	// CC is the C compiler for the reference receiver ("" means gcc); if
	// it cannot be found, or CSource is empty, the C receiver is left out with a note.
	CC string

	// Spawn returns a command that runs RecvMain with args in a new
	// process of the current network namespace.
	Spawn func(args []string) (*exec.Cmd, error) `json:"-"`

	// Log receives progress lines (nil: none).
	Log io.Writer `json:"-"`

	// Command is the command line quoted in the report.
	Command string
}

// Defaults returns the default sweep: it finishes in under 10 minutes on
// two cores.
func Defaults() Config {
	return Config{
		Phases:           []Phase{PhaseRate, PhaseMax, PhaseLossless},
		Receivers:        slices.Clone(AllKinds),
		Ns:               []int{1, 2, 4, 8, 16, 32},
		Modes:            []Mode{ModeProc, ModeProcs},
		Sizes:            []int{64, 1024},
		Rate:             50_000,
		RateDuration:     500 * time.Millisecond,
		Duration:         time.Second,
		Repeats:          3,
		RepeatsLarge:     1,
		LosslessDuration: 3 * time.Second,
		LosslessProbes:   3,
		LosslessModes:    []Mode{ModeProc},
		LosslessSizes:    []int{64},
		CThreads:         2,
		Budget:           9*time.Minute + 30*time.Second,
		Group:            netip.MustParseAddrPort("239.255.77.1:27000"),
		Results:          "bench/RESULTS.md",
		Chart:            "bench/chart.svg",
		JSON:             "bench/results.json",
	}
}

// Quick returns the CI mode: a few short runs at a low rate, checking only
// that every receiver gets every datagram and that the counts add up. It
// writes no files.
func Quick() Config {
	c := Defaults()
	c.Quick = true
	c.Phases = []Phase{PhaseRate}
	c.Ns = []int{1, 2}
	c.Sizes = []int{64}
	c.Rate = 2000
	c.RateDuration = 500 * time.Millisecond
	c.Budget = 50 * time.Second
	c.Results, c.Chart, c.JSON = "", "", ""
	return c
}

// ParseFlags reads the command line into a Config. It returns flag.ErrHelp
// after printing usage for -h.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	quick := fs.Bool("quick", false, "CI mode: short runs at a low rate, sanity checks only, no files written")
	phases := fs.String("phases", "", "phases to run: rate,max,lossless")
	receivers := fs.String("receivers", "", "receivers: sharecast,mcast,stdlib,c (and sharecast-queued: the handler behind a queue; c-meta: C reading mcast's control messages; hub: a hub and N consumers of its ring)")
	ns := fs.String("n", "", "socket counts, e.g. 1,2,4,8,16,32")
	modes := fs.String("modes", "", "proc (N sockets in one process), procs (N processes)")
	sizes := fs.String("sizes", "", "datagram sizes in bytes, e.g. 64,1024")
	rate := fs.Int("rate", 0, "sender rate of the rate phase, datagrams/s")
	rdur := fs.Duration("rate-duration", 0, "send time of each rate-phase run")
	dur := fs.Duration("duration", 0, "send time of each max-phase run")
	repeats := fs.Int("repeats", 0, "repetitions of each max-phase cell (64-byte datagrams)")
	repeatsLarge := fs.Int("repeats-large", 0, "repetitions of each max-phase cell (larger datagrams)")
	ldur := fs.Duration("lossless-duration", 0, "length of each lossless-search probe (>= 3s to count)")
	lprobes := fs.Int("lossless-probes", 0, "most probes per receiver and N in the lossless search")
	lmodes := fs.String("lossless-modes", "", "modes searched for the lossless rate")
	lsizes := fs.String("lossless-sizes", "", "sizes searched for the lossless rate")
	budget := fs.Duration("budget", 0, "time bound of the whole sweep")
	group := fs.String("group", "", "group:port (each run takes its own port from there)")
	results := fs.String("results", "", `RESULTS.md to update ("-" for none)`)
	chart := fs.String("chart", "", `chart to write, .svg or .png ("-" for none)`)
	jsonOut := fs.String("json", "", `raw results as JSON ("-" for none)`)
	profile := fs.String("profile", "", "directory for CPU profiles of the Go receivers")
	cc := fs.String("cc", "", "C compiler for the reference receiver (default gcc)")
	hubWake := fs.Duration("hub-wake", 0, "the hub's wake interval in hub runs (0: the hub's default; -1ns: every datagram)")
	queue := fs.Int("queue", 0, "queue length of the sharecast-queued receiver's handlers (0: dispatch's default)")
	cthreads := fs.Int("c-threads", -1, "C receiver with several sockets in a process: 0 a thread per socket (blocking recvmmsg), k: k threads with epoll")
	replot := fs.String("replot", "", "write -results and -chart from this JSON report of an earlier sweep, measuring nothing")
	fs.Usage = func() {
		fmt.Fprint(out, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := Defaults()
	if *quick {
		c = Quick()
	}
	var err error
	set := func(s string, f func(string) error) {
		if s != "" && err == nil {
			err = f(s)
		}
	}
	set(*phases, func(s string) (e error) { c.Phases, e = parseList(s, parsePhase); return })
	set(*receivers, func(s string) (e error) { c.Receivers, e = parseList(s, parseKind); return })
	set(*ns, func(s string) (e error) { c.Ns, e = parseList(s, parseCount); return })
	set(*modes, func(s string) (e error) { c.Modes, e = parseList(s, parseMode); return })
	set(*sizes, func(s string) (e error) { c.Sizes, e = parseList(s, parseSize); return })
	set(*lmodes, func(s string) (e error) { c.LosslessModes, e = parseList(s, parseMode); return })
	set(*lsizes, func(s string) (e error) { c.LosslessSizes, e = parseList(s, parseSize); return })
	set(*group, func(s string) (e error) {
		c.Group, e = netip.ParseAddrPort(s)
		if e == nil && (!c.Group.Addr().Is4() || !c.Group.Addr().IsMulticast()) {
			e = fmt.Errorf("group %s: want an IPv4 multicast group", s)
		}
		return
	})
	if err != nil {
		return Config{}, err
	}
	positive := func(name string, v int, dst *int) {
		if v < 0 && err == nil {
			err = fmt.Errorf("-%s %d: want a positive number", name, v)
		}
		if v > 0 {
			*dst = v
		}
	}
	positive("rate", *rate, &c.Rate)
	positive("repeats", *repeats, &c.Repeats)
	positive("repeats-large", *repeatsLarge, &c.RepeatsLarge)
	positive("lossless-probes", *lprobes, &c.LosslessProbes)
	if *dur > 0 {
		c.Duration = *dur
	}
	if *rdur > 0 {
		c.RateDuration = *rdur
	}
	if *ldur > 0 {
		c.LosslessDuration = *ldur
	}
	if *budget > 0 {
		c.Budget = *budget
	}
	file := func(v string, dst *string) {
		switch v {
		case "":
		case "-":
			*dst = ""
		default:
			*dst = v
		}
	}
	file(*results, &c.Results)
	file(*chart, &c.Chart)
	file(*jsonOut, &c.JSON)
	c.ProfileDir = *profile
	c.CC = *cc
	c.QueueLen = *queue
	c.HubWake = *hubWake
	if *cthreads >= 0 {
		c.CThreads = *cthreads
	}
	c.Replot = *replot
	if err == nil {
		err = c.validate()
	}
	return c, err
}

const usage = `bench measures per-socket multicast delivery: sharecast, mcast alone,
the standard library and a C recvmmsg receiver, side by side, in a private
network namespace that it makes (nothing leaves the host).

Examples:
  go run ./bench                       # the default sweep (< 10 min on 2 cores), writes bench/RESULTS.md
  go run ./bench -quick                # CI sanity run (< 1 min), writes nothing
  go run ./bench -phases max -n 16 -modes proc -sizes 64 -results - -chart - -json -
  go run ./bench -phases max -n 16 -receivers sharecast -results - -chart - -json - -profile /tmp/prof

Flags:
`

func (c *Config) validate() error {
	switch {
	case len(c.Phases) == 0, len(c.Receivers) == 0, len(c.Ns) == 0, len(c.Modes) == 0, len(c.Sizes) == 0:
		return errors.New("empty phase, receiver, N, mode or size list")
	case c.Rate <= 0 || c.Rate > 10_000_000:
		return fmt.Errorf("rate %d: want 1 to 10,000,000 datagrams/s", c.Rate)
	case c.Duration < 100*time.Millisecond || c.Duration > time.Minute ||
		c.RateDuration < 100*time.Millisecond || c.RateDuration > time.Minute:
		return fmt.Errorf("durations %v, %v: want 100ms to 1m", c.Duration, c.RateDuration)
	case c.LosslessDuration < 100*time.Millisecond || c.LosslessDuration > time.Minute:
		return fmt.Errorf("lossless duration %v: want 100ms to 1m", c.LosslessDuration)
	case c.Repeats > 20 || c.RepeatsLarge > 20 || c.LosslessProbes > 12:
		return errors.New("repeats at most 20, lossless probes at most 12")
	case c.QueueLen < 0 || c.QueueLen > 1<<20:
		return fmt.Errorf("queue length %d: want 0 to %d", c.QueueLen, 1<<20)
	case c.Budget <= 0 || c.Budget > 2*time.Hour:
		return fmt.Errorf("budget %v: want up to 2h", c.Budget)
	}
	return nil
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func parsePhase(s string) (Phase, error) {
	switch p := Phase(s); p {
	case PhaseRate, PhaseMax, PhaseLossless:
		return p, nil
	}
	return "", fmt.Errorf("phase %q: want rate, max or lossless", s)
}

func parseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(knownKinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("receiver %q: want sharecast, sharecast-queued, mcast, stdlib, c, c-meta or hub", s)
}

func parseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeProc, ModeProcs:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want proc or procs", s)
}

// MaxSockets bounds N.
const MaxSockets = 64

func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxSockets {
		return 0, fmt.Errorf("socket count %q: want 1 to %d", s, MaxSockets)
	}
	return n, nil
}

// MaxSize is the largest datagram the harness sends; receive buffers are
// BufferSize, so nothing is truncated.
const (
	MaxSize    = 1472
	BufferSize = 2048
)

func parseSize(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < minSize || n > MaxSize {
		return 0, fmt.Errorf("size %q: want %d to %d bytes", s, minSize, MaxSize)
	}
	return n, nil
}
