package cli_test

import (
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// The short flags (-c count, -t duration, -r rate, -s size) and numbers
// with units do what the long flags do: send -c 3 -s 1KiB -r 10k sends 3
// datagrams of 1,024 bytes, and listen -c 3 -t 60s prints those 3; a
// summary of one datagram and a port of one socket are said in the
// singular.
func TestShortFlagsAndUnits(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	g := groupAt("239.10.0.57", port)
	l := start(t, "listen", g, "-c", "3", "-t", "60s", "--format", "json", "--rcvbuf", "4MiB")
	l.listening(t, 1)
	code, _, e := run(t, 20*time.Second, "send", g, "-c", "3", "-s", "1KiB", "-r", "10k")
	if code != 0 || !strings.Contains(e, "sent 3 datagrams, 3072 bytes") || !strings.Contains(e, "asked 10000") {
		t.Fatalf("send -c 3 -s 1KiB -r 10k: exit %d\n%s", code, e)
	}
	if code := l.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("listen: exit %d", code)
	}
	if n := strings.Count(l.stdout.String(), `"length":1024,`); n != 3 {
		t.Errorf("listen -c 3 printed %d datagrams of 1,024 bytes, want 3:\n%s", n, l.stdout.String())
	}
	if !strings.Contains(l.stderr.String(), `"rcvbuf":4194304`) {
		t.Errorf("--rcvbuf 4MiB did not ask for 4,194,304 bytes:\n%s", l.stderr.String())
	}

	one := start(t, "listen", g, "-c", "1")
	one.listening(t, 1)
	code, out, e := run(t, 20*time.Second, "ports", strconv.Itoa(int(port)))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("UDP port %d: 1 socket, 1 user\n", port)) {
		t.Errorf("ports with one socket: exit %d\n%s%s", code, out, e)
	}
	if code, _, e := run(t, 20*time.Second, "send", g, "-c", "1"); code != 0 || !strings.Contains(e, "sent 1 datagram, 64 bytes") {
		t.Errorf("send -c 1: exit %d\n%s", code, e)
	}
	if code := one.wait(t, 20*time.Second); code != 0 || !strings.Contains(one.stderr.String(), "received 1 datagram, 64 bytes in") {
		t.Errorf("listen -c 1: exit %d\n%s", code, one.stderr.String())
	}
}

// --version says the build (from the build information: at least the Go
// version and the platform), and completion writes a script for each shell
// that cobra knows, whose completions name the subcommands and the flags.
func TestVersionAndCompletion(t *testing.T) {
	testbed.Require(t)
	code, out, e := run(t, 20*time.Second, "--version")
	want := regexp.MustCompile(`^sharecast \S.* ` + regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	if code != 0 || !want.MatchString(out) {
		t.Errorf("--version: exit %d, %q; want %v\n%s", code, out, want, e)
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, e := run(t, 20*time.Second, "completion", shell)
		if code != 0 || !strings.Contains(out, "sharecast") || len(out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes\n%s", shell, code, len(out), e)
		}
	}
	// What the scripts ask the program for as one types.
	code, out, e = run(t, 20*time.Second, "__complete", "")
	for _, sub := range []string{"listen", "send", "stat", "ports", "doctor", "matrix", "completion"} {
		if code != 0 || !strings.Contains(out, "\n"+sub+"\t") && !strings.HasPrefix(out, sub+"\t") {
			t.Errorf("completing a subcommand: exit %d, no %s in\n%s%s", code, sub, out, e)
		}
	}
	code, out, e = run(t, 20*time.Second, "__complete", "send", "--r")
	if code != 0 || !strings.Contains(out, "--rate\t") {
		t.Errorf("completing send --r: exit %d, no --rate in\n%s%s", code, out, e)
	}
}
