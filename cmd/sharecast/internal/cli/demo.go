package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/netns"
	"github.com/sharecast/sharecast/internal/wire"
	"github.com/sharecast/sharecast/mcast"
)

// envDemoInside is set in the demo's process that runs inside the private
// network namespace.
const envDemoInside = "SHARECAST_DEMO_NETNS"

type demoFlags struct {
	group     string
	receivers int
	handlers  int
	rate      float64
	duration  time.Duration
	size      int
}

func newDemoCmd(e *env) *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show many receivers sharing one group and port, in a private network namespace",
		Long: `demo shows what sharecast is for: several receivers on one host sharing one
group and one port, each getting every datagram.

It makes a private network namespace for itself (as root, or where
unprivileged user namespaces are allowed), where the only interface is its
own loopback, so nothing it sends can leave the host. There it starts
--receivers receiver processes and one process whose socket feeds
--handlers handlers through sharecast's dispatcher, all on the same group
and port, and sends --rate test datagrams a second for --duration. A live
table shows what each receiver has got; a summary follows, and demo exits 0
if every receiver got every datagram, in order and byte for byte, 1
otherwise. Without the rights to make a namespace it says what it needs and
exits 1.`,
		Example: `  sharecast demo
  go run ./cmd/sharecast demo
  sharecast demo --receivers 8 --handlers 4 --rate 5000 --duration 5s`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			spec, err := group.ParseSpec(f.group)
			if err != nil {
				return &usageError{fmt.Errorf("--group: %w", err)}
			}
			switch {
			case f.receivers < 0 || f.receivers > 64:
				return usagef("invalid argument %d for \"--receivers\" flag: want 0 to 64", f.receivers)
			case f.handlers < 0 || f.handlers > 64:
				return usagef("invalid argument %d for \"--handlers\" flag: want 0 to 64", f.handlers)
			case f.receivers+f.handlers == 0:
				return usagef("--receivers and --handlers are both 0: nobody to receive")
			case f.rate <= 0 || f.rate > 100_000:
				return usagef("invalid argument %g for \"--rate\" flag: want 1 to 100000", f.rate)
			case f.duration <= 0 || f.duration > time.Hour:
				return usagef("invalid argument %s for \"--duration\" flag: want up to 1h", f.duration)
			case f.size < wire.HeaderLen || f.size > 8192:
				return usagef("invalid argument %d for \"--size\" flag: want %d to 8192", f.size, wire.HeaderLen)
			}
			if os.Getenv(envDemoInside) == "" {
				return demoOutside(e, &f)
			}
			return demoInside(cmd.Context(), e, spec, &f)
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.group, "group", "239.1.2.3:5000", "the group and port that everyone shares")
	fs.IntVar(&f.receivers, "receivers", 4, "receiver processes, each with its own socket")
	fs.IntVar(&f.handlers, "handlers", 3, "handlers behind the dispatcher, in one more process (0: none)")
	fs.Float64Var(&f.rate, "rate", 1000, "datagrams a second")
	fs.DurationVar(&f.duration, "duration", 8*time.Second, "how long to send")
	fs.IntVar(&f.size, "size", 200, "datagram size in bytes")
	return cmd
}

// demoOutside runs the demo again inside a private network namespace.
func demoOutside(e *env, f *demoFlags) error {
	args := []string{"demo", "--log-level", e.logLevel, "--group", f.group, "--receivers", strconv.Itoa(f.receivers),
		"--handlers", strconv.Itoa(f.handlers), "--rate", strconv.FormatFloat(f.rate, 'g', -1, 64),
		"--duration", f.duration.String(), "--size", strconv.Itoa(f.size)}
	if e.logFormat != "" {
		args = append(args, "--log-format", e.logFormat)
	}
	cmd, err := netns.Command(args...)
	if err == nil {
		cmd.Env = append(cmd.Env, envDemoInside+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, e.stdout, e.stderr
		var code int
		if code, err = netns.ExitCode(cmd); err == nil {
			if code != 0 {
				return &exitError{code}
			}
			return nil
		}
	}
	fmt.Fprintf(e.stderr, "sharecast demo needs %s.\n", netns.Requirement)
	return fmt.Errorf("cannot make a network namespace: %w", err)
}

// demoReport is what a receiver says about its progress, a JSON line a
// report.
type demoReport struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	PID         int    `json:"pid"`
	Ready       bool   `json:"ready,omitempty"`
	Final       bool   `json:"final,omitempty"`
	Received    uint64 `json:"received"`
	Unique      uint64 `json:"unique"`
	Duplicates  uint64 `json:"duplicates"`
	Reordered   uint64 `json:"reordered"`
	Bad         uint64 `json:"bad"`
	KernelDrops uint64 `json:"kernel_drops"`
}

// demoProc is a receiver process of the demo.
type demoProc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan struct{}
	done  chan struct{} // its output has ended

	mu      sync.Mutex
	reports map[string]demoReport // by receiver name (a process with handlers has several)
	order   []string
}

func demoInside(ctx context.Context, e *env, spec group.Spec, f *demoFlags) error {
	if err := netns.CheckIsolated(); err != nil {
		return fmt.Errorf("refusing to send: %w", err)
	}
	if err := netns.SetupLoopback(); err != nil {
		return err
	}
	ifi, err := mcast.LoopbackInterface()
	if err != nil {
		return err
	}
	stream := rand.Uint64() | 1
	total := schedule{rate: f.rate}.within(f.duration)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var procs []*demoProc
	defer func() {
		for _, p := range procs {
			p.stdin.Close()
			_ = p.cmd.Process.Kill() // a receiver that has exited already makes this fail, harmlessly
			_ = p.cmd.Wait()         // its status is in its reports
		}
	}()
	start := func(name string, handlers int) error {
		args := []string{"__demo-receiver", "--log-level", e.logLevel, "--group", spec.String(), "--name", name,
			"--handlers", strconv.Itoa(handlers), "--count", strconv.FormatUint(total, 10),
			"--stream", strconv.FormatUint(stream, 10), "--size", strconv.Itoa(f.size)}
		if e.logFormat != "" {
			args = append(args, "--log-format", e.logFormat)
		}
		p := &demoProc{name: name, cmd: exec.Command(exe, args...), ready: make(chan struct{}), done: make(chan struct{}), reports: map[string]demoReport{}}
		p.cmd.Stderr = e.stderr
		p.cmd.SysProcAttr = childAttr()
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			return err
		}
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := p.cmd.Start(); err != nil {
			return fmt.Errorf("start receiver %s: %w", name, err)
		}
		procs = append(procs, p)
		go p.read(out, e)
		return nil
	}
	for i := range f.receivers {
		if err := start(fmt.Sprintf("r%d", i+1), 0); err != nil {
			return err
		}
	}
	if f.handlers > 0 {
		if err := start("d", f.handlers); err != nil {
			return err
		}
	}
	deadline := time.After(20 * time.Second)
	for _, p := range procs {
		select {
		case <-p.ready:
		case <-p.done:
			return fmt.Errorf("receiver %s exited before it was ready", p.name)
		case <-deadline:
			return fmt.Errorf("receiver %s not ready after 20s", p.name)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fmt.Fprintf(e.stdout, "sharecast demo: in a private network namespace, %d receiver processes and %d handlers behind one dispatcher share %s on %s.\n",
		f.receivers, f.handlers, spec.AddrPort(), ifi.Name)
	fmt.Fprintf(e.stdout, "Sending %d datagrams of %d bytes, %g a second, stream %016x.\n\n", total, f.size, f.rate, stream)

	s, err := newSender(spec.AddrPort(), ifi, netip.Addr{}, 1, true, -1)
	if err != nil {
		return err
	}
	defer s.uc.Close()
	type result struct {
		sent        uint64
		first, last time.Time
		err         error
	}
	sendDone := make(chan result, 1)
	go func() {
		var r result
		r.sent, r.first, r.last, _, r.err = s.sendStream(ctx, f.rate, total, f.size, stream)
		sendDone <- r
	}()

	tty := isTerminal(e.stdout)
	period := 2 * time.Second
	if tty {
		period = 250 * time.Millisecond
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	drawn := 0
	draw := func(final bool) {
		var b strings.Builder
		writeDemoTable(&b, procs, total, final)
		out := b.String()
		if tty && drawn > 0 {
			fmt.Fprintf(e.stdout, "\x1b[%dA\x1b[J", drawn)
		}
		io.WriteString(e.stdout, out)
		drawn = strings.Count(out, "\n")
		if !tty {
			io.WriteString(e.stdout, "\n")
			drawn = 0
		}
	}
	var sent result
	sending := true
	var settle <-chan time.Time
loop:
	for {
		select {
		case sent = <-sendDone:
			sending = false
			if sent.err != nil && ctx.Err() == nil {
				return sent.err
			}
			settle = time.After(3 * time.Second)
		case <-tick.C:
			if !sending && allGot(procs, total) {
				break loop // the final table follows
			}
			draw(false)
		case <-settle:
			break loop
		case <-ctx.Done():
			if sending {
				sent = <-sendDone
			}
			break loop
		}
	}
	// Ask each receiver for its final report: closing its input ends it.
	for _, p := range procs {
		p.stdin.Close()
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	draw(true)
	el := sent.last.Sub(sent.first)
	achieved := 0.0
	if sent.sent > 1 && el > 0 {
		achieved = float64(sent.sent-1) / el.Seconds()
	}
	fmt.Fprintf(e.stdout, "Sent %d datagrams in %s (%.1f a second).\n", sent.sent, el.Round(time.Millisecond), achieved)
	n, complete := 0, 0
	for _, p := range procs {
		for _, r := range p.final() {
			n++
			if r.Final && r.Unique == sent.sent && r.Received == sent.sent && r.Bad == 0 && r.Duplicates == 0 && r.Reordered == 0 {
				complete++
			}
		}
	}
	if sent.sent == total && complete == f.receivers+f.handlers && n == complete {
		fmt.Fprintf(e.stdout, "Every receiver got every datagram: %d receivers x %d datagrams, in order, byte for byte.\n", n, sent.sent)
		return nil
	}
	if ctx.Err() != nil {
		fmt.Fprintf(e.stdout, "Interrupted: %d of %d receivers got every datagram sent.\n", complete, f.receivers+f.handlers)
		return nil
	}
	fmt.Fprintf(e.stdout, "Not every receiver got every datagram: %d of %d did.\n", complete, f.receivers+f.handlers)
	return &exitError{ExitFailure}
}

// read takes the receiver's reports until its output ends.
func (p *demoProc) read(r io.Reader, e *env) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	readyOnce := sync.OnceFunc(func() { close(p.ready) })
	for sc.Scan() {
		var rep demoReport
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			e.log.Warn().Str("receiver", p.name).Str("line", sc.Text()).Msg("unreadable report")
			continue
		}
		if rep.Ready {
			readyOnce()
			continue
		}
		p.mu.Lock()
		if _, ok := p.reports[rep.Name]; !ok {
			p.order = append(p.order, rep.Name)
		}
		p.reports[rep.Name] = rep
		p.mu.Unlock()
	}
}

// final returns the latest report of each receiver of p.
func (p *demoProc) final() []demoReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]demoReport, 0, len(p.order))
	for _, n := range p.order {
		out = append(out, p.reports[n])
	}
	return out
}

func allGot(procs []*demoProc, total uint64) bool {
	for _, p := range procs {
		rs := p.final()
		if len(rs) == 0 {
			return false
		}
		for _, r := range rs {
			if r.Unique < total {
				return false
			}
		}
	}
	return true
}

func writeDemoTable(w io.Writer, procs []*demoProc, total uint64, final bool) {
	tw := newTable(w, tabwriter.AlignRight)
	fmt.Fprintln(tw, "receiver\tpid\tkind\treceived\tof\tmissing\tdup\treordered\tbad bytes\tkernel drops\t")
	for _, p := range procs {
		for _, r := range p.final() {
			missing := total - min(r.Unique, total)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Name, r.PID, r.Kind, r.Received, total, missing, r.Duplicates, r.Reordered, r.Bad, r.KernelDrops)
		}
	}
	tw.Flush()
}

// demoCheck checks one receiver's datagrams against what the demo sends.
// Its counters may be read while it runs.
type demoCheck struct {
	name, kind string
	stream     uint64
	size       int
	seen       []uint64 // bit per sequence number; written by one goroutine
	max        uint64

	received, unique, dup, reordered, bad atomic.Uint64
}

func newDemoCheck(name, kind string, stream uint64, size int, count uint64) *demoCheck {
	return &demoCheck{name: name, kind: kind, stream: stream, size: size, seen: make([]uint64, (count+63)/64)}
}

// check records one datagram. It is called by one goroutine at a time.
func (c *demoCheck) check(p []byte) {
	c.received.Add(1)
	h, err := wire.Decode(p)
	if err != nil || h.Stream != c.stream || len(p) != c.size || !wire.CheckFill(p[h.Len:], h.Seq) || h.Seq/64 >= uint64(len(c.seen)) {
		c.bad.Add(1)
		return
	}
	w, m := h.Seq/64, uint64(1)<<(h.Seq%64)
	if c.seen[w]&m != 0 {
		c.dup.Add(1)
		return
	}
	c.seen[w] |= m
	if h.Seq < c.max {
		c.reordered.Add(1)
	}
	c.max = max(c.max, h.Seq)
	c.unique.Add(1)
}

func (c *demoCheck) report(final bool, kernelDrops uint64) demoReport {
	return demoReport{Name: c.name, Kind: c.kind, PID: os.Getpid(), Final: final, Received: c.received.Load(), Unique: c.unique.Load(),
		Duplicates: c.dup.Load(), Reordered: c.reordered.Load(), Bad: c.bad.Load(), KernelDrops: kernelDrops}
}

// newDemoReceiverCmd is the hidden subcommand of the demo's receivers: it
// joins the group, checks each datagram, writes JSON reports to standard
// output every 200 ms, and a final one when its standard input ends.
func newDemoReceiverCmd(e *env) *cobra.Command {
	var groupText, name string
	var handlers, size int
	var count, stream uint64
	cmd := &cobra.Command{
		Use:    "__demo-receiver",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			spec, err := group.ParseSpec(groupText)
			if err != nil {
				return &usageError{err}
			}
			return demoReceive(cmd.Context(), e, spec, name, handlers, count, stream, size)
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&groupText, "group", "", "")
	fs.StringVar(&name, "name", "", "")
	fs.IntVar(&handlers, "handlers", 0, "")
	fs.Uint64Var(&count, "count", 0, "")
	fs.Uint64Var(&stream, "stream", 0, "")
	fs.IntVar(&size, "size", 0, "")
	return cmd
}

func demoReceive(ctx context.Context, e *env, spec group.Spec, name string, handlers int, count, stream uint64, size int) error {
	// A receiver process checks each datagram inline on its socket's
	// reader; the dispatcher's process gives each of its handlers a queue.
	var checks []*demoCheck
	var mux dispatch.Mux
	if handlers == 0 {
		checks = append(checks, newDemoCheck(name, "process", stream, size, count))
	}
	for i := range handlers {
		checks = append(checks, newDemoCheck(fmt.Sprintf("%s/h%d", name, i+1), fmt.Sprintf("handler %d", i+1), stream, size, count))
	}
	for _, c := range checks {
		hc := &dispatch.HandlerConfig{Name: c.name, Overflow: dispatch.Block}
		if handlers == 0 {
			hc = &dispatch.HandlerConfig{Name: c.name, Inline: true}
		}
		h := dispatch.HandlerFunc(func(_ context.Context, d *dispatch.Datagram) { c.check(d.Payload) })
		if err := mux.Handle(dispatch.Pattern{Group: spec.Group, Port: spec.Port}, h, hc); err != nil {
			return err
		}
	}
	r, err := dispatch.Listen(ctx, []string{spec.String()}, &mux, &dispatch.ListenConfig{ShutdownTimeout: 3 * time.Second, Logger: e.log})
	if err != nil {
		return listenError(err, mcast.ShareAnyUser)
	}
	defer r.Close()
	conn := r.Sockets()[0].Conn
	enc := json.NewEncoder(e.stdout)
	var encMu sync.Mutex
	reportAll := func(final bool) {
		drops := conn.Stats().KernelDrops
		encMu.Lock()
		defer encMu.Unlock()
		for _, c := range checks {
			_ = enc.Encode(c.report(final, drops)) // a demo that stopped reading has gone; nothing to tell it
		}
	}
	stopped := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, e.stdin) // the demo closes our input to stop us
		close(stopped)
	}()

	var readErr error
	readDone := make(chan struct{})
	sctx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServe()
	go func() {
		defer close(readDone)
		readErr = r.Serve(sctx)
	}()
	encMu.Lock()
	_ = enc.Encode(demoReport{Name: name, PID: os.Getpid(), Ready: true}) // as above
	encMu.Unlock()

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-tick.C:
			reportAll(false)
		case <-stopped:
			running = false
		case <-ctx.Done():
			running = false
		case <-readDone:
			running = false
		}
	}
	stopServe()
	<-readDone
	reportAll(true)
	var shut *dispatch.ShutdownError
	if errors.As(readErr, &shut) {
		return nil // a hard stop is counted in the handlers' drops; the final report shows what they got
	}
	return readErr
}
