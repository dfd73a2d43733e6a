package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
)

// The metrics that --metrics serves. They are read from the counters that
// mcast and dispatch keep anyway (mcast.Conn.Stats, dispatch.Server.Stats)
// when Prometheus scrapes, so they cost nothing per datagram.
var (
	mSockDatagrams = prometheus.NewDesc("sharecast_socket_datagrams_total", "Datagrams read from the socket.", []string{"socket", "local"}, nil)
	mSockBytes     = prometheus.NewDesc("sharecast_socket_bytes_total", "Payload bytes read from the socket.", []string{"socket", "local"}, nil)
	mSockDrops     = prometheus.NewDesc("sharecast_socket_kernel_drops_total", "Datagrams the kernel dropped for the socket because its receive buffer was full.", []string{"socket", "local"}, nil)
	mSockTrunc     = prometheus.NewDesc("sharecast_socket_truncated_total", "Datagrams longer than the receive buffer, dropped.", []string{"socket", "local"}, nil)
	mSockFiltered  = prometheus.NewDesc("sharecast_socket_filtered_total", "Datagrams to a group the socket did not join (or unicast), dropped.", []string{"socket", "local"}, nil)
	mSockErrors    = prometheus.NewDesc("sharecast_socket_read_errors_total", "Failed reads.", []string{"socket", "local"}, nil)
	mSockRcvbuf    = prometheus.NewDesc("sharecast_socket_receive_buffer_bytes", "Receive buffer granted by the kernel for datagrams (on Linux half of what SO_RCVBUF reports, the rest being its bookkeeping allowance).", []string{"socket", "local"}, nil)

	mGroupDatagrams = prometheus.NewDesc("sharecast_group_datagrams_total", "Datagrams received for the group and port.", []string{"group", "port"}, nil)
	mGroupBytes     = prometheus.NewDesc("sharecast_group_bytes_total", "Payload bytes received for the group and port.", []string{"group", "port"}, nil)

	mHandlerReceived  = prometheus.NewDesc("sharecast_handler_received_total", "Datagrams queued for the handler.", []string{"handler"}, nil)
	mHandlerDelivered = prometheus.NewDesc("sharecast_handler_delivered_total", "Datagrams the handler finished.", []string{"handler"}, nil)
	mHandlerDropped   = prometheus.NewDesc("sharecast_handler_dropped_total", "Datagrams dropped before the handler got them, by cause.", []string{"handler", "cause"}, nil)
	mHandlerQueued    = prometheus.NewDesc("sharecast_handler_queued", "Datagrams waiting in the handler's queue.", []string{"handler"}, nil)
)

// metricsCollector is a prometheus.Collector over a running receiver.
type metricsCollector struct {
	srv   *dispatch.Server
	socks []dispatch.ReceiverSocket
	// extra adds the metrics of a subcommand (stat's sequence counters).
	extra func(ch chan<- prometheus.Metric)
	descs []*prometheus.Desc
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mSockDatagrams, mSockBytes, mSockDrops, mSockTrunc, mSockFiltered, mSockErrors, mSockRcvbuf,
		mGroupDatagrams, mGroupBytes, mHandlerReceived, mHandlerDelivered, mHandlerDropped, mHandlerQueued} {
		ch <- d
	}
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range st.Sockets {
		local := s.Local.String()
		counter(mSockDatagrams, s.Datagrams, s.Name, local)
		counter(mSockBytes, s.Bytes, s.Name, local)
		counter(mSockErrors, s.ReadErrors, s.Name, local)
		if k := s.Kernel; k != nil {
			counter(mSockDrops, k.KernelDrops, s.Name, local)
			counter(mSockTrunc, k.Truncated, s.Name, local)
			counter(mSockFiltered, k.Filtered, s.Name, local)
		}
		for _, so := range c.socks {
			if so.Name == s.Name {
				ch <- prometheus.MustNewConstMetric(mSockRcvbuf, prometheus.GaugeValue, float64(so.Conn.ReadBufferGranted()), s.Name, local)
			}
		}
	}
	for _, g := range st.Groups {
		port := strconv.Itoa(int(g.Port))
		counter(mGroupDatagrams, g.Datagrams, g.Group.String(), port)
		counter(mGroupBytes, g.Bytes, g.Group.String(), port)
	}
	for _, h := range st.Handlers {
		counter(mHandlerReceived, h.Received, h.Name)
		counter(mHandlerDelivered, h.Delivered, h.Name)
		for _, d := range []struct {
			cause string
			n     uint64
		}{{"queue_full", h.Drops.QueueFull}, {"evicted", h.Drops.Evicted}, {"panic", h.Drops.Panic}, {"shutdown", h.Drops.Shutdown}} {
			counter(mHandlerDropped, d.n, h.Name, d.cause)
		}
		ch <- prometheus.MustNewConstMetric(mHandlerQueued, prometheus.GaugeValue, float64(h.Queued), h.Name)
	}
	if c.extra != nil {
		c.extra(ch)
	}
}

// metricsServer serves /metrics on addr until stopped.
type metricsServer struct {
	srv  *http.Server
	done chan error
}

// serveMetrics starts serving the collector's metrics (and the Go
// runtime's) at http://addr/metrics.
func serveMetrics(addr string, c prometheus.Collector, log zerolog.Logger) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		// A bad address is the command line's fault; a port that another
		// program holds, or a lack of rights, is a run-time failure (exit 1).
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, &usageError{fmt.Errorf("invalid argument %q for \"--metrics\" flag: %w", addr, err)}
		}
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ms := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { ms.done <- ms.srv.Serve(ln) }()
	log.Info().Str("addr", ln.Addr().String()).Str("url", "http://"+ln.Addr().String()+"/metrics").Msg("serving metrics")
	return ms, nil
}

// stop shuts the server down, waiting up to a second for scrapes in
// progress.
func (ms *metricsServer) stop() {
	if ms == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = ms.srv.Shutdown(ctx) // past the timeout, a scrape in progress is cut off; nothing to report
	<-ms.done                // http.ErrServerClosed, after Shutdown
}
