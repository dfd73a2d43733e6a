// Package cli is the discovery example program (examples/discovery): an
// mDNS agent that prints the table of services as it changes. main.go
// only sets up signals and calls [Run].
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

	"github.com/sharecast/sharecast/examples/discovery/mdns"
)

const usage = `usage: discovery [flags]

Listens for mDNS (224.0.0.251:5353 and [ff02::fb]:5353), sharing port 5353
with any other mDNS stack on the host (avahi-daemon, mDNSResponder), keeps
a table of the services announced (instance, type, host, addresses, port,
TXT), expires them by TTL and on goodbye packets, and prints each change.
-query sends a query for a service type at start, so that responders
announce what they have.

Anyone on the link can announce anything: the table is bounded (see
package mdns's doc: records, services, addresses per host, TTLs, orphan
records), change lines are limited to -rate a second (with a burst of
five seconds' worth; the suppressed ones are summed up in a "suppressed"
line), and at the end the agent's counters go to stderr: packets,
responses dropped for not coming from port 5353, and what the table's
limits evicted, clamped, dropped and refused.

Examples:
  discovery -i eth0 -query _http._tcp
  discovery -format json -duration 10s
  discovery -i eth0,wlan0 -query _ipp._tcp,_printer._tcp -table

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
		query    = fs.String("query", "", "service types to query at start, comma-separated (such as _http._tcp)")
		format   = fs.String("format", "text", "output: text or json (one object a line)")
		duration = fs.Duration("duration", 0, "stop after this long (0: no limit)")
		table    = fs.Bool("table", false, "print the whole table at the end")
		no4      = fs.Bool("no-ipv4", false, "do not listen on IPv4")
		no6      = fs.Bool("no-ipv6", false, "do not listen on IPv6")
		logLevel = fs.String("log", "warn", "log level: debug, info, warn, error")
		rate     = fs.Float64("rate", 20, "change lines a second at most, beyond a burst of five seconds' worth (0: no limit)")
	)
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
	if *rate < 0 {
		return fmt.Errorf("-rate %v: want 0 (no limit) or more", *rate)
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("-format %q: want text or json", *format)
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
	defer a.Close()
	var joined []string
	for _, m := range a.Memberships() {
		joined = append(joined, m.String())
	}
	fmt.Fprintf(stderr, "discovery: listening on %s\n", strings.Join(joined, ", "))

	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.WithoutCancel(ctx)) }()
	for _, q := range split(*query) {
		if err := a.Query(q); err != nil {
			return err
		}
	}
	// The summary of suppressed changes comes at the latest a second
	// after them.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case err := <-errc:
			return err
		case <-tick.C:
			mu.Lock()
			p.flush()
			mu.Unlock()
		}
	}
	a.Close()
	if err := <-errc; err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	p.flush()
	if *table {
		p.table(a.Services())
	}
	printStats(stderr, a.Stats())
	return nil
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
