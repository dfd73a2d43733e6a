package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/mcast"
)

// sessionFlags are the flags of a receiving subcommand besides recvFlags.
type sessionFlags struct {
	recvFlags
	count      uint64
	duration   time.Duration
	maxSilence time.Duration
	buffer     int
	metrics    string
	hub        string // read from this hub rather than from sockets (hubsession.go)
	nats       natsSessionFlags
}

func (f *sessionFlags) add(fs *pflag.FlagSet) {
	f.recvFlags.add(fs)
	fs.VarP(&countValue{v: &f.count}, "count", "c", "exit after this many datagrams, such as 100 or 10k (0: no limit)")
	fs.DurationVarP(&f.duration, "duration", "t", 0, "exit after this long, such as 10s or 5m (0: no limit)")
	f.buffer = dispatch.DefaultBufferSize
	fs.Var(&sizeValue{v: &f.buffer, min: 1, max: 65535}, "buffer", "longest datagram received whole, in bytes, such as 1500 or 64KiB; longer ones are dropped and counted as truncated")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (such as :9100 or 127.0.0.1:0)")
	fs.DurationVar(&f.maxSilence, "max-silence", 0, "exit with status 1 when a group has received nothing for this long, such as 5s (0: never), for scripts and health checks")
	f.addHub(fs)
	f.nats.add(fs)
}

// handlerSpec is a handler that a session serves.
type handlerSpec struct {
	name string
	h    dispatch.Handler
}

// session is a running receiver: a dispatch.Receiver (sockets that joined
// the groups, and the Server that reads them into the handlers), its serve
// loop, and the metrics.
type session struct {
	r       receiver
	socks   []dispatch.ReceiverSocket
	asked   int // receive buffer asked for, per socket
	srv     *dispatch.Server
	serve   chan error
	cancel  context.CancelFunc
	metrics *metricsServer
	// stopWatch stops the periodic look for co-tenants.
	stopWatch chan struct{}
	// watch knows when each group asked for last had a datagram;
	// maxSilence, if set, ends the session on a group silent longer.
	watch      *groupWatch
	maxSilence time.Duration
	// outFailed is closed when standard output fails: the session stops.
	outFailed <-chan struct{}
	start     time.Time
	// close closes what the session reads (r, or a NATS source);
	// summary, if set, adds lines of its own to writeSummary's.
	close   func() error
	summary func(io.Writer)
}

// startSession opens the sockets of specs through dispatch.Listen, serves
// every datagram to each handler (with back-pressure: a slow handler leaves
// datagrams in the socket, where the kernel counts what overflows), and
// serves metrics if asked.
func startSession(ctx context.Context, e *env, specs []string, f *sessionFlags, hs []handlerSpec, extra func(chan<- prometheus.Metric)) (_ *session, err error) {
	if f.buffer <= 0 || f.buffer > 65535 {
		return nil, usagef("invalid argument %d for \"--buffer\" flag: want 1 to 65535 bytes", f.buffer)
	}
	if f.duration < 0 {
		return nil, usagef("invalid argument %s for \"--duration\" flag: want a positive duration", f.duration)
	}
	if f.maxSilence < 0 {
		return nil, usagef("invalid argument %s for \"--max-silence\" flag: want a positive duration", f.maxSilence)
	}
	cfg, err := f.recvFlags.listenConfig(e.log)
	if err != nil {
		return nil, err
	}
	cfg.BufferSize = f.buffer
	watch := newGroupWatch(specs, time.Now())
	var mux dispatch.Mux
	for _, h := range hs {
		if err := mux.Handle(dispatch.Pattern{}, watch.middleware(h.h), &dispatch.HandlerConfig{Name: h.name, Overflow: dispatch.Block}); err != nil {
			return nil, err
		}
	}
	if f.nats.url != "" {
		return startNATSSession(ctx, e, f, &mux, watch, extra)
	}
	r, socks, srv, err := f.open(ctx, e, specs, &mux, cfg)
	if err != nil {
		return nil, err
	}
	s := &session{r: r, socks: socks, srv: srv, serve: make(chan error, 1), asked: cfg.ReadBuffer,
		watch: watch, maxSilence: f.maxSilence, outFailed: e.outFailed, close: r.Close}
	if s.asked == 0 {
		s.asked = mcast.DefaultReadBuffer
	}
	defer func() {
		if err != nil {
			s.metrics.stop()
			r.Close()
		}
	}()
	if f.metrics != "" {
		if s.metrics, err = serveMetrics(f.metrics, &metricsCollector{srv: s.srv, socks: s.socks, extra: extra}, e.log); err != nil {
			return nil, err
		}
	}
	ct := newCoTenants(s.socks, e.log)
	ct.check()
	s.stopWatch = make(chan struct{})
	go ct.watch(s.stopWatch)
	for _, so := range s.socks {
		var joined []string
		for _, m := range so.Set.List() {
			joined = append(joined, m.String())
		}
		e.log.Info().Str("socket", so.Name).Str("local", so.Conn.LocalAddr().String()).Stringer("share", so.Conn.Share()).
			Int("rcvbuf", so.Conn.ReadBufferGranted()).Strs("groups", joined).Msg("listening")
	}
	s.start = time.Now()
	watch.start = s.start
	var sctx context.Context
	sctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() { s.serve <- r.Serve(sctx) }()
	return s, nil
}

// wait blocks until ctx ends, done is closed, the duration passes or the
// server fails; then it drains the queues into the handlers (for at most
// dispatch.DefaultShutdownTimeout), closes the sockets and returns the
// final counters.
func (s *session) wait(ctx context.Context, done <-chan struct{}, duration time.Duration) (dispatch.Stats, error) {
	var timeout <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration - time.Since(s.start))
		defer t.Stop()
		timeout = t.C
	}
	var silence <-chan time.Time
	if s.maxSilence > 0 {
		t := time.NewTicker(min(s.maxSilence/4, time.Second))
		defer t.Stop()
		silence = t.C
	}
	var err, stopErr error
wait:
	for {
		select {
		case <-ctx.Done():
		case <-done:
		case <-timeout:
		case <-s.outFailed: // Run reports the write error
		case now := <-silence:
			if stopErr = s.watch.check(s.maxSilence, now); stopErr == nil {
				continue
			}
		case err = <-s.serve:
			s.serve <- err
		}
		break wait
	}
	s.cancel()
	close(s.stopWatch)
	err = <-s.serve
	st := s.srv.Stats()
	s.metrics.stop()
	if cerr := s.close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = stopErr
	}
	return st, err
}

// writeSummary writes the closing summary of a receiving subcommand:
// totals, then a line per socket.
func (s *session) writeSummary(w io.Writer, what string, st dispatch.Stats) {
	var n, bytes, drops, trunc, filt uint64
	var rcvbuf []string
	for _, ss := range st.Sockets {
		n += ss.Datagrams
		bytes += ss.Bytes
		if k := ss.Kernel; k != nil {
			drops += k.KernelDrops
			trunc += k.Truncated
			filt += k.Filtered
		}
	}
	for _, so := range s.socks {
		rcvbuf = append(rcvbuf, fmt.Sprint(so.Conn.ReadBufferGranted()))
	}
	granted := "; receive buffer " + strings.Join(rcvbuf, ", ") + " bytes granted"
	if len(rcvbuf) == 0 {
		granted = "" // from a hub or NATS: no socket of its own
	}
	fmt.Fprintf(w, "%s: received %s, %s in %s; kernel drops %d, truncated %d, filtered %d%s\n",
		what, plural(n, "datagram"), plural(bytes, "byte"), time.Since(s.start).Round(time.Millisecond), drops, trunc, filt, granted)
	sockets := st.Sockets
	if hr, ok := s.r.(*hubReceiver); ok {
		hr.writeSummary(w, st) // its rings, in place of sockets
		sockets = nil
	}
	for _, ss := range sockets {
		var k struct{ drops, trunc, filt uint64 }
		if ss.Kernel != nil {
			k.drops, k.trunc, k.filt = ss.Kernel.KernelDrops, ss.Kernel.Truncated, ss.Kernel.Filtered
		}
		// A feed with no socket (a NATS subject) has no receive buffer
		// to report.
		buf := ""
		for _, so := range s.socks {
			if so.Name == ss.Name && so.Conn != nil {
				buf = fmt.Sprintf(", receive buffer granted %d (asked %d; SO_RCVBUF reports %d)", so.Conn.ReadBufferGranted(), s.asked, so.Conn.ReadBuffer())
			}
		}
		fmt.Fprintf(w, "  socket %s (%s): received %d, bytes %d, kernel drops %d, truncated %d, filtered %d, read errors %d%s\n",
			ss.Name, ss.Local, ss.Datagrams, ss.Bytes, k.drops, k.trunc, k.filt, ss.ReadErrors, buf)
	}
	if s.summary != nil {
		s.summary(w)
	}
	// What the handlers did with what the sockets read: together with the
	// socket lines, every datagram that reached the host is accounted for.
	for _, h := range st.Handlers {
		d := h.Drops
		fmt.Fprintf(w, "  handler %s: received %d, delivered %d, dropped %d (queue full %d, evicted %d, panic %d, shutdown %d)\n",
			h.Name, h.Received, h.Delivered, d.Total(), d.QueueFull, d.Evicted, d.Panic, d.Shutdown)
	}
}
