package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sharecast/sharecast/examples/discovery/internal/cli"
	"github.com/sharecast/sharecast/examples/discovery/internal/mdnstest"
	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// TestJSON runs the program on lo with -format json and -table, announces
// a service to it, and reads the change and the final table back.
func TestJSON(t *testing.T) {
	testbed.Require(t)
	out, errb, done := start(t, context.Background(), "-i", "lo", "-no-ipv6", "-format", "json", "-table", "-duration", "1s", "-query", "_x._udp")
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{
		&dns.PTR{Hdr: dns.RR_Header{Name: "_x._udp.local.", Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: "one._x._udp.local."},
		&dns.SRV{Hdr: dns.RR_Header{Name: "one._x._udp.local.", Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 60}, Port: 7, Target: "h.local."},
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if err := mdnstest.NewResponder(t, mdns.GroupIPv4).Send(b); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no end after -duration")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q, want a change and the table", out.String())
	}
	var change struct {
		Event   string `json:"event"`
		Service struct {
			Instance, Host string
			Port           int
		} `json:"service"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &change); err != nil || change.Event != "added" ||
		change.Service.Instance != "one._x._udp.local." || change.Service.Port != 7 || change.Service.Host != "h.local." {
		t.Errorf("change %s: %+v, %v", lines[0], change, err)
	}
	if !strings.HasPrefix(lines[1], `{"table":[{"instance":"one._x._udp.local."`) {
		t.Errorf("table %s", lines[1])
	}
}

// start runs the program with args until ctx ends and waits until it
// listens on 224.0.0.251 on lo.
func start(t *testing.T, ctx context.Context, args ...string) (out, errb *extest.Buffer, done <-chan error) {
	t.Helper()
	out, errb = new(extest.Buffer), new(extest.Buffer)
	d := make(chan error, 1)
	go func() { d <- cli.Run(ctx, args, out, errb) }()
	waitFor(t, errb, func(s string) bool { return strings.Contains(s, "listening on 224.0.0.251:5353%lo") })
	return out, errb, d
}

// waitFor polls b until ok holds of its contents, for ten seconds at most.
func waitFor(t *testing.T, b *extest.Buffer, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(b.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", b.String())
		}
		time.Sleep(time.Millisecond) // polling the program's output, bounded by the deadline
	}
}

// TestFlood is issue 17's finding 9 for discovery, over real sockets:
// 1,000 forged services with TTL 2^32-1 and a real one make 1,001
// changes; the program prints some of them, at -rate, sums up the others
// in "suppressed" lines (every change printed or counted), and at the end
// prints the agent's counters: the TTLs clamped, and the response sent
// from another port than 5353 dropped.
func TestFlood(t *testing.T) {
	testbed.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errb, done := start(t, ctx, "-i", "lo", "-no-ipv6", "-format", "json", "-rate", "2")
	wrong, err := mdnstest.PTRFlood(5000, 1, 1, 60)[0].Pack()
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.NewSender(t, netip.AddrPortFrom(mdns.GroupIPv4, mdns.Port), nil, netip.Addr{}).Send(wrong); err != nil {
		t.Fatal(err)
	}
	r := mdnstest.NewResponder(t, mdns.GroupIPv4)
	r.SendAll(t, mdnstest.PTRFlood(0, 1000, 400, mdnstest.HugeTTL)...)
	r.SendAll(t, mdnstest.PTRFlood(1000, 1, 1, 60)...)
	var printed, suppressed int
	count := func(s string) bool {
		printed, suppressed = 0, 0
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			var e struct {
				Event   string
				Changes map[string]int
			}
			if json.Unmarshal([]byte(l), &e) != nil {
				continue
			}
			switch e.Event {
			case "added":
				printed++
			case "suppressed":
				suppressed += e.Changes["added"]
			}
		}
		return printed+suppressed == 1001
	}
	waitFor(t, out, count)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if printed >= 1001 || suppressed == 0 || strings.Contains(out.String(), `"f5000.`) {
		t.Errorf("%d changes printed, %d suppressed:\n%s", printed, suppressed, out.String())
	}
	if !strings.Contains(errb.String(), "discovery: 5 packets (0 malformed, 0 queries, 1 responses not from port 5353); table: 1001 services, 1001 records; 0 records evicted, 0 addresses evicted, 1000 TTLs clamped") {
		t.Errorf("counters: %s", errb.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), []string{"-h"}, &out, &errb); err != nil || !strings.Contains(errb.String(), "discovery -i eth0 -query _http._tcp") {
		t.Errorf("usage: %v\n%s", err, errb.String())
	}
	for _, args := range [][]string{{"x"}, {"-format", "xml"}, {"-rate", "-1"}, {"-log", "loud"}, {"-no-ipv4", "-no-ipv6"}, {"-i", "nosuchif0"}} {
		if err := cli.Run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
