//go:build linux

package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/wire"
	"github.com/sharecast/sharecast/mcast"
)

// minSize is the smallest datagram: the sharecast test header.
const minSize = wire.HeaderLen

// ReadBuffer is the receive buffer every receiver asks for, the C one
// included (SO_RCVBUFFORCE where allowed, as mcast does).
const ReadBuffer = 4 << 20

// maxLatency caps the latency histogram (ns).
const maxLatency = int64(60 * time.Second)

// ProcReport is what one receiver process reports on exit, as one JSON
// line on its stdout. The C receiver writes the same shape.
type ProcReport struct {
	Kind    Kind           `json:"kind"`
	PID     int            `json:"pid"`
	CPUNs   int64          `json:"cpu_ns"` // user + system, from ready to the end
	Allocs  int64          `json:"allocs"` // heap allocations in that window; -1: not measured (C)
	Sockets []SocketReport `json:"sockets"`
}

// SocketReport is one socket's figures.
type SocketReport struct {
	Received  uint64 `json:"received"`  // datagrams of this run's stream that the receiver handled
	Bytes     uint64 `json:"bytes"`     // their bytes
	Drops     uint64 `json:"drops"`     // the kernel's drops (receive buffer full)
	QDrops    uint64 `json:"qdrops"`    // dropped by a dispatch queue (sharecast only)
	Truncated uint64 `json:"truncated"` // longer than the buffer
	Foreign   uint64 `json:"foreign"`   // not of this run's stream, or filtered
	P50       int64  `json:"p50_ns"`    // latency percentiles, ns
	P99       int64  `json:"p99_ns"`
	Max       int64  `json:"max_ns"`
}

// tally is what a receiver does with each datagram, the same in every Go
// receiver (and in the C one): decode the header, check the stream, count,
// and record the latency from the sender's time to a clock read now.
// One goroutine at a time uses a tally.
type tally struct {
	stream                       uint64
	received, bytes, foreign, tr uint64
	hist                         *hdrhistogram.Histogram
}

func newTally(stream uint64) *tally {
	return &tally{stream: stream, hist: hdrhistogram.New(1, maxLatency, 3)}
}

func (t *tally) add(p []byte) {
	h, err := wire.Decode(p)
	if err != nil || h.Stream != t.stream {
		t.foreign++
		return
	}
	lat := time.Now().UnixNano() - h.SendTime
	lat = min(max(lat, 1), maxLatency)
	_ = t.hist.RecordValue(lat) // in range: cannot fail
	t.received++
	t.bytes += uint64(len(p))
}

func (t *tally) report() SocketReport {
	r := SocketReport{Received: t.received, Bytes: t.bytes, Foreign: t.foreign, Truncated: t.tr}
	if t.hist.TotalCount() > 0 {
		r.P50, r.P99, r.Max = t.hist.ValueAtQuantile(50), t.hist.ValueAtQuantile(99), t.hist.Max()
	}
	return r
}

// receiver is one Go receiver process's sockets.
type receiver interface {
	// start begins reading; stop ends it (after the kernel's queues were
	// drained) and waits for the readers.
	start() error
	stop() error
	reports() []SocketReport
	close()
}

// RecvMain is the receiver role of the harness binary: it opens the
// sockets, says "ready", reads until stdin says anything or closes, and
// prints a ProcReport. It returns the exit status.
func RecvMain(args []string) int {
	fs := flag.NewFlagSet("recv", flag.ContinueOnError)
	kind := fs.String("kind", "", "sharecast, sharecast-queued, mcast or stdlib")
	n := fs.Int("n", 1, "sockets")
	group := fs.String("group", "", "group:port")
	stream := fs.Uint64("stream", 0, "stream id of this run")
	life := fs.Duration("life", time.Minute, "exit after this long whatever happens")
	profile := fs.String("profile", "", "CPU profile to write")
	queue := fs.Int("queue", 0, "sharecast-queued: handler queue length (0: dispatch's default)")
	hubWake := fs.Duration("hub-wake", 0, "hub-writer: the hub's wake interval (0: the hub's default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := recvMain(Kind(*kind), *n, *group, *stream, *queue, *hubWake, *life, *profile, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "recv %s: %v\n", *kind, err)
		return 1
	}
	return 0
}

func recvMain(kind Kind, n int, group string, stream uint64, queue int, hubWake, life time.Duration, profile string, in io.Reader, out io.Writer) error {
	g, err := netip.ParseAddrPort(group)
	if err != nil {
		return err
	}
	if n < 1 || n > MaxSockets {
		return fmt.Errorf("%d sockets", n)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	var r receiver
	switch kind {
	case KindSharecast:
		r, err = newSharecastRecv(n, g, lo, stream, &dispatch.HandlerConfig{Inline: true})
	case KindSharecastQueued:
		r, err = newSharecastRecv(n, g, lo, stream, &dispatch.HandlerConfig{Overflow: dispatch.Block, QueueLen: queue})
	case KindMcast:
		r, err = newMcastRecv(n, g, lo, stream)
	case KindStdlib:
		r, err = newStdlibRecv(n, g, lo, stream)
	case KindHub:
		r, err = newHubRecv(n, g, stream)
	case kindHubWriter:
		r, err = newHubWriter(g, lo, hubWake)
	default:
		err = fmt.Errorf("unknown receiver kind %q", kind)
	}
	if err != nil {
		return err
	}
	defer r.close()
	if err := r.start(); err != nil {
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}

	// Wait for the word to stop (any line, or EOF), bounded by life.
	stopc := make(chan struct{})
	go func() {
		bufio.NewReader(in).ReadString('\n')
		close(stopc)
	}()
	t := time.NewTimer(life)
	select {
	case <-stopc:
	case <-t.C:
	}
	t.Stop()
	stopErr := r.stop()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	rep := ProcReport{Kind: kind, PID: os.Getpid(), CPUNs: int64(cpu),
		Allocs: int64(ms1.Mallocs - ms0.Mallocs), Sockets: r.reports()}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "%s\n", b); err != nil {
		return err
	}
	return stopErr
}

// stopped reports whether err ends a read loop as the stop asked: the
// deadline that stop set, or a closed socket.
func stopped(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed)
}

// mcastRecv reads each socket with ReadBatch in a goroutine of its own.
type mcastRecv struct {
	conns  []*mcast.Conn
	tally  []*tally
	wg     sync.WaitGroup
	errs   []error
	stream uint64
}

func openMcast(n int, g netip.AddrPort, lo *net.Interface) ([]*mcast.Conn, error) {
	var conns []*mcast.Conn
	for range n {
		c, err := mcast.Listen(context.Background(), "udp4", fmt.Sprintf(":%d", g.Port()),
			&mcast.Config{ReadBuffer: ReadBuffer})
		if err == nil {
			conns = append(conns, c)
			err = c.JoinGroup(lo, g.Addr())
		}
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
	}
	return conns, nil
}

func newMcastRecv(n int, g netip.AddrPort, lo *net.Interface, stream uint64) (*mcastRecv, error) {
	conns, err := openMcast(n, g, lo)
	if err != nil {
		return nil, err
	}
	r := &mcastRecv{conns: conns, errs: make([]error, n), stream: stream}
	for range n {
		r.tally = append(r.tally, newTally(stream))
	}
	return r, nil
}

func (r *mcastRecv) start() error {
	for i, c := range r.conns {
		r.wg.Go(func() { r.errs[i] = r.read(c, r.tally[i]) })
	}
	return nil
}

func (r *mcastRecv) read(c *mcast.Conn, t *tally) error {
	ds := mcast.NewBatch(c.BatchSize(), BufferSize)
	for {
		n, err := c.ReadBatch(ds)
		for i := range n {
			t.add(ds[i].Payload)
		}
		if err != nil {
			if stopped(err) {
				return nil
			}
			return err
		}
	}
}

func (r *mcastRecv) stop() error {
	now := time.Now()
	for _, c := range r.conns {
		c.SetReadDeadline(now)
	}
	r.wg.Wait()
	return errors.Join(r.errs...)
}

func (r *mcastRecv) reports() []SocketReport {
	var out []SocketReport
	for i, c := range r.conns {
		rep := r.tally[i].report()
		st := c.Stats()
		rep.Drops, rep.Truncated, rep.Foreign = st.KernelDrops, st.Truncated, rep.Foreign+st.Filtered
		out = append(out, rep)
	}
	return out
}

func (r *mcastRecv) close() {
	for _, c := range r.conns {
		c.Close()
	}
}

// sharecastRecv gives each socket a dispatch.Receiver of its own with one
// handler, so that N sockets in one process are N independent receivers,
// as N processes are. The handler is inline, or queued with overflow Block:
// either way a slow handler holds up the socket rather than drop, so that
// every loss shows as a kernel drop on the socket.
type sharecastRecv struct {
	rs     []*dispatch.Receiver
	tally  []*tally
	wg     sync.WaitGroup
	errs   []error
	cancel context.CancelFunc
}

func newSharecastRecv(n int, g netip.AddrPort, lo *net.Interface, stream uint64, hc *dispatch.HandlerConfig) (*sharecastRecv, error) {
	r := &sharecastRecv{errs: make([]error, n)}
	spec := g.String() + "%" + lo.Name
	for range n {
		t := newTally(stream)
		var m dispatch.Mux
		err := m.HandleFunc(dispatch.Pattern{Group: g.Addr()}, func(_ context.Context, d *dispatch.Datagram) {
			t.add(d.Payload)
		}, hc)
		var rcv *dispatch.Receiver
		if err == nil {
			// Each Listen opens a socket of its own on the port.
			rcv, err = dispatch.Listen(context.Background(), []string{spec}, &m, &dispatch.ListenConfig{
				ReadBuffer: ReadBuffer, BufferSize: BufferSize, ShutdownTimeout: 10 * time.Second, NoWatch: true,
			})
		}
		if err != nil {
			r.close()
			return nil, err
		}
		r.rs = append(r.rs, rcv)
		r.tally = append(r.tally, t)
	}
	return r, nil
}

func (r *sharecastRecv) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for i, rcv := range r.rs {
		r.wg.Go(func() { r.errs[i] = rcv.Serve(ctx) })
	}
	return nil
}

// stop ends every Receiver's Serve, which drains its queue.
func (r *sharecastRecv) stop() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	return errors.Join(r.errs...)
}

func (r *sharecastRecv) reports() []SocketReport {
	var out []SocketReport
	for i, rcv := range r.rs {
		rep := r.tally[i].report()
		st := rcv.Sockets()[0].Conn.Stats()
		rep.Drops, rep.Truncated, rep.Foreign = st.KernelDrops, st.Truncated, rep.Foreign+st.Filtered
		for _, h := range rcv.Stats().Handlers {
			rep.QDrops += h.Drops.Total()
		}
		out = append(out, rep)
	}
	return out
}

func (r *sharecastRecv) close() {
	for _, rcv := range r.rs {
		rcv.Close()
	}
}

// stdlibRecv is what the standard library offers: ListenMulticastUDP and
// ReadFromUDP, one datagram a call, a goroutine per socket. Its receive
// buffer is raised to ReadBuffer as the others' (SetReadBuffer alone stops
// at net.core.rmem_max).
type stdlibRecv struct {
	conns []*net.UDPConn
	tally []*tally
	wg    sync.WaitGroup
	errs  []error
}

func newStdlibRecv(n int, g netip.AddrPort, lo *net.Interface, stream uint64) (*stdlibRecv, error) {
	r := &stdlibRecv{errs: make([]error, n)}
	for range n {
		c, err := net.ListenMulticastUDP("udp4", lo, net.UDPAddrFromAddrPort(g))
		if err == nil {
			r.conns = append(r.conns, c)
			err = forceReadBuffer(c, ReadBuffer)
		}
		if err != nil {
			r.close()
			return nil, err
		}
		r.tally = append(r.tally, newTally(stream))
	}
	return r, nil
}

func (r *stdlibRecv) start() error {
	for i, c := range r.conns {
		r.wg.Go(func() { r.errs[i] = r.read(c, r.tally[i]) })
	}
	return nil
}

func (r *stdlibRecv) read(c *net.UDPConn, t *tally) error {
	buf := make([]byte, BufferSize)
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			if stopped(err) {
				return nil
			}
			return err
		}
		if n == len(buf) { // ReadFromUDP cannot tell; a full buffer may be cut short
			t.tr++
			continue
		}
		t.add(buf[:n])
	}
}

func (r *stdlibRecv) stop() error {
	now := time.Now()
	for _, c := range r.conns {
		c.SetReadDeadline(now)
	}
	r.wg.Wait()
	return errors.Join(r.errs...)
}

func (r *stdlibRecv) reports() []SocketReport {
	var out []SocketReport
	for i, c := range r.conns {
		rep := r.tally[i].report()
		rep.Drops = udpDrops(c)
		out = append(out, rep)
	}
	return out
}

func (r *stdlibRecv) close() {
	for _, c := range r.conns {
		c.Close()
	}
}
