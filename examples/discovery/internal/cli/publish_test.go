package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/internal/cli"
	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestPublish runs the program with -publish on lo: it prints the steps,
// an agent of its own sees the service, and at the end it sends the
// goodbyes and prints its counters.
func TestPublish(t *testing.T) {
	testbed.Require(t)
	changes := make(chan mdns.Change, 100)
	a, err := mdns.New(context.Background(), &mdns.Config{Interfaces: []string{"lo"}, OnChange: func(c mdns.Change) { changes <- c }})
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(context.Background())
	defer a.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errb := new(extest.Buffer), new(extest.Buffer)
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"-i", "lo", "-host", "clihost", "-publish", "Cli Test", "_clitest._tcp", "7777", "k=v"}, out, errb)
	}()
	waitFor(t, out, func(s string) bool {
		return strings.Contains(s, `established "Cli Test" as Cli\ Test._clitest._tcp.local. on host clihost.local.`)
	})
	timeout := time.After(10 * time.Second)
	for added := false; !added; {
		select {
		case c := <-changes:
			added = c.Kind == mdns.Added && c.Service.Name == "Cli Test" && c.Service.Port == 7777 && c.Service.Host == "clihost.local."
		case <-timeout:
			t.Fatal("the agent did not see the service")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), `withdrawn   "Cli Test"`) || !strings.Contains(errb.String(), "discovery: published: 6 probes, ") {
		t.Errorf("output:\n%s\n%s", out.String(), errb.String())
	}
	timeout = time.After(10 * time.Second)
	for removed := false; !removed; {
		select {
		case c := <-changes:
			removed = c.Kind == mdns.Removed && c.Service.Name == "Cli Test"
		case <-timeout:
			t.Fatal("the goodbye did not remove the service")
		}
	}
}

func TestPublishUsage(t *testing.T) {
	var out, errb strings.Builder
	for _, args := range [][]string{{"-publish", "x", "_x._tcp"}, {"-publish", "x", "_x._tcp", "0"}, {"-publish", "x", "_x._tcp", "http"},
		{"-ssdp", "-publish", "x", "_x._tcp", "1"}, {"-ssdp", "-oneshot"}, {"-i", "lo", "-publish", "x", "nodots", "1"}} {
		if err := cli.Run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
