package hub_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/hub"
	"github.com/sharecast/sharecast/internal/testbed"
)

// Every test datagram: its number (8 bytes), its stream (8 bytes), then
// bytes that follow from the number, 16 + n%113 bytes in all.
func payload(buf []byte, stream, n uint64) []byte {
	b := buf[:16+n%113]
	binary.BigEndian.PutUint64(b, n)
	binary.BigEndian.PutUint64(b[8:], stream)
	for j := 16; j < len(b); j++ {
		b[j] = byte(n*7 + uint64(j))
	}
	return b
}

// checkPayload returns the number and stream of a test datagram, or an
// error if its bytes are not what payload makes.
func checkPayload(b []byte) (n, stream uint64, err error) {
	if len(b) < 16 {
		return 0, 0, fmt.Errorf("datagram of %d bytes", len(b))
	}
	n, stream = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	var want [256]byte
	if w := payload(want[:], stream, n); string(w) != string(b) {
		return n, stream, fmt.Errorf("datagram %d of stream %d: %d bytes differ from the %d sent", n, stream, len(b), len(w))
	}
	return n, stream, nil
}

// chain folds a datagram, with its metadata, into a running digest (FNV-1a
// 64), so that two receivers that saw the same datagrams in the same order
// with the same metadata end with the same value.
func chain(h uint64, d *dispatch.Datagram) uint64 {
	const prime = 1099511628211
	mixb := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= prime
		}
	}
	mixu := func(v uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		mixb(b[:])
	}
	mixu(uint64(len(d.Payload)))
	mixb(d.Payload)
	s, g := d.Source.Addr().As16(), d.Group.As16()
	mixb(s[:])
	mixb(g[:])
	mixu(uint64(d.Source.Port()))
	mixu(uint64(d.Port))
	mixu(uint64(d.IfIndex))
	mixu(uint64(int64(d.TTL)))
	mixu(uint64(d.Time.UnixNano()))
	return h
}

const chainInit = 14695981039346656037

// tally is what a receiver saw: count, digest, gaps in the numbers.
type tally struct {
	mu      sync.Mutex
	n       uint64
	hash    uint64
	next    uint64
	gaps    []string
	bad     []string
	streams map[uint64]uint64
}

func newTally() *tally { return &tally{hash: chainInit, streams: map[uint64]uint64{}} }

func (t *tally) add(d *dispatch.Datagram) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, stream, err := checkPayload(d.Payload)
	if err != nil {
		if len(t.bad) < 5 {
			t.bad = append(t.bad, err.Error())
		}
		return
	}
	if t.n > 0 && n != t.next || t.n == 0 && n != 0 {
		from := t.next
		if t.n == 0 {
			from = 0
		}
		if len(t.gaps) < 20 {
			t.gaps = append(t.gaps, fmt.Sprintf("%d-%d", from, n))
		}
	}
	t.next = n + 1
	t.n++
	t.streams[stream]++
	t.hash = chain(t.hash, d)
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := strings.Join(t.gaps, ",")
	if g == "" {
		g = "none"
	}
	b := strings.Join(t.bad, ";")
	if b == "" {
		b = "none"
	}
	return fmt.Sprintf("n=%d hash=%x gaps=%s bad=%s", t.n, t.hash, g, b)
}

func init() {
	testbed.Register("consumer", consumerMain)
	testbed.Register("hub", hubMain)
	testbed.Register("socket", socketMain)
}

// consumerMain attaches to a hub and serves a tally from it, through a
// dispatch.Server, until the hub goes; then it prints
// "result n=... hash=... gaps=... bad=... overrun=... truncated=...".
// Lines on stdout say how far it got: "attached", "reading" (first
// datagram), "gated" (with -gate K: after K datagrams it waits for a line
// on stdin before it goes on). Exit status 3: access denied, 4: untrusted
// hub, 5: no hub.
func consumerMain(args []string) int {
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	name := fs.String("name", "", "hub name")
	queued := fs.Bool("queued", false, "queued handler rather than inline")
	gate := fs.Uint64("gate", 0, "wait for a line on stdin after this many datagrams")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := hub.Attach(*name, nil)
	switch {
	case errors.Is(err, hub.ErrAccessDenied):
		fmt.Println("denied:", err)
		return 3
	case errors.Is(err, hub.ErrUntrustedHub):
		fmt.Println("untrusted:", err)
		return 4
	case errors.Is(err, hub.ErrNoHub):
		fmt.Println("nohub:", err)
		return 5
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Printf("attached slot=%d\n", c.Slot())
	tl := newTally()
	var once sync.Once
	stdin := bufio.NewReader(os.Stdin)
	h := dispatch.HandlerFunc(func(ctx context.Context, d *dispatch.Datagram) {
		tl.add(d)
		once.Do(func() { fmt.Println("reading") })
		if *gate > 0 && tl.n == *gate {
			fmt.Println("gated")
			stdin.ReadString('\n')
		}
	})
	var mux dispatch.Mux
	hc := &dispatch.HandlerConfig{Inline: true}
	if *queued {
		hc = &dispatch.HandlerConfig{QueueLen: 4096, Overflow: dispatch.Block}
	}
	if err := mux.Handle(dispatch.Pattern{}, h, hc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := dispatch.NewServer(&mux, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := c.AddTo(srv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err = srv.Serve(ctx)
	if err != nil && !errors.Is(err, hub.ErrHubGone) {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	var overrun, trunc uint64
	for _, s := range c.Sources() {
		overrun += s.Overrun()
		trunc += s.Stats().Truncated
	}
	fmt.Printf("result %s overrun=%d truncated=%d gone=%v\n", tl, overrun, trunc, errors.Is(err, hub.ErrHubGone))
	return 0
}

// hubMain runs a hub: -name, -slots, and the group specs as arguments. It
// prints "ready pid=N" once consumers may attach, and runs until killed or
// SIGTERM.
func hubMain(args []string) int {
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	name := fs.String("name", "", "hub name")
	slots := fs.Int("slots", 0, "ring slots")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	h, err := hub.Listen(ctx, fs.Args(), &hub.Config{Name: *name, Slots: *slots})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer h.Close()
	fmt.Printf("ready pid=%d\n", os.Getpid())
	if err := h.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// socketMain is an ordinary receiver on the port, beside the hub: it
// serves a tally from its own socket until SIGTERM, then prints "result
// ...". It prints "ready" once it has joined.
func socketMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	tl := newTally()
	r, err := dispatch.Listen(ctx, args, dispatch.HandlerFunc(func(ctx context.Context, d *dispatch.Datagram) { tl.add(d) }),
		&dispatch.ListenConfig{Handler: &dispatch.HandlerConfig{Inline: true}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	fmt.Println("ready")
	if err := r.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("result %s\n", tl)
	return 0
}

// proc is a helper process whose stdout lines arrive on a channel.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	stdin io.WriteCloser
	raw   io.Reader

	rawBuf  []byte
	rawDone chan error
	done    chan error
}

// start starts cmd (from testbed.Command) and kills it when the test ends.
func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 64), stdin: in, done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// startRaw starts cmd, whose stdout is read by readAll, and kills it when
// the test ends.
func startRaw(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, raw: out, done: make(chan error, 1)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return p
}

// collect starts reading n bytes of the process's stdout (at once, so
// that the pipe never fills); readAll returns them.
func (p *proc) collect(n int) {
	p.rawBuf = make([]byte, n)
	p.rawDone = make(chan error, 1)
	go func() { _, err := io.ReadFull(p.raw, p.rawBuf); p.rawDone <- err }()
}

// readAll returns the bytes that collect asked for, once read.
func (p *proc) readAll(t *testing.T) []byte {
	t.Helper()
	select {
	case err := <-p.rawDone:
		if err != nil {
			t.Fatalf("%s: %v", p.cmd.Args[0], err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: %d bytes not read after 2 minutes", p.cmd.Args[0], len(p.rawBuf))
	}
	return p.rawBuf
}

// expect waits for a line that starts with prefix and returns it; other
// lines are logged.
func (p *proc) expect(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s: exited before printing %q", p.cmd.Args[0], prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
			t.Logf("%s", l)
		case <-deadline:
			t.Fatalf("no line %q after 2 minutes", prefix)
		}
	}
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	for range p.lines {
	}
	select {
	case err := <-p.done:
		p.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		t.Fatal("process did not exit")
	}
	return -1
}

// field returns the value of key=value in a result line.
func field(t *testing.T, line, key string) string {
	t.Helper()
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s= in %q", key, line)
	return ""
}

func fieldU(t *testing.T, line, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(field(t, line, key), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// startHub starts a hub in the test process with a tap that tallies what
// it wrote; it is closed when the test ends.
func startHub(t *testing.T, specs []string, cfg *hub.Config) (*hub.Hub, *tally) {
	t.Helper()
	h, err := hub.Listen(context.Background(), specs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tl := newTally()
	hub.SetTap(h, tl.add)
	served := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { served <- h.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("hub serve: %v", err)
		}
		h.Close()
	})
	return h, tl
}

// send sends datagrams from..to-1 of stream, in bursts, waiting between
// bursts until the receive queues on the port are nearly empty.
func send(t *testing.T, s *testbed.Sender, stream, from, to uint64) {
	t.Helper()
	var buf [256]byte
	for n := from; n < to; n++ {
		if err := s.Send(payload(buf[:], stream, n)); err != nil {
			t.Fatal(err)
		}
		if (n-from)%200 == 199 {
			if err := testbed.Pace(s.Group().Port(), 32<<10, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := testbed.Pace(s.Group().Port(), 1, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// until polls cond (the hub's counters, which change without a signal to
// wait on) until it holds, failing after a minute.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after a minute", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
