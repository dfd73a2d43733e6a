// Package cli is the discovery example program (examples/discovery): an
// mDNS agent, or with -ssdp an SSDP agent, that prints the table of
// services or devices as it changes. main.go only sets up signals and
// calls [Run].
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/examples/discovery/ssdp"
	"github.com/sharecast/sharecast/group"
)

const usage = `usage: discovery [flags]
       discovery [flags] -publish NAME TYPE PORT [TXT...]
       discovery -ssdp [flags]

Listens for mDNS (224.0.0.251:5353 and [ff02::fb]:5353), sharing port 5353
with any other mDNS stack on the host (avahi-daemon, mDNSResponder), keeps
a table of the services announced (instance, type, host, addresses, port,
TXT), expires them by TTL and on goodbye packets, and prints each change.
-query sends a query for a service type at start, so that responders
announce what they have (from port 5353, answered by multicast; with
-oneshot, from a socket of the agent's own, answered by unicast to it).

With -publish it also publishes a service, as avahi-publish -s does: the
instance name, the type (_http._tcp), the port and TXT strings follow the
flags. It probes the name (RFC 6762 section 8), renames it on a conflict
("Name (2)"), announces it, answers queries for it (by multicast, or by
unicast where a query asks: the QU bit, or a port other than 5353), and
sends goodbyes when it stops. Its addresses are published under a host
name of its own (-host; the host's own name belongs to avahi-daemon).

With -ssdp it listens for SSDP instead (239.255.255.250:1900 and
[ff02::c]:1900), sharing port 1900 with minissdpd, minidlna and the
host's other SSDP stacks, keeps a table of the UPnP devices announced
(NOTIFY ssdp:alive, byebye, update; CACHE-CONTROL max-age), fetches each
device's description (friendly name, model, services) from its LOCATION,
and prints each change. -search sends M-SEARCH requests at start (and
every -search-every), from a socket of the agent's own, so that the
unicast answers come to it and not to whichever program the kernel picks
on port 1900 (-shared-search sends them from port 1900, to show that
trap).

Anyone on the link can announce anything: the tables are bounded (see
the doc of packages mdns and ssdp: records, services, addresses per host,
TTLs, orphan records; devices, USNs per device, max-ages, description
fetches bounded in time, size and number), change lines are limited to
-rate a second (with a burst of five seconds' worth; the suppressed ones
are summed up in a "suppressed" line), and at the end the agent's
counters go to stderr: packets, what was malformed or ignored, and what
the limits evicted, clamped, dropped and refused.

Examples:
  discovery -i eth0 -query _http._tcp
  discovery -format json -duration 10s
  discovery -i eth0,wlan0 -query _ipp._tcp,_printer._tcp -table
  discovery -i eth0 -publish "My Service" _http._tcp 8080 path=/ version=1
  discovery -i eth0 -query _http._tcp -oneshot -duration 3s -table
  discovery -ssdp -i eth0 -search ssdp:all -duration 5s -table
  discovery -ssdp -search urn:schemas-upnp-org:device:MediaServer:1 -format json

Flags:
`

// Run runs the program with args (without the program name), printing
// changes to stdout, the log and usage to stderr. It returns when
// -duration has passed or ctx ends (nil then).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("discovery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(stderr, usage)
		fs.PrintDefaults()
	}
	var (
		ifaces   = fs.String("i", "*", "interfaces, comma-separated (names, indexes or addresses; * for every multicast one)")
		query    = fs.String("query", "", "mDNS: service types to query at start, comma-separated (such as _http._tcp)")
		format   = fs.String("format", "text", "output: text or json (one object a line)")
		duration = fs.Duration("duration", 0, "stop after this long (0: no limit)")
		table    = fs.Bool("table", false, "print the whole table at the end")
		no4      = fs.Bool("no-ipv4", false, "do not listen on IPv4")
		no6      = fs.Bool("no-ipv6", false, "do not listen on IPv6")
		logLevel = fs.String("log", "warn", "log level: debug, info, warn, error")
		rate     = fs.Float64("rate", 20, "change lines a second at most, beyond a burst of five seconds' worth (0: no limit)")

		oneshot     = fs.Bool("oneshot", false, "mDNS: send -query as one-shot queries from a socket of the agent's own; the unicast answers are awaited 3 s")
		publishing  = fs.Bool("publish", false, "mDNS: publish the service NAME TYPE PORT [TXT...] given after the flags")
		host        = fs.String("host", "", "mDNS: with -publish, the host name to publish the addresses under (default: this host's name followed by -discovery)")
		ssdpMode    = fs.Bool("ssdp", false, "SSDP (UPnP) instead of mDNS")
		search      = fs.String("search", "", "SSDP: search targets to send M-SEARCH for at start, comma-separated (ssdp:all, upnp:rootdevice, urn:...)")
		searchEvery = fs.Duration("search-every", 0, "SSDP: repeat the searches this often (0: once)")
		mx          = fs.Int("mx", 2, "SSDP: MX of the searches, the seconds devices may wait before they answer (1-5)")
		shared      = fs.Bool("shared-search", false, "SSDP: send searches from port 1900 (the trap: the answers go to one program on the port, seldom this one)")
		noFetch     = fs.Bool("no-fetch", false, "SSDP: do not fetch the devices' descriptions")
		anyHost     = fs.Bool("any-location", false, "SSDP: fetch descriptions also from a LOCATION on another host than the announcement's sender")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var pub mdns.Publication
	switch {
	case *publishing && (*ssdpMode || fs.NArg() < 3):
		fs.Usage()
		return errors.New("-publish takes NAME TYPE PORT [TXT...] after the flags, without -ssdp")
	case *publishing:
		port, err := strconv.ParseUint(fs.Arg(2), 10, 16)
		if err != nil || port == 0 {
			return fmt.Errorf("-publish: port %q: want 1-65535", fs.Arg(2))
		}
		pub = mdns.Publication{Name: fs.Arg(0), Type: fs.Arg(1), Port: uint16(port), TXT: fs.Args()[3:], Host: *host}
	case fs.NArg() != 0:
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if (*oneshot || *host != "") && *ssdpMode {
		return errors.New("-oneshot and -host are for mDNS, not -ssdp")
	}
	if *rate < 0 {
		return fmt.Errorf("-rate %v: want 0 (no limit) or more", *rate)
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("-format %q: want text or json", *format)
	}
	if *ssdpMode && *query != "" {
		return errors.New("-query is for mDNS; with -ssdp, use -search")
	}
	if !*ssdpMode && (*search != "" || *searchEvery != 0 || *shared || *noFetch || *anyHost) {
		return errors.New("-search, -search-every, -shared-search, -no-fetch and -any-location need -ssdp")
	}
	if *mx < 1 || *mx > 5 || *searchEvery < 0 {
		return fmt.Errorf("-mx %d, -search-every %v: want 1 to 5, and 0 or more", *mx, *searchEvery)
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

	var mu sync.Mutex // the agent calls OnChange from one goroutine; the final table from another
	p := newPrinter(stdout, *format == "json", *rate, time.Now)
	var ag agent
	if *ssdpMode {
		a, err := ssdp.New(ctx, &ssdp.Config{
			Interfaces: split(*ifaces), NoIPv4: *no4, NoIPv6: *no6, Logger: log,
			SearchFromSharedPort: *shared,
			Fetch:                ssdp.FetchConfig{Disable: *noFetch, AnyHost: *anyHost},
			OnChange: func(c ssdp.Change) {
				mu.Lock()
				defer mu.Unlock()
				p.ssdpChange(c)
			},
		})
		if err != nil {
			return err
		}
		targets := split(*search)
		ag = agent{close: a.Close, run: a.Run, memberships: a.Memberships,
			start: func() error {
				for _, st := range targets {
					if _, err := a.Search(st, *mx); err != nil {
						return err
					}
				}
				return nil
			},
			end: func() {
				if *table {
					p.ssdpTable(a.Devices())
				}
				printSSDPStats(stderr, a.Stats())
			}}
		if *searchEvery > 0 && len(targets) > 0 {
			ag.every = *searchEvery
		}
		for _, s := range a.SearchAddrs() {
			ag.extra = append(ag.extra, s.String())
		}
	} else {
		var oneshots sync.WaitGroup
		a, err := mdns.New(ctx, &mdns.Config{
			Interfaces: split(*ifaces), NoIPv4: *no4, NoIPv6: *no6, Logger: log,
			OnChange: func(c mdns.Change) {
				mu.Lock()
				defer mu.Unlock()
				p.change(c)
			},
		})
		if err != nil {
			return err
		}
		if *publishing {
			err := a.Publish(pub, func(e mdns.PublishEvent) {
				mu.Lock()
				defer mu.Unlock()
				p.publishEvent(e)
			})
			if err != nil {
				a.Close()
				return err
			}
		}
		ag = agent{close: a.Close, run: a.Run, memberships: a.Memberships, wait: oneshots.Wait,
			start: func() error {
				for _, q := range split(*query) {
					if !*oneshot {
						if err := a.Query(q); err != nil {
							return err
						}
						continue
					}
					oneshots.Add(1)
					go func() {
						defer oneshots.Done()
						ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
						defer cancel()
						if _, err := a.QueryOneShot(ctx, q); err != nil {
							log.Warn().Err(err).Str("type", q).Msg("one-shot query")
						}
					}()
				}
				return nil
			},
			end: func() {
				if *table {
					p.table(a.Services())
				}
				printStats(stderr, a.Stats())
				if *publishing {
					st := a.PublishStats()
					fmt.Fprintf(stderr, "discovery: published: %d probes, %d announcements; %d queries answered by multicast, %d by unicast, %d answers suppressed; %d conflicts, %d tie-breaks lost\n",
						st.Probes, st.Announcements, st.Answered, st.AnsweredUnicast, st.Suppressed, st.Conflicts, st.TieBreaks)
				}
			}}
	}
	defer ag.close()
	var joined []string
	for _, m := range ag.memberships() {
		joined = append(joined, m.String())
	}
	fmt.Fprintf(stderr, "discovery: listening on %s", strings.Join(joined, ", "))
	if len(ag.extra) > 0 {
		fmt.Fprintf(stderr, "; searching from %s", strings.Join(ag.extra, ", "))
	}
	fmt.Fprintln(stderr)

	errc := make(chan error, 1)
	go func() { errc <- ag.run(context.WithoutCancel(ctx)) }()
	if err := ag.start(); err != nil {
		return err
	}
	// The summary of suppressed changes comes at the latest a second
	// after them.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var again <-chan time.Time
	if ag.every > 0 {
		t := time.NewTicker(ag.every)
		defer t.Stop()
		again = t.C
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case err := <-errc:
			return err
		case <-tick.C:
			mu.Lock()
			p.flush()
			err := p.err()
			mu.Unlock()
			if err != nil {
				return err
			}
		case <-again:
			if err := ag.start(); err != nil {
				return err
			}
		}
	}
	ag.close()
	if err := <-errc; err != nil {
		return err
	}
	if ag.wait != nil {
		ag.wait()
	}
	mu.Lock()
	defer mu.Unlock()
	p.flush()
	ag.end()
	if err := p.err(); err != nil {
		return err
	}
	return nil
}

// agent is what Run needs of either agent.
type agent struct {
	close       func() error
	run         func(context.Context) error
	memberships func() []group.Membership
	start       func() error // the queries or searches
	every       time.Duration
	end         func() // the table and the counters
	wait        func() // for queries still under way
	extra       []string
}

// printStats prints the agent's counters.
func printStats(w io.Writer, st mdns.Stats) {
	fmt.Fprintf(w, "discovery: %d packets (%d malformed, %d queries, %d responses not from port 5353); "+
		"table: %d services, %d records; %d records evicted, %d addresses evicted, %d TTLs clamped, %d orphans dropped, %d records refused\n",
		st.Packets, st.Malformed, st.Queries, st.WrongPort, st.Services, st.Records,
		st.Evicted, st.AddrsEvicted, st.Clamped, st.Orphaned, st.Refused)
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
