package cli_test

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/internal/cli"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

// freePort returns a UDP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LocalAddr().String()
}

// TestRewinderCLI runs the three programs as a user would: marketdata
// rewind on the lines, a receiver that asks the generator's rewinder
// (-rewind-listen) for what both lines lost, and the generator, 5% loss on
// each line. The receiver reports no gap and recovers what both lost; the
// rewind process holds the feed but for those runs (holes), and says so.
func TestRewinderCLI(t *testing.T) {
	testbed.Require(t)
	lines := []string{"-a", "239.192.7.9:26430", "-b", "239.192.7.10:26430"}
	genAt, rewAt := freePort(t), freePort(t)

	rout, rerr, rdone := startProgram(t, "answering re-requests", append([]string{"rewind", "-listen", rewAt, "-start-seq", "1",
		"-gap-timeout", "200ms", "-exit-on-end", "-duration", "60s", "-quiet"}, lines...))
	out, errb, done := startReceiver(t, append(lines, "-rewinder", genAt, "-start-seq", "1", "-gap-timeout", "1s",
		"-window", "131072", "-recovery-timeout", "20s", "-exit-on-end", "-duration", "60s"))

	gctx, stopGen := context.WithCancel(context.Background())
	gout, gerr := new(extest.Buffer), new(extest.Buffer)
	gdone := make(chan error, 1)
	go func() {
		gdone <- cli.Run(gctx, append(lines, "-generate", "-messages", "20000", "-seed", "7", "-interval", "20us",
			"-a-loss", "0.05", "-b-loss", "0.05", "-rewind-listen", genAt, "-linger", "60s"), gout, gerr)
	}()
	for _, c := range []struct {
		name string
		done <-chan error
		errb *extest.Buffer
	}{{"receiver", done, errb}, {"rewind", rdone, rerr}} {
		select {
		case err := <-c.done:
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.name, err, c.errb.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("the %s did not end with the session", c.name)
		}
	}
	stopGen()
	if err := <-gdone; err != nil {
		t.Fatalf("generate: %v\n%s", err, gerr.String())
	}
	t.Logf("generator:\n%s", gout.String())
	t.Logf("receiver:\n%s", out.String())
	t.Logf("rewind:\n%s", rout.String())
	m := regexp.MustCompile(`lost on both lines: (\d+) messages in (\d+) runs`).FindStringSubmatch(gout.String())
	if m == nil || m[1] == "0" {
		t.Fatalf("no messages lost on both lines: the test is too weak")
	}
	if !strings.Contains(out.String(), "delivered 20000, gaps 0 (missing 0)") {
		t.Errorf("the receiver did not deliver all 20000 without a gap")
	}
	recovered := regexp.MustCompile(`recovery from \S+: recovered ` + m[1] + ` messages`).MatchString(out.String())
	switch {
	case !recovered && strings.Contains(out.String(), "kernel drops 0,"):
		t.Errorf("the receiver did not recover the %s messages both lines lost", m[1])
	case !recovered:
		t.Logf("the receiver's kernel dropped datagrams: it recovered more than both lines lost")
	}
	if !regexp.MustCompile(`rewind: session "FEEDGEN", holding 1-20000 \(\d+ messages`).MatchString(rout.String()) {
		t.Errorf("the rewind process does not hold the feed")
	}
	if !strings.Contains(gout.String(), "rewind: session \"FEEDGEN\"") {
		t.Errorf("the generator did not report its rewinder")
	}
}

// startProgram runs the program with args in the background and returns
// once its output holds ready.
func startProgram(t *testing.T, ready string, args []string) (out, errb *extest.Buffer, done <-chan error) {
	t.Helper()
	out, errb = new(extest.Buffer), new(extest.Buffer)
	c := make(chan error, 1)
	go func() { c <- cli.Run(context.Background(), args, out, errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), ready) {
		select {
		case err := <-c:
			t.Fatalf("%q ended: %v\n%s", args, err, errb.String())
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not start", args)
		}
	}
	return out, errb, c
}
