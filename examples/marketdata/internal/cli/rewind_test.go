package cli_test

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/internal/cli"
	"github.com/sharecast/sharecast/examples/marketdata/soup"
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

// TestSoupCLI runs marketdata soup on the lines and the generator (5%
// loss on each line, so some messages are lost on both, and the generator
// answers re-requests that soup's -rewinder makes); then a SoupBinTCP
// client logs in at 1 and receives the whole session, byte for byte, and
// its end.
func TestSoupCLI(t *testing.T) {
	testbed.Require(t)
	lines := []string{"-a", "239.192.7.11:26440", "-b", "239.192.7.12:26440"}
	genAt := freePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	soupAt := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sout, serr := new(extest.Buffer), new(extest.Buffer)
	sdone := make(chan error, 1)
	go func() {
		sdone <- cli.Run(ctx, append([]string{"soup", "-listen", soupAt, "-start-seq", "1", "-gap-timeout", "1s", "-window", "131072",
			"-rewinder", genAt, "-recovery-timeout", "20s", "-quiet"}, lines...), sout, serr)
	}()
	for !strings.Contains(sout.String(), "serving SoupBinTCP") {
		select {
		case err := <-sdone:
			t.Fatalf("soup ended: %v\n%s", err, serr.String())
		case <-time.After(time.Millisecond):
		}
	}
	gctx, stopGen := context.WithCancel(context.Background())
	defer stopGen()
	gout, gerr := new(extest.Buffer), new(extest.Buffer)
	gdone := make(chan error, 1)
	go func() {
		gdone <- cli.Run(gctx, append(lines, "-generate", "-messages", "5000", "-seed", "9", "-interval", "20us",
			"-a-loss", "0.05", "-b-loss", "0.05", "-rewind-listen", genAt, "-linger", "60s"), gout, gerr)
	}()
	// Log in at 1 once soup has the session; read it all.
	var conn net.Conn
	deadline := time.Now().Add(30 * time.Second)
	seq := uint64(1)
	for seq <= 5000 {
		if time.Now().After(deadline) {
			t.Fatalf("received up to %d\n%s", seq-1, sout.String())
		}
		if conn == nil {
			if conn, err = net.Dial("tcp", soupAt); err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(soup.AppendLogin(nil, soup.Login{Seq: seq}))
		}
		typ, p, err := readSoup(conn)
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case soup.TypeLoginRejected: // no session yet: again
			conn.Close()
			conn = nil
			time.Sleep(10 * time.Millisecond)
		case soup.TypeLoginAccepted, soup.TypeHeartbeat:
		case soup.TypeSequenced:
			if err := feedgen.CheckMessage(seq, p); err != nil {
				t.Fatal(err)
			}
			seq++
		default:
			t.Fatalf("got %q %q at %d", typ, p, seq)
		}
	}
	for {
		typ, _, err := readSoup(conn)
		if err != nil {
			t.Fatal(err)
		}
		if typ == soup.TypeEndOfSession {
			break
		}
	}
	stopGen()
	<-gdone
	cancel()
	if err := <-sdone; err != nil {
		t.Fatalf("soup: %v\n%s", err, serr.String())
	}
	t.Logf("generator:\n%s\nsoup:\n%s", gout.String(), sout.String())
	if !strings.Contains(sout.String(), "delivered 5000, gaps 0") || !strings.Contains(sout.String(), "logins 1") {
		t.Errorf("soup's report")
	}
}

func readSoup(conn net.Conn) (byte, []byte, error) {
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, int(hdr[0])<<8|int(hdr[1]))
	if _, err := io.ReadFull(conn, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}
