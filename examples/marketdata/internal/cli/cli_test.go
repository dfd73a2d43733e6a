package cli_test

import (
	"bytes"
	"context"
	"regexp"
	"slices"
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
// gaps the runs that the generator says both lines lost, that delivered
// and missing add up to the feed, and that it ends with the session.
//
// How fast each side runs is the machine's business: a receiver that falls
// behind may see the kernel drop packets, or give a message up before its
// slower line brings it (the copy then counts as late). So the receiver may
// report more missing than both lines lost, but never more than its kernel
// drops, queue drops and late copies explain; where it counts none of
// those, the gaps are exactly the generator's.
func TestGenerateAndReceive(t *testing.T) {
	testbed.Require(t)
	const messages, maxBatch = 20000, 8
	lines := []string{"-a", "239.192.7.1:26400", "-b", "239.192.7.2:26401"}
	rout, rerr, done := startReceiver(t, append(lines, "-exit-on-end", "-start-seq", "1", "-gap-timeout", "1s", "-duration", "60s"))
	var gout, gerr bytes.Buffer
	err := cli.Run(context.Background(), append(lines, "-generate", "-messages", strconv.Itoa(messages), "-seed", "7",
		"-interval", "20us", "-max-batch", strconv.Itoa(maxBatch), "-a-loss", "0.05", "-b-loss", "0.05",
		"-a-dup", "0.01", "-b-reorder", "0.01", "-b-delay", "30us"), &gout, &gerr)
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
	lostBoth, _ := strconv.ParseUint(m[1], 10, 64)
	type run struct{ first, last uint64 }
	var gaps []run // merged where adjacent: a gap may be declared in pieces
	for _, g := range regexp.MustCompile(`gap +FEEDGEN (\d+)-(\d+)`).FindAllStringSubmatch(rout.String(), -1) {
		first, _ := strconv.ParseUint(g[1], 10, 64)
		last, _ := strconv.ParseUint(g[2], 10, 64)
		if n := len(gaps); n > 0 && first == gaps[n-1].last+1 {
			gaps[n-1].last = last
		} else {
			gaps = append(gaps, run{first, last})
		}
	}
	var want []run
	for _, w := range strings.Fields(m[3]) {
		first, last, _ := strings.Cut(w, "-")
		f, _ := strconv.ParseUint(first, 10, 64)
		l, _ := strconv.ParseUint(last, 10, 64)
		want = append(want, run{f, l})
	}
	if len(want) == 0 {
		t.Fatal("no run lost on both lines: the test is too weak")
	}
	for _, w := range want {
		if !slices.ContainsFunc(gaps, func(g run) bool { return g.first <= w.first && w.last <= g.last }) {
			t.Errorf("messages %d-%d, lost on both lines, are in no gap; gaps %v", w.first, w.last, gaps)
		}
	}
	if !strings.Contains(rout.String(), "session  FEEDGEN ended at 20001") {
		t.Error("no session end reported")
	}

	// The final report, after "--": delivered and missing cover the feed;
	// what is missing beyond the generator's loss is explained.
	_, final, ok := strings.Cut(rout.String(), "\n--\n")
	if !ok {
		t.Fatal("no final report")
	}
	feed := regexp.MustCompile(`delivered (\d+), gaps \d+ \(missing (\d+)\)`).FindStringSubmatch(final)
	socks := regexp.MustCompile(`kernel drops (\d+), truncated \d+, queue drops (\d+)`).FindStringSubmatch(final)
	rows := regexp.MustCompile(`(?m)^\s*([AB])\s+\S+\s+\d+\s+\d+\s+\d+\s+\d+\s+(\d+)\s`).FindAllStringSubmatch(final, -1)
	if feed == nil || socks == nil || len(rows) != 2 {
		t.Fatalf("final report not understood:\n%s", final)
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	delivered, missing := num(feed[1]), num(feed[2])
	drops := num(socks[1]) + num(socks[2])
	late := num(rows[0][2]) + num(rows[1][2])
	if delivered+missing != messages {
		t.Errorf("delivered %d + missing %d, want %d", delivered, missing, messages)
	}
	if missing < lostBoth || missing-lostBoth > late+drops*maxBatch {
		t.Errorf("missing %d; %d lost on both lines, and %d late copies and %d dropped packets explain at most %d more",
			missing, lostBoth, late, drops, late+drops*maxBatch)
	}
	if late == 0 && drops == 0 {
		if missing != lostBoth || len(gaps) < len(want) || !slices.Equal(gaps[:len(want)], want) {
			t.Errorf("nothing late or dropped, yet missing %d and gaps %v; want %d missing and gaps %v first", missing, gaps, lostBoth, want)
		}
	} else {
		t.Logf("the receiver fell behind (%d late copies, %d dropped packets): gaps checked to cover the loss", late, drops)
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
