package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/hub"
)

func newHubCmd(e *env) *cobra.Command {
	var rf recvFlags
	var cfg hub.Config
	var stats bool
	var interval, duration time.Duration
	cmd := &cobra.Command{
		Use:   "hub GROUP...",
		Short: "Receive groups once and feed local consumers through shared memory",
		Long: `hub joins the groups on one shared socket per family and port (an ordinary
co-tenant of the port: other programs still share it) and writes each
datagram, once, with its metadata (source, group, port, interface, TTL, the
kernel's timestamp) into a ring in shared memory. Consumers on this host
attach by the hub's name (listen --hub NAME, stat --hub NAME, or the hub
package's Attach) and read the ring in place: the kernel copies each
datagram once, however many consumers there are.

The hub never waits for a consumer: one that falls more than --slots
datagrams behind loses the oldest (overrun), counts exactly how many, and
goes on. Only the hub's user and root may attach, and with --group the
members of that group too; the attach point is a unix socket in the
abstract namespace, "@sharecast-hub/NAME", of this network namespace.

With --stats it prints, every --interval, the consumers: their pid, user,
what they read, their rate, their lag and their overruns. It runs until
Ctrl-C or SIGTERM (or --duration), then tells its consumers that it is gone
and writes a summary to standard error. Linux only.`,
		Example: `  sharecast hub 239.1.2.3:5000 --stats
  sharecast hub 239.1.2.3:5000 239.1.2.4:5001 --name feed -i eth1 --slots 65536
  sharecast hub 233.54.12.111:26477 --name itch --group marketdata
  sharecast listen --hub feed --count 10          # a consumer
  sharecast stat --hub feed 239.1.2.4:5001        # another, of one group`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			specs, err := parseSpecs(args)
			if err != nil {
				return err
			}
			if interval <= 0 {
				return usagef("invalid argument %s for \"--interval\" flag: want a positive duration", interval)
			}
			lc, err := rf.listenConfig(e.log)
			if err != nil {
				return err
			}
			cfg.Listen, cfg.Logger = lc, e.log
			ctx := cmd.Context()
			h, err := hub.Listen(ctx, specs, &cfg)
			switch {
			case errors.Is(err, hub.ErrInvalidConfig):
				return &usageError{err}
			case err != nil:
				return listenError(err, lc.Share)
			}
			defer h.Close()
			start := time.Now()
			e.log.Info().Str("name", h.Name()).Str("addr", h.Addr()).Strs("groups", specs).Msg("hub serving")
			stop := func() {}
			if stats {
				rep := &hubReporter{w: e.stdout, h: h, start: start}
				stop = every(interval, rep.report)
			}
			sctx := ctx
			if duration > 0 {
				var cancel func()
				sctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			err = h.Serve(sctx)
			stop()
			st := h.Stats()
			cerr := h.Close()
			writeHubSummary(e.stderr, st, time.Since(start))
			if err == nil && ctx.Err() == nil {
				err = cerr
			}
			return err
		}),
	}
	rf.add(cmd.Flags())
	cmd.Flags().StringVar(&cfg.Name, "name", hub.DefaultName, "the hub's name, which consumers attach by (letters, digits and .-_)")
	cmd.Flags().StringVar(&cfg.Group, "group", "", "a group (name or gid) whose members may attach too (default: the hub's user and root only)")
	cmd.Flags().IntVar(&cfg.Slots, "slots", hub.DefaultSlots, "the ring's length in datagrams, per socket: how far a consumer may fall behind before it loses datagrams (rounded up to a power of two)")
	cmd.Flags().Var(&sizeValue{v: &cfg.MaxDatagram, min: 1, max: 65535}, "max-datagram", "longest datagram taken, in bytes; longer ones are dropped and counted as truncated (default 1984: a ring slot of 2 KiB)")
	cmd.Flags().IntVar(&cfg.MaxConsumers, "max-consumers", hub.DefaultMaxConsumers, "how many consumers may attach at once")
	cmd.Flags().DurationVar(&cfg.WakeInterval, "wake-interval", hub.DefaultWakeInterval, "least time between two wake-ups of sleeping consumers under load (fewer switches, up to this much delay; -1ns: wake at every datagram)")
	cmd.Flags().BoolVar(&stats, "stats", false, "print the consumers, their lag, overruns and rate every --interval")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often --stats reports")
	cmd.Flags().DurationVarP(&duration, "duration", "t", 0, "exit after this long, such as 10s or 5m (0: no limit)")
	return cmd
}

// hubReporter prints the hub's consumers every interval.
type hubReporter struct {
	w     io.Writer
	h     *hub.Hub
	start time.Time
	last  map[string]uint64 // delivered, by consumer and ring, at the last report
	lastW uint64
	lastT time.Time
}

func (r *hubReporter) report() {
	st := r.h.Stats()
	now := time.Now()
	dt := now.Sub(r.lastT).Seconds()
	if r.lastT.IsZero() {
		dt = now.Sub(r.start).Seconds()
	}
	var written uint64
	for _, rs := range st.Rings {
		written += rs.Written
	}
	var drops uint64
	for _, ss := range st.Server.Sockets {
		if ss.Kernel != nil {
			drops += ss.Kernel.KernelDrops
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sharecast hub %s  %s  up %s  written %d (%.1f/s)  kernel drops %d  consumers %d (attached %d, left %d, refused %d)\n",
		st.Name, now.Format("15:04:05"), now.Sub(r.start).Round(time.Second), written, rate(written-r.lastW, dt), drops,
		len(st.Consumers), st.Attached, st.Detached, st.Refused)
	rows := [][]string{{"slot", "pid", "uid", "ring", "delivered", "rate/s", "lag", "overrun", "truncated"}}
	next := map[string]uint64{}
	for _, c := range st.Consumers {
		for _, cr := range c.Rings {
			key := fmt.Sprint(c.PID, c.Since.UnixNano(), cr.Socket)
			next[key] = cr.Delivered
			prev, ok := r.last[key]
			if !ok || prev > cr.Delivered {
				prev = 0
			}
			rows = append(rows, []string{fmt.Sprint(c.Slot), fmt.Sprint(c.PID), fmt.Sprint(c.UID), cr.Socket,
				fmt.Sprint(cr.Delivered), fmt.Sprintf("%.1f", rate(cr.Delivered-prev, dt)), fmt.Sprint(cr.Lag),
				fmt.Sprint(cr.Overrun), fmt.Sprint(cr.Truncated)})
		}
	}
	r.last, r.lastW, r.lastT = next, written, now
	writeRows(&b, rows)
	io.WriteString(r.w, b.String()+"\n")
}

func rate(n uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(n) / secs
}

// writeRows writes rows as right-aligned columns.
func writeRows(b *strings.Builder, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	for _, r := range rows {
		b.WriteString(" ")
		for i, c := range r {
			fmt.Fprintf(b, " %*s", width[i], c)
		}
		b.WriteString("\n")
	}
}

func writeHubSummary(w io.Writer, st hub.Stats, d time.Duration) {
	var written, drops, trunc, filt uint64
	for _, rs := range st.Rings {
		written += rs.Written
	}
	for _, ss := range st.Server.Sockets {
		if k := ss.Kernel; k != nil {
			drops += k.KernelDrops
			trunc += k.Truncated
			filt += k.Filtered
		}
	}
	fmt.Fprintf(w, "sharecast hub %s: wrote %s in %s; kernel drops %d, truncated %d, filtered %d; consumers attached %d, left %d, refused %d\n",
		st.Name, plural(written, "datagram"), d.Round(time.Millisecond), drops, trunc, filt, st.Attached, st.Detached, st.Refused)
	for _, rs := range st.Rings {
		fmt.Fprintf(w, "  ring %s (%s): written %d, %d slots of up to %d bytes, wake-ups %d\n", rs.Socket, rs.Local, rs.Written, rs.Slots, rs.MaxDatagram, rs.Wakes)
	}
}
