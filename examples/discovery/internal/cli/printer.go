package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/mdns"
)

// printer prints changes, at most rate lines a second beyond a burst of
// five seconds' worth, and sums up the changes it suppressed in one line
// before the next change it prints, or when flushed.
type printer struct {
	w    *errWriter
	json bool
	now  func() time.Time

	rate, burst, tokens float64 // rate 0: no limit
	last                time.Time
	suppressed          map[string]int // by kind: added, updated, removed
	since               time.Time      // the first suppressed change
}

func newPrinter(w io.Writer, json bool, rate float64, now func() time.Time) *printer {
	burst := max(5*rate, 1)
	return &printer{w: &errWriter{w: w}, json: json, now: now, rate: rate, burst: burst, tokens: burst, suppressed: map[string]int{}}
}

// allow takes a token if there is one.
func (p *printer) allow() bool {
	if p.rate == 0 {
		return true
	}
	now := p.now()
	if !p.last.IsZero() {
		p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	if p.tokens < 1 {
		return false
	}
	p.tokens--
	return true
}

// change prints an mDNS change.
func (p *printer) change(c mdns.Change) {
	p.event(c.At, c.Kind.String(), c, func() string { return describe(&c.Service) })
}

// event prints a change of kind ("added", "updated", "removed") at at:
// v as JSON, or a line with text's result.
func (p *printer) event(at time.Time, kind string, v any, text func() string) {
	if !p.allow() {
		if len(p.suppressed) == 0 {
			p.since = at
		}
		p.suppressed[kind]++
		return
	}
	p.flush()
	if p.json {
		b, _ := json.Marshal(v) // a Change always marshals
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	mark := map[string]string{"added": "+", "updated": "~", "removed": "-"}[kind]
	fmt.Fprintf(p.w, "%s %s %-7s %s\n", at.Format("15:04:05.000"), mark, kind, text())
}

// flush prints the summary of the changes suppressed, if any.
func (p *printer) flush() {
	if len(p.suppressed) == 0 {
		return
	}
	n := map[string]int{}
	total := 0
	for k, c := range p.suppressed {
		n[k] = c
		total += c
	}
	if p.json {
		b, _ := json.Marshal(map[string]any{"event": "suppressed", "since": p.since, "count": total, "changes": n})
		fmt.Fprintf(p.w, "%s\n", b)
	} else {
		fmt.Fprintf(p.w, "%s ! %d changes suppressed over the rate limit since %s (%d added, %d updated, %d removed)\n",
			p.now().Format("15:04:05.000"), total, p.since.Format("15:04:05.000"), n["added"], n["updated"], n["removed"])
	}
	clear(p.suppressed)
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

// What one line shows of a service at most: the rest is counted.
const (
	maxAddrs     = 8
	maxTXT       = 8
	maxTXTString = 100 // bytes
)

func describe(s *mdns.Service) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %s.%s", s.Name, s.Type, s.Domain)
	if s.Host != "" {
		fmt.Fprintf(&b, " at %s:%d", s.Host, s.Port)
	}
	if len(s.Addrs) > 0 {
		fmt.Fprintf(&b, " %v", s.Addrs[:min(len(s.Addrs), maxAddrs)])
		if n := len(s.Addrs) - maxAddrs; n > 0 {
			fmt.Fprintf(&b, " (+%d more)", n)
		}
	}
	if len(s.TXT) > 0 {
		txt := make([]string, 0, min(len(s.TXT), maxTXT))
		for _, t := range s.TXT[:cap(txt)] {
			if len(t) > maxTXTString {
				t = t[:maxTXTString] + "..."
			}
			txt = append(txt, t)
		}
		fmt.Fprintf(&b, " txt %q", txt)
		if n := len(s.TXT) - maxTXT; n > 0 {
			fmt.Fprintf(&b, " (+%d more)", n)
		}
	}
	if ttl := time.Until(s.Expires).Round(time.Second); ttl > 0 {
		fmt.Fprintf(&b, " (ttl %v)", ttl)
	}
	return b.String()
}

// errWriter keeps the first write error; later writes are not tried.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	if err != nil {
		e.err = fmt.Errorf("output: %w", err)
	}
	return n, err
}

// err returns the first error writing the output: the program stops and
// exits 1 on it.
func (p *printer) err() error { return p.w.err }

// publishEvent prints a step of publishing; they are few (a rename at
// most a conflict), so they are not rate-limited.
func (p *printer) publishEvent(e mdns.PublishEvent) {
	p.flush()
	if p.json {
		b, _ := json.Marshal(map[string]any{"publish": e})
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	fmt.Fprintf(p.w, "%s * %-11s %q as %s on host %s\n", e.At.Format("15:04:05.000"), e.Kind, e.Name, e.Instance, e.Host)
}
