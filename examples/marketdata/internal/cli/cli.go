// Package cli is the market-data example program (examples/marketdata):
// a MoldUDP64 feed handler that arbitrates lines A and B, and, with
// -generate, a generator that sends such a feed with chosen faults on each
// line. main.go only sets up signals and calls [Run].
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/examples/marketdata/feedsend"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/mcast"
)

const usage = `usage:
  marketdata [flags]             receive lines A and B, arbitrate, report
  marketdata -generate [flags]   send a generated A/B feed

Receiving joins line A and line B (group specs as package group reads them:
239.1.2.3:5000, 239.1.2.3:5000%eth1, 232.1.1.1:5000@10.0.0.1), keeps the
first copy of each message, reports every gap (messages that neither line
delivered) as it is declared, lines that go silent, and sessions that start,
end or are replaced, and prints per-line and feed statistics at the end (and
every -stats interval).

Generating sends a deterministic feed (from -seed) to the same two groups,
out of lo unless a spec names an interface, with TTL 1: per line, the
probability of losing a packet, of sending it twice, of holding it back
behind later ones, and a fixed delay and random jitter. At the end it says
which messages both lines lost: the gaps a receiver must report.

Examples:
  marketdata -a 239.192.1.1:26400 -b 239.192.1.2:26400 -exit-on-end
  marketdata -generate -messages 100000 -a-loss 0.01 -b-loss 0.01 -b-delay 50us
  marketdata -a 239.192.1.1:26400%eth1 -b 239.192.1.2:26401%eth2 -stats 1s

Flags:
`

// Run runs the program with args (without the program name), writing its
// report to stdout and its log and usage to stderr. It returns when the
// work is done, -duration has passed or ctx ends; an interrupted run
// (ctx cancelled) returns nil after printing its report.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("marketdata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(stderr, usage)
		fs.PrintDefaults()
	}
	var (
		a          = fs.String("a", "239.192.1.1:26400", "line A's group spec")
		b          = fs.String("b", "239.192.1.2:26400", "line B's group spec")
		generate   = fs.Bool("generate", false, "send a generated feed instead of receiving")
		duration   = fs.Duration("duration", 0, "stop after this long (0: no limit)")
		logLevel   = fs.String("log", "warn", "log level: debug, info, warn, error")
		gapTimeout = fs.Duration("gap-timeout", arbiter.DefaultGapTimeout, "how long a missing message is waited for")
		lineTO     = fs.Duration("line-timeout", arbiter.DefaultLineTimeout, "how long a line may be silent before it is reported")
		window     = fs.Int("window", arbiter.DefaultWindow, "messages buffered ahead of a missing one")
		startSeq   = fs.Uint64("start-seq", 0, "first sequence number expected in a session (0: the first seen)")
		every      = fs.Duration("stats", 0, "print statistics this often (0: at the end only)")
		exitOnEnd  = fs.Bool("exit-on-end", false, "exit when the session ends")
		quiet      = fs.Bool("quiet", false, "do not print each gap and event, only statistics")
		eventLimit = fs.Int("event-limit", DefaultEventLimit, "print at most this many gap, line and session events a second, and sum up the rest (0: no limit)")
		bufBytes   = fs.Int("buffer-bytes", arbiter.DefaultBufferBytes, "bytes of messages buffered ahead of a missing one, at most")

		seed     = fs.Uint64("seed", 1, "generate: random seed; one seed, one feed")
		session  = fs.String("session", "FEEDGEN", "generate: session name (up to 10 characters)")
		messages = fs.Int("messages", 100000, "generate: messages to send")
		interval = fs.Duration("interval", 10*time.Microsecond, "generate: time between packets")
		minBatch = fs.Int("min-batch", 1, "generate: fewest messages in a packet")
		maxBatch = fs.Int("max-batch", 8, "generate: most messages in a packet")
		hbEvery  = fs.Int("heartbeat-every", 1000, "generate: a heartbeat after this many packets (0: none)")
		eos      = fs.Int("end-of-session", 3, "generate: end-of-session packets at the end")
		ttl      = fs.Int("ttl", 1, "generate: multicast TTL")
	)
	var lines [2]feedgen.LineConfig
	for i, name := range []string{"a", "b"} {
		l := &lines[i]
		fs.Float64Var(&l.Loss, name+"-loss", 0, "generate: probability that line "+strings.ToUpper(name)+" loses a packet")
		fs.Float64Var(&l.Duplicate, name+"-dup", 0, "generate: probability that it sends a packet twice")
		fs.Float64Var(&l.Reorder, name+"-reorder", 0, "generate: probability that it holds a packet back")
		fs.IntVar(&l.ReorderDepth, name+"-reorder-depth", 4, "generate: how many packets a held-back one may fall behind")
		fs.DurationVar(&l.Delay, name+"-delay", 0, "generate: delay of every packet")
		fs.DurationVar(&l.Jitter, name+"-jitter", 0, "generate: bound of a random delay per packet")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *eventLimit < 0 {
		return fmt.Errorf("-event-limit %d is negative", *eventLimit)
	}
	specA, err := group.ParseSpec(*a)
	if err != nil {
		return err
	}
	specB, err := group.ParseSpec(*b)
	if err != nil {
		return err
	}
	lvl, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("-log: %w", err)
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true, TimeFormat: "15:04:05.000"}).
		Level(lvl).With().Timestamp().Logger()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	if *generate {
		sess, err := moldudp64.ParseSession(*session)
		if err != nil {
			return fmt.Errorf("-session: %w", err)
		}
		return runGenerate(ctx, stdout, specA, specB, *ttl, feedgen.Config{
			Seed: *seed, Session: sess, Messages: *messages, Interval: *interval,
			MinBatch: *minBatch, MaxBatch: *maxBatch, HeartbeatEvery: *hbEvery, EndOfSession: *eos,
			A: lines[0], B: lines[1],
		})
	}
	return runReceive(ctx, stdout, log, &receiveConfig{
		a: specA, b: specB, every: *every, exitOnEnd: *exitOnEnd, quiet: *quiet, eventLimit: *eventLimit,
		arb: arbiter.Config{
			GapTimeout: *gapTimeout, LineTimeout: *lineTO, Window: *window, StartSeq: *startSeq, BufferBytes: *bufBytes,
		},
	})
}

type receiveConfig struct {
	a, b      group.Spec
	arb       arbiter.Config
	every     time.Duration
	exitOnEnd bool
	quiet     bool

	eventLimit int
}

func runReceive(ctx context.Context, w io.Writer, log zerolog.Logger, rc *receiveConfig) error {
	ended := make(chan struct{}, 1)
	cfg := &feedhandler.Config{A: rc.a, B: rc.b, Arbiter: rc.arb, Logger: log}
	// The events are printed by the handler's goroutine, the statistics
	// by this one: both hold mu while they write.
	var mu sync.Mutex
	ev := &eventPrinter{mu: &mu, w: w, limit: rc.eventLimit, period: time.Second}
	if !rc.quiet {
		cfg.Arbiter.OnGap = func(g arbiter.Gap) {
			ev.printf(g.At, gapEvent, g.Len(), "%s gap      %s %d-%d (%d missing, %s)\n", stamp(g.At), g.Session, g.First, g.Last, g.Len(), g.Reason)
		}
		cfg.Arbiter.OnLine = func(e arbiter.LineEvent) {
			if e.Silent {
				var since string
				if !e.LastPacket.IsZero() {
					since = fmt.Sprintf(" (last packet %s ago)", e.At.Sub(e.LastPacket).Round(time.Millisecond))
				}
				ev.printf(e.At, lineEvent, 0, "%s line %s   silent%s\n", stamp(e.At), e.Line, since)
			} else {
				ev.printf(e.At, lineEvent, 0, "%s line %s   back\n", stamp(e.At), e.Line)
			}
		}
	}
	cfg.Arbiter.OnSession = func(e arbiter.SessionEvent) {
		if !rc.quiet {
			ev.printf(e.At, sessionEvent, 0, "%s session  %s %s at %d\n", stamp(e.At), e.Session, e.Kind, e.Seq)
		}
		if e.Kind == arbiter.SessionEnded {
			select {
			case ended <- struct{}{}:
			default:
			}
		}
	}
	h, err := feedhandler.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	l := h.Lines()
	raw := w
	w = &lockedWriter{mu: &mu, w: raw}
	fmt.Fprintf(w, "receiving line A %s, line B %s\n", l[0], l[1])

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	errc := make(chan error, 1)
	go func() { errc <- h.Run(runCtx) }()

	var tick <-chan time.Time
	if rc.every > 0 {
		t := time.NewTicker(rc.every)
		defer t.Stop()
		tick = t.C
	}
	// Sum up the suppressed event lines once their second is over, even
	// if no event comes to do it.
	summary := time.NewTicker(ev.period)
	defer summary.Stop()
	writeStats := func() error {
		st := h.Stats()
		mu.Lock()
		defer mu.Unlock()
		return st.WriteText(raw)
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ended:
			if rc.exitOnEnd {
				break loop
			}
		case now := <-summary.C:
			ev.flush(now, false)
		case <-tick:
			if err := writeStats(); err != nil {
				return err
			}
		case runErr = <-errc:
			errc = nil
			break loop
		}
	}
	if errc != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(sctx); err != nil {
			log.Warn().Err(err).Msg("shutdown")
		}
		runErr = <-errc
	}
	h.Flush() // report what is still missing, so that the counts add up
	ev.flush(time.Now(), true)
	fmt.Fprintln(w, "--")
	if err := writeStats(); err != nil {
		return err
	}
	return runErr
}

func runGenerate(ctx context.Context, w io.Writer, a, b group.Spec, ttl int, feed feedgen.Config) error {
	if a.IsSourceSpecific() || b.IsSourceSpecific() {
		return errors.New("-generate sends to groups: give specs without a source")
	}
	var scfg [2]*mcast.SenderConfig
	for i, s := range []group.Spec{a, b} {
		ifi, err := s.SendInterface()
		if err != nil {
			return err
		}
		scfg[i] = &mcast.SenderConfig{Interface: ifi, TTL: ttl}
	}
	fmt.Fprintf(w, "sending %d messages, session %s, seed %d: line A to %s, line B to %s\n",
		feed.Messages, feed.Session, feed.Seed, a.AddrPort(), b.AddrPort())
	g, res, err := feedsend.Send(ctx, &feedsend.Config{
		A: a.AddrPort(), B: b.AddrPort(), SenderA: scfg[0], SenderB: scfg[1], Feed: feed,
	})
	if err != nil {
		return err
	}
	for i := range 2 {
		c := g.Counts(i)
		fmt.Fprintf(w, "line %c: %d packets sent (%d bytes); lost %d, duplicated %d, reordered %d; %d messages carried\n",
			'A'+i, res.Packets[i], res.Bytes[i], c.Lost, c.Duplicated, c.Reordered, c.Messages)
	}
	missing := g.Missing()
	var n uint64
	for _, r := range missing {
		n += r.Last - r.First + 1
	}
	fmt.Fprintf(w, "lost on both lines: %d messages in %d runs", n, len(missing))
	for i, r := range missing {
		if i == 10 {
			fmt.Fprintf(w, " ...")
			break
		}
		fmt.Fprintf(w, " %d-%d", r.First, r.Last)
	}
	fmt.Fprintf(w, "\nannounced up to %d; sent in %v\n", g.Revealed()-1, res.Elapsed.Round(time.Millisecond))
	return nil
}
