package cli_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/pcap"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/internal/wire"
)

// startListening starts cmd (listen, its stdout set by the caller) with
// its stderr collected, waits for its listening log, and returns the
// stderr and the channel that Wait's result arrives on.
func startListening(t *testing.T, cmd *exec.Cmd) (*output, <-chan error) {
	t.Helper()
	stderr := newOutput()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stderr.waitFor(t, "listening log", 20*time.Second, func(s string) bool { return strings.Contains(s, `"message":"listening"`) })
	return stderr, done
}

// exitCode waits for cmd and returns its exit status.
func exitCode(t *testing.T, cmd *exec.Cmd, done <-chan error) int {
	t.Helper()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("sharecast did not exit")
		return -1
	}
}

var outputRE = regexp.MustCompile(`output standard output: written (\d+)(?:, not written (\d+) \(([^)]*)\))?`)
var printRE = regexp.MustCompile(`handler print: received (\d+), delivered (\d+), dropped (\d+)`)

// Output that cannot be written stops listen with exit 1 and a message,
// and its summary counts what was received but not written: written + not
// written = what the handler received.
func TestListenOutputFull(t *testing.T) {
	testbed.Require(t)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	g := groupAt("239.10.0.60", freePort(t))
	cmd := command(t, "listen", g)
	cmd.Stdout = full
	stderr, done := startListening(t, cmd)
	// Send until listen gives up: its output fails at the first flush.
	snd := start(t, "send", g, "--rate", "1000", "--duration", "20s", "--log-level", "warn")
	code := exitCode(t, cmd, done)
	snd.cmd.Process.Kill()
	out := stderr.String()
	if code != 1 || !strings.Contains(out, "writing to standard output") || !strings.Contains(out, "no space left on device") {
		t.Fatalf("listen > /dev/full: exit %d, want 1 with the write error:\n%s", code, out)
	}
	o, h := outputRE.FindStringSubmatch(out), printRE.FindStringSubmatch(out)
	if o == nil || h == nil || o[2] == "" {
		t.Fatalf("no output and handler lines in the summary:\n%s", out)
	}
	written, _ := strconv.Atoi(o[1])
	unwritten, _ := strconv.Atoi(o[2])
	received, _ := strconv.Atoi(h[1])
	if written != 0 || unwritten == 0 || written+unwritten != received {
		t.Errorf("written %d + not written %d, want 0 + the %d received:\n%s", written, unwritten, received, out)
	}
}

// A reader that goes away (listen | head -1) ends listen cleanly: exit 0,
// the summary on stderr, no SIGPIPE.
func TestListenReaderGoesAway(t *testing.T) {
	testbed.Require(t)
	g := groupAt("239.10.0.61", freePort(t))
	cmd := command(t, "listen", g)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, done := startListening(t, cmd)
	snd := start(t, "send", g, "--rate", "1000", "--duration", "20s", "--log-level", "warn")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "sharecast stream") {
		t.Fatalf("first line %q: %v", line, err)
	}
	stdout.Close() // as head -1 does after its line
	code := exitCode(t, cmd, done)
	snd.cmd.Process.Kill()
	out := stderr.String()
	if code != 0 || !strings.Contains(out, "was closed by its reader") || !strings.Contains(out, "sharecast listen: received") {
		t.Errorf("listen | head -1: exit %d, want 0 with a summary:\n%s", code, out)
	}
}

// listen -w writes a capture that tshark and our reader read back byte for
// byte; send --pcap replays its payloads to another group, where a second
// listener gets every one of them, byte for byte, in order.
func TestListenWriteAndReplay(t *testing.T) {
	testbed.Require(t)
	tshark := extest.RequireCommand(t, "tshark", "tshark")
	port := freePort(t)
	g, g2 := groupAt("239.10.0.62", port), groupAt("239.10.0.63", port)
	file := filepath.Join(t.TempDir(), "feed.pcap")
	const n = 50
	rec := start(t, "listen", g, "-w", file, "--count", strconv.Itoa(n))
	rec.listening(t, 1)
	if code, _, e := run(t, 20*time.Second, "send", g, "--count", strconv.Itoa(n), "--size", "300", "--rate", "2000"); code != 0 {
		t.Fatalf("send: %s", e)
	}
	if code := rec.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("listen -w: exit %d", code)
	}
	if !strings.Contains(rec.stderr.String(), fmt.Sprintf("output %s: written %d", file, n)) {
		t.Errorf("summary:\n%s", rec.stderr.String())
	}

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := pcap.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for {
		r, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		u, err := pcap.ParseUDP(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		h, err := wire.Decode(u.Payload)
		if err != nil || h.Seq != uint64(len(payloads)) || len(u.Payload) != 300 || u.Dst.String() != g {
			t.Fatalf("record %d: %v, %+v, %d bytes to %s", len(payloads), err, h, len(u.Payload), u.Dst)
		}
		want := make([]byte, 300)
		copy(want, u.Payload[:wire.HeaderLen])
		wire.Fill(want[wire.HeaderLen:], h.Seq)
		if !bytes.Equal(u.Payload, want) {
			t.Fatalf("record %d: payload differs", len(payloads))
		}
		payloads = append(payloads, bytes.Clone(u.Payload))
	}
	if len(payloads) != n {
		t.Fatalf("%d records, want %d", len(payloads), n)
	}
	out, err := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "udp.dstport", "-e", "udp.length").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if got := strings.Count(string(out), fmt.Sprintf("%d\t308\n", port)); got != n {
		t.Errorf("tshark reads %d UDP datagrams of 300 bytes to port %d, want %d:\n%s", got, port, n, out)
	}

	// Replay to the other group as fast as it goes, at a --rate, and at
	// the recorded pace (no --rate): the same payloads, in order, each
	// time, and the summary says which pace was asked.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "0"}, "as fast as possible"},
		{[]string{"--rate", "5000"}, "asked 5000"},
		{nil, "at the recorded pace"},
	} {
		rep := start(t, "listen", g2, "--count", strconv.Itoa(n), "--format", "raw")
		rep.listening(t, 1)
		code, _, e := run(t, 20*time.Second, append([]string{"send", g2, "--pcap", file}, c.args...)...)
		if code != 0 || !strings.Contains(e, fmt.Sprintf("sent %d datagrams, %d bytes", n, n*300)) || !strings.Contains(e, c.want) {
			t.Fatalf("send --pcap %v: exit %d\n%s\nwant %q", c.args, code, e, c.want)
		}
		if code := rep.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("listen: exit %d", code)
		}
		if got := rep.stdout.String(); got != string(bytes.Join(payloads, nil)) {
			t.Errorf("send --pcap %v: the replay's %d bytes differ from the capture's payloads (%d bytes)", c.args, len(got), n*300)
		}
	}
}

// Every subcommand that prints fails (exit 1, with a message) when its
// output cannot be written, rather than exit 0 with the output lost.
func TestOutputFullEverySubcommand(t *testing.T) {
	testbed.Require(t)
	g := groupAt("239.10.0.65", freePort(t))
	for _, args := range [][]string{
		{"stat", g, "--interval", "100ms", "-t", "20s"},
		{"stat", g, "--interval", "100ms", "-t", "20s", "--format", "json"},
		{"stat", g, "--interval", "100ms", "-t", "20s", "--format", "csv"},
		{"matrix", "--same-user-only"},
		{"matrix", "--same-user-only", "--format", "json"},
		{"ports"},
		{"--help"},
	} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Skip(err)
		}
		cmd := command(t, args...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &stderr
		err = cmd.Run()
		full.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("sharecast %s > /dev/full: %v, want exit 1 naming the error:\n%s", strings.Join(args, " "), err, stderr.String())
		}
	}
}

// listen -w refuses a symbolic link rather than write through it, and
// makes a new file its owner's only; --max-bytes stops it once that many
// payload bytes are written.
func TestListenWriteSafely(t *testing.T) {
	testbed.Require(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "feed.pcap")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	g := groupAt("239.10.0.64", freePort(t))
	code, _, e := run(t, 20*time.Second, "listen", g, "-w", link)
	if code != 2 || !strings.Contains(e, "symbolic link") {
		t.Errorf("listen -w SYMLINK: exit %d, want 2 saying it is a symbolic link:\n%s", code, e)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}

	file := filepath.Join(dir, "new.pcap")
	l := start(t, "listen", g, "-w", file, "--max-bytes", "640")
	l.listening(t, 1)
	snd := start(t, "send", g, "--rate", "1000", "--duration", "20s", "--log-level", "warn")
	code = l.wait(t, 30*time.Second)
	snd.cmd.Process.Kill()
	if code != 0 || !strings.Contains(l.stderr.String(), fmt.Sprintf("output %s: written 10", file)) {
		t.Errorf("listen --max-bytes 640 of 64-byte datagrams: exit %d, want 10 written:\n%s", code, l.stderr.String())
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the capture file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}

// listen A B --count 5 prints 5 datagrams, and its summary says what
// became of the others its handler received: written + after the limit =
// received, for the groups together.
func TestListenCountReconciles(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	a, b := groupAt("239.10.0.66", port), groupAt("239.10.0.67", port)
	l := start(t, "listen", a, b, "--count", "5")
	l.listening(t, 1)
	for _, g := range []string{a, b} {
		if code, _, e := run(t, 20*time.Second, "send", g, "--count", "40", "--rate", "0", "--log-level", "warn"); code != 0 {
			t.Fatalf("send: %s", e)
		}
	}
	if code := l.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("listen: exit %d", code)
	}
	if n := len(lines(l.stdout.String())); n != 5 {
		t.Errorf("listen --count 5 printed %d lines", n)
	}
	e := l.stderr.String()
	m := regexp.MustCompile(`output standard output: written (\d+)(?:, (\d+) more after the limit \(--count or --max-bytes\), not written)?\n`).FindStringSubmatch(e)
	h := printRE.FindStringSubmatch(e)
	s := summaryRE.FindStringSubmatch(e)
	if m == nil || h == nil || s == nil {
		t.Fatalf("no output, handler or summary line:\n%s", e)
	}
	written, _ := strconv.Atoi(m[1])
	past, _ := strconv.Atoi(m[2])
	received, _ := strconv.Atoi(h[1])
	if written != 5 || written+past != received || s[1] != h[1] {
		t.Errorf("written %d + %d after the limit, want 5 + the rest of the %d the handler received (summary: %s):\n%s", written, past, received, s[1], e)
	}
}
