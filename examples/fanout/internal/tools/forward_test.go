package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/fanout/internal/tools"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

type run struct {
	out, err extest.Buffer
	done     chan error
}

// goRun runs a tool in this process and waits until it has joined.
func goRun(t *testing.T, args ...string) *run {
	t.Helper()
	r := &run{done: make(chan error, 1)}
	go func() { r.done <- tools.Run(context.Background(), args, &r.out, &r.err) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.err.String(), "joined") {
		select {
		case err := <-r.done:
			t.Fatalf("%s ended: %v\n%s", args[0], err, r.err.String())
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not join", args[0])
		}
	}
	return r
}

func (r *run) wait(t *testing.T) string {
	t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("%v\n%s", err, r.err.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the tool did not end")
	}
	return r.out.String()
}

// TestForwardToGroup relays a feed to a second group, where the stats
// tool, printing a report every 20ms, counts every datagram.
func TestForwardToGroup(t *testing.T) {
	testbed.Require(t)
	const n = 2000
	in, out := netip.MustParseAddrPort("239.6.6.5:6000"), netip.MustParseAddrPort("239.6.6.6:6001")
	st := goRun(t, "stats", "-count", "2000", "-interval", "20ms", out.String())
	fw := goRun(t, "forward", "-count", "2000", "-format", "json", "-to", out.String(), in.String())

	s := testbed.NewSender(t, in, nil, netip.Addr{})
	for i := range n {
		if i%64 == 0 {
			for _, port := range []uint16{in.Port(), out.Port()} {
				if err := testbed.Pace(port, 128<<10, 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Send(payload(7, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	var sum tools.Summary
	if err := json.Unmarshal([]byte(fw.wait(t)), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Forward == nil || sum.Forward.Forwarded != n || sum.Forward.To != out.String() || sum.KernelDrops != 0 {
		t.Errorf("forward: %+v %+v", sum, sum.Forward)
	}
	text := st.wait(t)
	t.Logf("stats:\n%s", text)
	for _, want := range []string{"datagrams/s", "stats " + out.String() + ": 2000 datagrams", "kernel drops 0",
		"sequence: gaps 0, missing 0, late 0, duplicates 0, resets 0; no header 0, bad fill 0", "1 flows (evicted 0, untracked 0)"} {
		if !strings.Contains(text, want) {
			t.Errorf("stats output lacks %q", want)
		}
	}
}

// TestUsage checks the usage text and that bad arguments are refused.
func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := tools.Run(context.Background(), []string{"-h"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "fanout record -w feed.pcap") || !strings.Contains(errb.String(), "-count") {
		t.Errorf("usage: %s", errb.String())
	}
	for _, args := range [][]string{nil, {"nosuchtool"}, {"record"}, {"record", "10.0.0.1:5"}, {"stats", "-format", "xml", "239.1.1.1:5"},
		{"forward", "239.1.1.1:5"}, {"forward", "-unix", "/x", "-to", "239.1.1.2:5", "239.1.1.1:5"},
		{"forward", "-to", "239.1.1.1:5", "239.1.1.1:5"}, {"record", "-w", "/nonexistent/dir/x.pcap", "239.1.1.1:5"},
		{"record", "-buffer", "65508", "239.1.1.1:5"}, {"stats", "-buffer", "-1", "239.1.1.1:5"}, {"record", "-queue", "-1", "239.1.1.1:5"}} {
		if err := tools.Run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
