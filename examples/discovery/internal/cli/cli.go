// Package cli is the discovery example program (examples/discovery): an
// mDNS agent that prints the table of services as it changes. main.go
// only sets up signals and calls [Run].
package cli

import (
	"context"
	"encoding/json"
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
	p := &printer{w: stdout, json: *format == "json"}
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
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	a.Close()
	if err := <-errc; err != nil {
		return err
	}
	if *table {
		mu.Lock()
		defer mu.Unlock()
		p.table(a.Services())
	}
	return nil
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

type printer struct {
	w    io.Writer
	json bool
}

func (p *printer) change(c mdns.Change) {
	if p.json {
		b, _ := json.Marshal(c) // a Change always marshals
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	mark := map[mdns.ChangeKind]string{mdns.Added: "+", mdns.Updated: "~", mdns.Removed: "-"}[c.Kind]
	fmt.Fprintf(p.w, "%s %s %-7s %s\n", c.At.Format("15:04:05.000"), mark, c.Kind, describe(&c.Service))
}

func (p *printer) table(ss []mdns.Service) {
	if p.json {
		b, _ := json.Marshal(map[string]any{"table": ss})
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	fmt.Fprintf(p.w, "%d services:\n", len(ss))
	for i := range ss {
		fmt.Fprintf(p.w, "  %s\n", describe(&ss[i]))
	}
}

func describe(s *mdns.Service) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %s.%s", s.Name, s.Type, s.Domain)
	if s.Host != "" {
		fmt.Fprintf(&b, " at %s:%d", s.Host, s.Port)
	}
	if len(s.Addrs) > 0 {
		fmt.Fprintf(&b, " %v", s.Addrs)
	}
	if len(s.TXT) > 0 {
		fmt.Fprintf(&b, " txt %q", s.TXT)
	}
	if ttl := time.Until(s.Expires).Round(time.Second); ttl > 0 {
		fmt.Fprintf(&b, " (ttl %v)", ttl)
	}
	return b.String()
}
