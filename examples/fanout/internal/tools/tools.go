// Package tools holds the three fan-out example programs (examples/fanout):
// record, stats and forward, each a separate process that receives the
// same multicast feed on the same group and port as the others. Each joins
// through package group, reads through package mcast behind a
// dispatch.Server with one blocking queue (so a slow tool makes the kernel
// drop, and count, rather than lose datagrams silently), and ends after
// -count datagrams, after -duration, or on a signal, printing a summary
// (text, or JSON with -format json).
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
)

const usage = `usage: fanout TOOL [flags] GROUP

Tools, each its own process, all on the same GROUP (a group spec:
239.1.2.3:5000, 239.1.2.3:5000%eth0, [ff15::1]:5000, 232.1.1.1:5000@10.0.0.1):
  record   write every datagram to a pcap file (-w), for tcpdump and tshark
  stats    rates, loss, gaps, duplicates, late datagrams and latency of
           sharecast test traffic (the header that sharecast send writes)
  forward  relay every datagram to a unix datagram socket (-unix PATH) or to
           another group (-to GROUP)

Examples:
  fanout record -w feed.pcap -count 20000 239.1.2.3:5000
  fanout stats -interval 1s 239.1.2.3:5000
  fanout forward -unix /run/feed.sock 239.1.2.3:5000
  fanout forward -to 239.9.9.9:6000 239.1.2.3:5000

Flags of every tool:
`

// Run runs the tool named by args[0] with the rest of args, writing its
// summary to stdout and its log, its ready line and usage to stderr. A
// cancelled ctx ends it cleanly (the summary is printed, nil returned).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		io.WriteString(stderr, usage)
		return errors.New("no tool named")
	}
	var t tool
	switch args[0] {
	case "record":
		t = &recorder{}
	case "stats":
		t = &statsTool{}
	case "forward":
		t = &forwarder{}
	case "-h", "-help", "--help", "help":
		io.WriteString(stderr, usage)
		newCommon("TOOL", stderr).fs.PrintDefaults()
		return nil
	default:
		io.WriteString(stderr, usage)
		return fmt.Errorf("no tool %q", args[0])
	}
	c := newCommon(args[0], stderr)
	t.flags(c.fs)
	if err := c.fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if c.fs.NArg() != 1 {
		c.fs.Usage()
		return fmt.Errorf("want one GROUP, got %d arguments", c.fs.NArg())
	}
	spec, err := group.ParseSpec(c.fs.Arg(0))
	if err != nil {
		return err
	}
	lvl, err := zerolog.ParseLevel(c.logLevel)
	if err != nil {
		return fmt.Errorf("-log: %w", err)
	}
	if c.format != "text" && c.format != "json" {
		return fmt.Errorf("-format %q: want text or json", c.format)
	}
	if err := c.sizeBuffers(spec, t); err != nil {
		return err
	}
	c.spec = spec
	c.log = zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true, TimeFormat: "15:04:05.000"}).
		Level(lvl).With().Timestamp().Str("tool", c.name).Logger()
	if err := t.open(c); err != nil {
		return err
	}
	defer t.close()
	sum, err := c.serve(ctx, stdout, stderr, t)
	if cerr := t.close(); err == nil {
		err = cerr
	}
	if sum != nil {
		sum.Tool = c.name
		sum.Group = spec.String()
		if perr := c.print(stdout, sum, t); err == nil {
			err = perr
		}
	}
	return err
}

// tool is one of the three programs.
type tool interface {
	flags(fs *flag.FlagSet)
	open(c *common) error
	// ready returns what the ready line says after "joined GROUP".
	ready() string
	// handle is the dispatch handler: one worker, so calls do not overlap.
	handle(d *dispatch.Datagram)
	// tick prints a periodic report (stats only).
	tick(w io.Writer, c *common)
	// finish adds the tool's own figures to the summary.
	finish(s *Summary)
	// text writes the tool's own lines of the text summary.
	text(w io.Writer, s *Summary)
	close() error
}

// common holds the flags and the receive loop shared by the tools.
type common struct {
	name       string
	fs         *flag.FlagSet
	spec       group.Spec
	count      uint64
	duration   time.Duration
	interval   time.Duration
	format     string
	logLevel   string
	readBuffer int
	buffer     int
	queueLen   int
	log        zerolog.Logger

	handled atomic.Uint64
	// stopped is closed by stop: a tool's own limit was reached.
	stopped  chan struct{}
	stopOnce sync.Once
}

// stop ends the tool as -count does; a tool calls it when a limit of its
// own is reached.
func (c *common) stop() { c.stopOnce.Do(func() { close(c.stopped) }) }

func newCommon(name string, stderr io.Writer) *common {
	c := &common{name: name, fs: flag.NewFlagSet("fanout "+name, flag.ContinueOnError), stopped: make(chan struct{})}
	fs := c.fs
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(stderr, usage)
		fs.PrintDefaults()
	}
	fs.Uint64Var(&c.count, "count", 0, "stop after this many datagrams (0: no limit)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: no limit)")
	fs.DurationVar(&c.interval, "interval", 0, "stats: print a report this often (0: only the summary)")
	fs.StringVar(&c.format, "format", "text", "summary format: text or json")
	fs.StringVar(&c.logLevel, "log", "warn", "log level: debug, info, warn, error")
	fs.IntVar(&c.readBuffer, "read-buffer", 0, "socket receive buffer in bytes (0: 4 MiB)")
	fs.IntVar(&c.buffer, "buffer", 0, "longest datagram received whole, in bytes; longer ones are dropped and counted as truncated (0: for record, the most UDP carries, 65507 over IPv4 and 65527 over IPv6; for the others 9216)")
	fs.IntVar(&c.queueLen, "queue", 0, "datagrams that may wait for the tool (0: as many as 72 MiB of buffers hold, 8192 of 9216 bytes)")
	return c
}

// Largest UDP payloads: an IP packet's length field is 16 bits, and
// IPv4's length counts its 20-byte header, IPv6's does not count its 40.
const (
	maxUDP4 = 0xffff - 20 - 8
	maxUDP6 = 0xffff - 8
)

// queueMemory is what the default -queue holds in buffers: 8,192 of
// dispatch's default size. A larger -buffer shortens the default queue so
// that a tool that falls behind holds no more memory than that.
const queueMemory = 8192 * dispatch.DefaultBufferSize

// sizeBuffers checks -buffer and -queue and fills in their defaults: the
// recorder takes every datagram UDP can carry (a capture that drops the
// long ones is no capture), the other tools dispatch's default, which
// their output does not need more than.
func (c *common) sizeBuffers(spec group.Spec, t tool) error {
	most := maxUDP4
	if spec.Group.Is6() {
		most = maxUDP6
	}
	if c.buffer < 0 || c.buffer > most {
		return fmt.Errorf("-buffer %d: want 0 to %d bytes", c.buffer, most)
	}
	if c.buffer == 0 {
		c.buffer = dispatch.DefaultBufferSize
		if _, ok := t.(*recorder); ok {
			c.buffer = most
		}
	}
	if c.queueLen < 0 {
		return fmt.Errorf("-queue %d: want 0 or more", c.queueLen)
	}
	if c.queueLen == 0 {
		c.queueLen = max(queueMemory/c.buffer, 64)
	}
	return nil
}

// Summary is what a tool prints when it ends; the JSON names are for
// scripts (and the tests).
type Summary struct {
	Tool      string  `json:"tool"`
	Group     string  `json:"group"`
	Datagrams uint64  `json:"datagrams"`
	Bytes     uint64  `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	// KernelDrops, Truncated and Filtered are the socket's counters
	// (mcast.Stats); QueueDrops the datagrams dropped from the tool's
	// queue at a hard stop.
	KernelDrops uint64 `json:"kernel_drops"`
	Truncated   uint64 `json:"truncated"`
	Filtered    uint64 `json:"filtered"`
	QueueDrops  uint64 `json:"queue_drops"`

	Record  *RecordSummary  `json:"record,omitempty"`
	Stats   *StatsSummary   `json:"stats,omitempty"`
	Forward *ForwardSummary `json:"forward,omitempty"`
}

// serve joins the group and feeds the tool until -count, -duration or ctx.
func (c *common) serve(ctx context.Context, stdout, stderr io.Writer, t tool) (*Summary, error) {
	done := make(chan struct{})
	var doneOnce sync.Once
	var mux dispatch.Mux
	err := mux.HandleFunc(dispatch.Pattern{Group: c.spec.Group, Port: c.spec.Port}, func(_ context.Context, d *dispatch.Datagram) {
		n := c.handled.Load()
		if c.count > 0 && n >= c.count {
			return // past -count: the tool is stopping
		}
		t.handle(d)
		c.handled.Store(n + 1)
		if c.count > 0 && n+1 == c.count {
			doneOnce.Do(func() { close(done) })
		}
	}, &dispatch.HandlerConfig{Name: c.name, QueueLen: c.queueLen, Overflow: dispatch.Block})
	if err != nil {
		return nil, err
	}
	r, err := dispatch.Listen(ctx, []string{c.spec.String()}, &mux, &dispatch.ListenConfig{ReadBuffer: c.readBuffer, BufferSize: c.buffer, Logger: c.log})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	conn := r.Sockets()[0].Conn
	fmt.Fprintf(stderr, "fanout %s: joined %s%s\n", c.name, c.spec, t.ready())

	start := time.Now()
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- r.Serve(sctx) }()
	var limit <-chan time.Time
	if c.duration > 0 {
		tm := time.NewTimer(c.duration)
		defer tm.Stop()
		limit = tm.C
	}
	var tick <-chan time.Time
	if c.interval > 0 {
		tk := time.NewTicker(c.interval)
		defer tk.Stop()
		tick = tk.C
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-limit:
			break loop
		case <-done:
			break loop
		case <-c.stopped:
			break loop
		case <-tick:
			t.tick(stdout, c)
		case err := <-errc:
			errc <- err
			break loop
		}
	}
	stop() // drains the queue, for at most dispatch.DefaultShutdownTimeout
	serveErr := <-errc
	var shut *dispatch.ShutdownError
	if errors.As(serveErr, &shut) {
		c.log.Warn().Err(serveErr).Msg("shutdown")
		serveErr = nil // counted in the summary's queue drops
	}
	elapsed := time.Since(start)

	st := r.Stats()
	sum := &Summary{Datagrams: c.handled.Load(), Seconds: elapsed.Seconds()}
	if hs, ok := st.Handler(c.name); ok {
		sum.QueueDrops = hs.Drops.Total()
	}
	ks := conn.Stats()
	sum.KernelDrops, sum.Truncated, sum.Filtered = ks.KernelDrops, ks.Truncated, ks.Filtered
	t.finish(sum)
	return sum, serveErr
}

func (c *common) print(w io.Writer, s *Summary, t tool) error {
	if c.format == "json" {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "%s %s: %d datagrams, %d bytes in %.3fs; kernel drops %d, truncated %d, queue drops %d\n",
		s.Tool, s.Group, s.Datagrams, s.Bytes, s.Seconds, s.KernelDrops, s.Truncated, s.QueueDrops)
	t.text(w, s)
	return nil
}
