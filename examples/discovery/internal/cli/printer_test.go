package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/examples/discovery/ssdp"
)

// clock is a fake time for the printer.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func change(i int, at time.Time) mdns.Change {
	return mdns.Change{Kind: mdns.Added, At: at, Service: mdns.Service{Instance: fmt.Sprintf("f%d._x._tcp.local.", i), Name: fmt.Sprint("f", i), Type: "_x._tcp", Domain: "local"}}
}

// TestPrinterRate: 20,000 changes at once print the burst (five seconds'
// worth) and one summary of the rest; a second later, one second's worth
// more. Every change is printed or counted in a summary.
func TestPrinterRate(t *testing.T) {
	for _, js := range []bool{false, true} {
		var out bytes.Buffer
		c := &clock{time.Date(2024, 6, 7, 12, 0, 0, 0, time.UTC)}
		p := newPrinter(&out, js, 10, c.now)
		for i := range 20000 {
			p.change(change(i, c.t))
		}
		p.flush()
		c.t = c.t.Add(time.Second)
		for i := range 100 {
			p.change(change(20000+i, c.t))
		}
		p.flush()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		// 50 changes, a summary of 19,950; 10 changes, a summary of 90.
		if len(lines) != 62 {
			t.Fatalf("json %v: %d lines, want 62:\n%s", js, len(lines), out.String())
		}
		for i, want := range map[int]int{50: 19950, 61: 90} {
			if js {
				var s struct {
					Event   string
					Count   int
					Changes map[string]int
				}
				if err := json.Unmarshal([]byte(lines[i]), &s); err != nil || s.Event != "suppressed" || s.Count != want || s.Changes["added"] != want {
					t.Errorf("line %d: %s: %+v %v", i, lines[i], s, err)
				}
			} else if !strings.Contains(lines[i], fmt.Sprintf("! %d changes suppressed over the rate limit since 12:00:0", want)) ||
				!strings.HasSuffix(lines[i], fmt.Sprintf("(%d added, 0 updated, 0 removed)", want)) {
				t.Errorf("line %d: %s", i, lines[i])
			}
		}
		if !strings.Contains(lines[51], "f20000") || !strings.Contains(lines[60], "f20009") {
			t.Errorf("after a second: %s ... %s", lines[51], lines[60])
		}
	}
	var out bytes.Buffer
	p := newPrinter(&out, false, 0, time.Now)
	for i := range 1000 {
		p.change(change(i, time.Now()))
	}
	if n := strings.Count(out.String(), "\n"); n != 1000 {
		t.Errorf("no limit: %d lines", n)
	}
}

// TestDescribeBounded: a service with 30,000 addresses and large TXT
// strings makes a line of bounded size that says what it left out.
func TestDescribeBounded(t *testing.T) {
	s := mdns.Service{Name: "many", Type: "_x._tcp", Domain: "local", Host: "h.local.", Port: 1}
	for i := range 30000 {
		s.Addrs = append(s.Addrs, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	for range 20 {
		s.TXT = append(s.TXT, strings.Repeat("x", 255))
	}
	d := describe(&s)
	if len(d) > 2000 || !strings.Contains(d, "10.0.0.7] (+29992 more)") || !strings.Contains(d, `(+12 more)`) || strings.Count(d, "...") != 8 {
		t.Errorf("%d bytes: %s", len(d), d)
	}
}

// TestDescribeDeviceEscapes: what a device says of itself is quoted and
// cut, so that a hostile name cannot write control sequences to the
// terminal or a line without end.
func TestDescribeDeviceEscapes(t *testing.T) {
	d := &ssdp.Device{UUID: "uuid:x\x1b[2J", Location: "http://10.0.0.1/\r\nX", Source: netip.MustParseAddr("10.0.0.1"),
		Description: &ssdp.Description{FriendlyName: "evil\x1b[31m" + strings.Repeat("a", 500), Services: make([]string, 20)}}
	s := describeDevice(d)
	if strings.ContainsAny(s, "\x1b\r\n") || len(s) > 1000 || !strings.Contains(s, `(+12 more)`) {
		t.Errorf("%q", s)
	}
}
