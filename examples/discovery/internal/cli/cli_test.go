package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	var out, errb extest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(context.Background(), []string{"-i", "lo", "-no-ipv6", "-format", "json", "-table", "-duration", "1s", "-query", "_x._udp"}, &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "listening on 224.0.0.251:5353%lo") {
		if time.Now().After(deadline) {
			t.Fatalf("not listening: %s", errb.String())
		}
		time.Sleep(time.Millisecond) // polling the program's output, bounded by the deadline
	}
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

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), []string{"-h"}, &out, &errb); err != nil || !strings.Contains(errb.String(), "discovery -i eth0 -query _http._tcp") {
		t.Errorf("usage: %v\n%s", err, errb.String())
	}
	for _, args := range [][]string{{"x"}, {"-format", "xml"}, {"-log", "loud"}, {"-no-ipv4", "-no-ipv6"}, {"-i", "nosuchif0"}} {
		if err := cli.Run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
