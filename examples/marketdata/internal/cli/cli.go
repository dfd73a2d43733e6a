// Package cli is the market-data example program (examples/marketdata):
// a MoldUDP64 feed handler that arbitrates lines A and B (and, with
// -rewinder, fills what both lost from a re-request server); with
// -generate, a generator that sends such a feed with chosen faults on each
// line (and, with -rewind-listen, answers re-requests for it); as
// "marketdata rewind", a re-request server that keeps the feed it
// receives; and as "marketdata soup", a SoupBinTCP 3.0 server of that
// feed. main.go only sets up signals and calls [Run].
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/examples/marketdata/feedsend"
	"github.com/sharecast/sharecast/examples/marketdata/rerequest"
	"github.com/sharecast/sharecast/examples/marketdata/rewind"
	"github.com/sharecast/sharecast/examples/marketdata/soup"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/mcast"
)

const usage = `usage:
  marketdata [flags]             receive lines A and B, arbitrate, report
  marketdata -generate [flags]   send a generated A/B feed
  marketdata rewind [flags]      receive lines A and B, keep the last messages, answer re-requests
  marketdata soup [flags]        receive lines A and B, re-serve the session over TCP (SoupBinTCP 3.0)

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

Re-requests (MoldUDP64 request packets): with -rewinder HOST:PORT the
receiver asks that server for the runs that neither line filled within
-gap-timeout, from a socket of its own on an ephemeral port (never the
shared feed port, where a unicast answer may reach another receiver's
socket), paced by -request-rate, retried after -retry-timeout, and gives
them up after -recovery-timeout, reporting the gap then. With
-rewind-listen HOST:PORT the generator answers requests for what it sent
(for -linger after the feed). "marketdata rewind -listen HOST:PORT" joins
the lines itself, keeps the last -max-messages messages (-max-bytes at
most) of the arbitrated session and answers requests for them, at most
-answer-rate a second. "marketdata soup -listen HOST:PORT" does the same
but serves the arbitrated (and, with -rewinder, recovered) session over
TCP, SoupBinTCP 3.0, from the sequence number each client logs in with,
then live, for consumers with no multicast.

A packet of another session than the live one replaces it only once the
live one has ended, or has been silent for -session-timeout, or with
-follow-sessions; otherwise it is dropped and counted ("foreign sessions").

Examples:
  marketdata -a 239.192.1.1:26400 -b 239.192.1.2:26400 -exit-on-end
  marketdata -generate -messages 100000 -a-loss 0.01 -b-loss 0.01 -b-delay 50us
  marketdata -a 239.192.1.1:26400%eth1 -b 239.192.1.2:26401%eth2 -stats 1s
  marketdata rewind -listen 127.0.0.1:26500 &
  marketdata -rewinder 127.0.0.1:26500 -exit-on-end
  marketdata soup -listen 127.0.0.1:26600 -rewinder 127.0.0.1:26500

Flags:
`

// Run runs the program with args (without the program name), writing its
// report to stdout and its log and usage to stderr. It returns when the
// work is done, -duration has passed or ctx ends; an interrupted run
// (ctx cancelled) returns nil after printing its report.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var mode string // "", "rewind" or "soup"
	if len(args) > 0 && (args[0] == "rewind" || args[0] == "soup") {
		mode, args = args[0], args[1:]
	}
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
		sessTO     = fs.Duration("session-timeout", arbiter.DefaultSessionTimeout, "how long the live session must be silent before another may replace it")
		follow     = fs.Bool("follow-sessions", false, "let every new session replace the live one at once")

		rewinder     = fs.String("rewinder", "", "ask this re-request server (HOST:PORT) for what both lines lost")
		recoveryTO   = fs.Duration("recovery-timeout", feedhandler.DefaultRecoveryTimeout, "with -rewinder: how long the rewinder's answer is waited for before the gap is reported")
		retryTO      = fs.Duration("retry-timeout", rerequest.DefaultRetryTimeout, "with -rewinder: how long before an unanswered request is sent again")
		requestRate  = fs.Float64("request-rate", rerequest.DefaultRate, "with -rewinder: requests a second, at most")
		requestCount = fs.Int("request-count", rerequest.DefaultMaxCount, "with -rewinder: messages asked for in one request, at most")

		listen      = fs.String("listen", "127.0.0.1:26500", "rewind: answer re-requests on this HOST:PORT (UDP); soup: serve on it (TCP)")
		soupUser    = fs.String("soup-user", "", "soup: the username (up to 6 bytes) and -soup-password a login must give (none: any)")
		soupPass    = fs.String("soup-password", "", "soup: the password (up to 10 bytes)")
		soupClients = fs.Int("soup-clients", soup.DefaultMaxClients, "soup: connections at once, at most")
		maxMessages = fs.Int("max-messages", rewind.DefaultMaxMessages, "rewind: messages kept, at most")
		maxBytes    = fs.Int("max-bytes", rewind.DefaultMaxBytes, "rewind: bytes of messages kept, at most")
		answerRate  = fs.Float64("answer-rate", rewind.DefaultRate, "rewind, -rewind-listen: answers a second, at most")
		rewindAt    = fs.String("rewind-listen", "", "generate: answer re-requests for the feed on this HOST:PORT")
		linger      = fs.Duration("linger", 2*time.Second, "generate: with -rewind-listen, how long to go on answering after the feed")

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
		gc := &generateConfig{a: specA, b: specB, ttl: *ttl, linger: *linger, log: log, feed: feedgen.Config{
			Seed: *seed, Session: sess, Messages: *messages, Interval: *interval,
			MinBatch: *minBatch, MaxBatch: *maxBatch, HeartbeatEvery: *hbEvery, EndOfSession: *eos,
			A: lines[0], B: lines[1],
		}}
		if *rewindAt != "" {
			gc.rewind = &rewind.ServerConfig{Rate: *answerRate, Logger: log}
			gc.listen = *rewindAt
		}
		return runGenerate(ctx, stdout, gc)
	}
	rc := &receiveConfig{
		a: specA, b: specB, every: *every, exitOnEnd: *exitOnEnd, quiet: *quiet, eventLimit: *eventLimit,
		arb: arbiter.Config{
			GapTimeout: *gapTimeout, LineTimeout: *lineTO, Window: *window, StartSeq: *startSeq, BufferBytes: *bufBytes,
			SessionTimeout: *sessTO, FollowSessions: *follow,
		},
	}
	if *rewinder != "" {
		ap, err := netip.ParseAddrPort(*rewinder)
		if err != nil {
			return fmt.Errorf("-rewinder: %w", err)
		}
		rc.rewinder = ap
		rc.arb.RecoveryTimeout = *recoveryTO
		rc.rerequest = rerequest.Config{MaxCount: *requestCount, Rate: *requestRate, RetryTimeout: *retryTO}
	}
	switch mode {
	case "rewind":
		rc.store = rewind.NewStore(&rewind.StoreConfig{MaxMessages: *maxMessages, MaxBytes: *maxBytes})
		srv, err := rewind.Listen(*listen, &rewind.ServerConfig{Store: rc.store, Rate: *answerRate, Logger: log})
		if err != nil {
			return err
		}
		defer srv.Close()
		rc.server = srv
	case "soup":
		rc.store = rewind.NewStore(&rewind.StoreConfig{MaxMessages: *maxMessages, MaxBytes: *maxBytes})
		srv, err := soup.Listen(*listen, &soup.Config{Store: rc.store, Username: *soupUser, Password: *soupPass,
			MaxClients: *soupClients, Logger: log})
		if err != nil {
			return err
		}
		defer srv.Close()
		rc.soup = srv
	}
	return runReceive(ctx, stdout, log, rc)
}

type receiveConfig struct {
	a, b      group.Spec
	arb       arbiter.Config
	every     time.Duration
	exitOnEnd bool
	quiet     bool

	eventLimit int

	rewinder  netip.AddrPort // -rewinder
	rerequest rerequest.Config

	store  *rewind.Store  // marketdata rewind and soup: the store, fed by the arbiter
	server *rewind.Server // rewind: the server answering from it
	soup   *soup.Server   // soup: the SoupBinTCP server
}

func runReceive(ctx context.Context, w io.Writer, log zerolog.Logger, rc *receiveConfig) error {
	ended := make(chan struct{}, 1)
	cfg := &feedhandler.Config{A: rc.a, B: rc.b, Arbiter: rc.arb, Logger: log, Rewinder: rc.rewinder, Rerequest: rc.rerequest}
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
	if rc.store != nil {
		rc.store.Hook(&cfg.Arbiter)
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
	if rc.rewinder.IsValid() {
		fmt.Fprintf(w, "re-requests to %s from %s\n", rc.rewinder, h.RequestAddr())
	}
	if rc.soup != nil {
		fmt.Fprintf(w, "serving SoupBinTCP on %s\n", rc.soup.Addr())
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		served := make(chan error, 1)
		go func() { served <- rc.soup.Serve(sctx) }()
		defer func() { cancel(); <-served }()
	}
	if rc.server != nil {
		fmt.Fprintf(w, "answering re-requests on %s\n", rc.server.Addr())
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		served := make(chan error, 1)
		go func() { served <- rc.server.Serve(sctx) }()
		defer func() { cancel(); <-served }()
	}

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
		if err := st.WriteText(raw); err != nil {
			return err
		}
		if rc.soup != nil {
			ss := rc.soup.Stats()
			if _, err := fmt.Fprintf(raw, "soup: connections %d (active %d, refused %d), logins %d (rejected %d), closed: malformed %d, idle %d, slow %d, at a gap %d; sent %d messages, %d heartbeats, %d ends\n",
				ss.Connections, ss.Active, ss.Refused, ss.Logins, ss.Rejected, ss.Malformed, ss.Idle, ss.Slow, ss.Gaps,
				ss.Messages, ss.Heartbeats, ss.Ends); err != nil {
				return err
			}
		}
		return writeRewindStats(raw, rc.store, rc.server)
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

// writeRewindStats writes what a rewinder holds and answered, if there is
// one.
func writeRewindStats(w io.Writer, store *rewind.Store, srv *rewind.Server) error {
	if store == nil || srv == nil {
		return nil
	}
	s, a := store.Stats(), srv.Stats()
	_, err := fmt.Fprintf(w, "rewind: session %q, holding %d-%d (%d messages, %d bytes; evicted %d, holes %d); requests %d: answered %d (%d with %d messages, %d not held, %d ends, %d heartbeats; %d bytes), rate-limited %d, malformed %d, foreign %d, send errors %d\n",
		s.Session, s.First, max(s.Next, 1)-1, s.Held, s.Bytes, s.Evicted, s.Holes,
		a.Requests, a.Answers, a.Messages, a.MessagesSent, a.NotHeld, a.Ends, a.Heartbeats, a.BytesSent,
		a.Limited, a.Malformed, a.Foreign, a.SendErrors)
	return err
}

type generateConfig struct {
	a, b   group.Spec
	ttl    int
	feed   feedgen.Config
	linger time.Duration
	log    zerolog.Logger

	rewind *rewind.ServerConfig // -rewind-listen: answer requests for the feed
	listen string
}

func runGenerate(ctx context.Context, w io.Writer, gc *generateConfig) error {
	a, b, ttl, feed := gc.a, gc.b, gc.ttl, gc.feed
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
	var srv *rewind.Server
	if gc.rewind != nil {
		gc.rewind.Store = rewind.NewStore(&rewind.StoreConfig{MaxMessages: min(max(feed.Messages, 1), rewind.DefaultMaxMessages)})
		var err error
		if srv, err = rewind.Listen(gc.listen, gc.rewind); err != nil {
			return err
		}
		defer srv.Close()
		feed.OnSend = gc.rewind.Store.AddPacket
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		served := make(chan error, 1)
		go func() { served <- srv.Serve(sctx) }()
		defer func() { cancel(); <-served }()
		fmt.Fprintf(w, "answering re-requests on %s\n", srv.Addr())
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
	if srv != nil {
		// Answer the last requests: a receiver asks GapTimeout after it
		// misses a message, and again until its RecoveryTimeout.
		t := time.NewTimer(gc.linger)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if err := writeRewindStats(w, gc.rewind.Store, srv); err != nil {
			return err
		}
	}
	return nil
}
