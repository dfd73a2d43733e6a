package cli_test

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/internal/cli"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// TestGenerateAndReceive runs the program twice in the test bed, as a
// receiver and as a generator, and checks that the receiver reports as
// gaps exactly the runs that the generator says both lines lost, and ends
// with the session.
func TestGenerateAndReceive(t *testing.T) {
	testbed.Require(t)
	lines := []string{"-a", "239.192.7.1:26400", "-b", "239.192.7.2:26401"}
	rout, rerr, done := startReceiver(t, append(lines, "-exit-on-end", "-start-seq", "1", "-gap-timeout", "1s", "-duration", "60s"))
	var gout, gerr bytes.Buffer
	err := cli.Run(context.Background(), append(lines, "-generate", "-messages", "20000", "-seed", "7",
		"-interval", "20us", "-a-loss", "0.05", "-b-loss", "0.05", "-a-dup", "0.01", "-b-reorder", "0.01",
		"-b-delay", "30us"), &gout, &gerr)
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, gerr.String())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("receive: %v\n%s", err, rerr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver did not end with the session")
	}
	t.Logf("generator:\n%s", gout.String())
	t.Logf("receiver:\n%s", rout.String())

	// The generator lists the first ten runs lost on both lines; the
	// receiver reports each as a gap (maybe in adjacent pieces).
	m := regexp.MustCompile(`lost on both lines: (\d+) messages in (\d+) runs((?: \d+-\d+)*)`).FindStringSubmatch(gout.String())
	if m == nil {
		t.Fatal("no summary of lost messages from the generator")
	}
	var gaps []string // merged where adjacent: a gap may be declared in pieces
	var last uint64
	for _, g := range regexp.MustCompile(`gap +FEEDGEN (\d+)-(\d+)`).FindAllStringSubmatch(rout.String(), -1) {
		first, _ := strconv.ParseUint(g[1], 10, 64)
		end, _ := strconv.ParseUint(g[2], 10, 64)
		if n := len(gaps); n > 0 && first == last+1 {
			gaps[n-1] = strings.Split(gaps[n-1], "-")[0] + "-" + g[2]
		} else {
			gaps = append(gaps, g[1]+"-"+g[2])
		}
		last = end
	}
	want := strings.Fields(m[3])
	if len(want) == 0 {
		t.Fatal("no run lost on both lines: the test is too weak")
	}
	if len(gaps) < len(want) || strings.Join(gaps[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("gaps reported %v, want %v first", gaps, want)
	}
	if !strings.Contains(rout.String(), "session  FEEDGEN ended at 20001") {
		t.Error("no session end reported")
	}
	if !regexp.MustCompile(`delivered \d+, gaps \d+ \(missing ` + m[1] + `\)`).MatchString(rout.String()) {
		t.Errorf("the receiver's missing count is not the %s messages lost on both lines", m[1])
	}
	if !strings.Contains(rout.String(), "kernel drops 0") {
		t.Log("the kernel dropped packets: the counts above may differ")
	}
}

// startReceiver runs the program with args in the background, and returns
// once it says where it listens (it has joined both lines): its output,
// and where Run's error will come.
func startReceiver(t *testing.T, args []string) (out, errb *extest.Buffer, done <-chan error) {
	t.Helper()
	out, errb = new(extest.Buffer), new(extest.Buffer)
	c := make(chan error, 1)
	go func() { c <- cli.Run(context.Background(), args, out, errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "receiving line A") {
		select {
		case err := <-c:
			t.Fatalf("receiver ended: %v\n%s", err, errb.String())
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the receiver did not start")
		}
	}
	return out, errb, c
}

// TestUsage checks that -h prints the usage and bad flags are refused.
func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), []string{"-h"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "marketdata -generate") || !strings.Contains(errb.String(), "-a-loss") {
		t.Errorf("usage: %s", errb.String())
	}
	for _, args := range [][]string{{"-a", "10.0.0.1:5000"}, {"-b", "239.1.1.1:0"}, {"extra"}, {"-log", "loud"},
		{"-generate", "-session", "much-too-long-name"}, {"-a", "239.1.1.1:5000", "-b", "239.1.1.1:5000"}} {
		if err := cli.Run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
