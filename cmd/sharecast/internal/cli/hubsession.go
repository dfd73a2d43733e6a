package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/hub"
	"github.com/sharecast/sharecast/mcast"
)

// receiver is what a session reads: a dispatch.Receiver (sockets of its
// own) or a hubReceiver (--hub).
type receiver interface {
	Serve(ctx context.Context) error
	Stats() dispatch.Stats
	Close() error
}

func (f *sessionFlags) addHub(fs *pflag.FlagSet) {
	fs.StringVar(&f.hub, "hub", "", "read the datagrams from the hub of this name (see sharecast hub) rather than from a socket of its own; GROUP arguments are then optional and select among the hub's groups")
}

// parseSpecs checks the group specs of the command line; with --hub there
// may be none (every group of the hub).
func (f *sessionFlags) parseSpecs(args []string) ([]string, error) {
	if f.hub == "" {
		return f.nats.specs(args)
	}
	if f.nats.url != "" {
		return nil, usagef("--hub and --nats name two feeds: give one")
	}
	if len(args) == 0 {
		return nil, nil
	}
	return parseSpecs(args)
}

// open opens what the session reads: sockets that join the groups of
// specs, or with --hub an attachment to the hub.
func (f *sessionFlags) open(ctx context.Context, e *env, specs []string, mux *dispatch.Mux, cfg *dispatch.ListenConfig) (receiver, []dispatch.ReceiverSocket, *dispatch.Server, error) {
	if f.hub == "" {
		r, err := dispatch.Listen(ctx, specs, mux, cfg)
		if err != nil {
			return nil, nil, nil, listenError(err, cfg.Share)
		}
		return r, r.Sockets(), r.Server(), nil
	}
	if len(f.ifaces) > 0 || f.share != "any" || f.rcvbuf != 0 {
		return nil, nil, nil, usagef("--hub reads the hub's sockets: -i, --share and --rcvbuf belong to sharecast hub")
	}
	keep := make(map[netip.AddrPort]bool)
	for _, sp := range specs {
		s, err := group.ParseSpec(sp)
		if err != nil {
			return nil, nil, nil, &usageError{err}
		}
		keep[netip.AddrPortFrom(s.Group, s.Port)] = true
	}
	c, err := hub.Attach(f.hub, &hub.AttachConfig{Logger: e.log})
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := dispatch.NewServer(mux, &dispatch.Config{BufferSize: cfg.BufferSize, Logger: e.log})
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	hr := &hubReceiver{c: c, srv: srv}
	for _, s := range c.Sources() {
		fs := &filterSource{Source: s, keep: keep}
		hr.sources = append(hr.sources, fs)
		if err := srv.AddSource(s.Name(), fs); err != nil {
			c.Close()
			return nil, nil, nil, err
		}
		e.log.Info().Str("hub", f.hub).Str("ring", s.Name()).Int("slot", c.Slot()).Int("hub_pid", c.HubPID()).Msg("attached")
	}
	return hr, nil, srv, nil
}

// filterSource passes on the datagrams of the groups asked for (all, if
// none was) and counts the others as filtered.
type filterSource struct {
	*hub.Source
	keep     map[netip.AddrPort]bool
	filtered atomic.Uint64
}

func (s *filterSource) ReadBatch(ds []mcast.Datagram) (int, error) {
	n, err := s.Source.ReadBatch(ds)
	if len(s.keep) == 0 || n <= 0 {
		return n, err
	}
	port := s.LocalAddr().Port()
	k := 0
	for i := range n {
		if s.keep[netip.AddrPortFrom(ds[i].Group, port)] {
			ds[k], ds[i] = ds[i], ds[k] // a swap: every buffer keeps its Tag
			k++
		}
	}
	s.filtered.Add(uint64(n - k))
	return k, err
}

func (s *filterSource) Stats() mcast.Stats {
	st := s.Source.Stats()
	st.Filtered = s.filtered.Load()
	return st
}

// hubReceiver serves a session's handlers from a hub.
type hubReceiver struct {
	c       *hub.Consumer
	srv     *dispatch.Server
	sources []*filterSource
}

// Serve serves until ctx ends, then drains the queues as a
// dispatch.Receiver does; it returns the error that says that the hub has
// gone, if it has.
func (r *hubReceiver) Serve(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(context.WithoutCancel(ctx)) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), dispatch.DefaultShutdownTimeout)
	defer cancel()
	err := r.srv.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, dispatch.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func (r *hubReceiver) Stats() dispatch.Stats { return r.srv.Stats() }

func (r *hubReceiver) Close() error { return errors.Join(r.srv.Close(), r.c.Close()) }

// writeSummary writes a line per ring: what the consumer read from it and
// what it lost.
func (r *hubReceiver) writeSummary(w io.Writer, st dispatch.Stats) {
	for _, s := range r.sources {
		var n uint64
		for _, ss := range st.Sockets {
			if ss.Name == s.Name() {
				n = ss.Datagrams
			}
		}
		k := s.Stats()
		fmt.Fprintf(w, "  hub ring %s (%s, consumer slot %d, hub pid %d): received %d, overrun %d, truncated %d, filtered %d\n",
			s.Name(), s.LocalAddr(), r.c.Slot(), r.c.HubPID(), n, s.Overrun(), k.Truncated, k.Filtered)
	}
}
