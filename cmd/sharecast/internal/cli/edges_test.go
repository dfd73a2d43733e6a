package cli_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// A privileged port refused to an unprivileged user is said to be one, not
// blamed on another socket.
func TestListenPrivilegedPort(t *testing.T) {
	testbed.RequireRoot(t)
	p := startAs(t, 65534, "listen", "239.10.0.50:500", "--log-level", "warn")
	code := p.wait(t, 20*time.Second)
	checkError(t, code, p.stderr.String(), 1, "port 500 is privileged")
	if strings.Contains(p.stderr.String(), "another socket") {
		t.Errorf("blames another socket:\n%s", p.stderr.String())
	}
}

// --metrics on a TCP port that another program holds is a run-time
// failure (exit 1), not a usage error.
func TestMetricsPortBusy(t *testing.T) {
	testbed.Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := groupAt("239.10.0.51", freePort(t))
	code, out, errOut := run(t, 20*time.Second, "listen", g, "--metrics", ln.Addr().String(), "--log-level", "warn")
	noPanic(t, out, errOut)
	checkError(t, code, errOut, 1, "--metrics "+ln.Addr().String())
}

// A line of --stdin longer than a datagram holds is refused with a message
// that says so, after the lines before it were sent.
func TestSendStdinLineTooLong(t *testing.T) {
	testbed.Require(t)
	g := groupAt("239.10.0.52", freePort(t))
	cmd := command(t, "send", g, "--stdin", "--log-level", "warn")
	cmd.Stdin = strings.NewReader("short\n" + strings.Repeat("x", 70_000) + "\nnever\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil || !strings.Contains(stderr.String(), "line 2 of standard input") || !strings.Contains(stderr.String(), "65507") ||
		!strings.Contains(stderr.String(), "sent 1 datagram, 5 bytes") {
		t.Errorf("send --stdin with a 70,000-byte line: %v\n%s", err, stderr.String())
	}
}

// send takes the source of a source-specific spec: a receiver of that
// source-specific group gets the datagrams from it. --loop=false on lo is
// warned about, since lo delivers all the same.
func TestSendFromSpecSource(t *testing.T) {
	testbed.Require(t)
	spec := fmt.Sprintf("232.1.1.9:%d@127.0.0.2", freePort(t))
	l := start(t, "listen", spec, "--count", "2", "--format", "json")
	l.listening(t, 1)
	code, _, errOut := run(t, 20*time.Second, "send", spec, "--count", "2", "--loop=false")
	if code != 0 {
		t.Fatalf("send: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "--loop=false does not keep datagrams") {
		t.Errorf("no warning that lo delivers locally with --loop=false:\n%s", errOut)
	}
	if code := l.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("listen: exit %d", code)
	}
	if n := strings.Count(l.stdout.String(), `"source":"127.0.0.2:`); n != 2 {
		t.Errorf("%d datagrams from 127.0.0.2, want 2:\n%s", n, l.stdout.String())
	}
}

// A co-tenant of another user that binds the port after listen started is
// seen too, and warned about once.
func TestListenLateCoTenant(t *testing.T) {
	testbed.RequireRoot(t)
	g := groupAt("239.10.0.53", freePort(t))
	root := start(t, "listen", g)
	root.listening(t, 1)
	if strings.Contains(root.stderr.String(), "another user") {
		t.Fatalf("warned before any other user came:\n%s", root.stderr.String())
	}
	late := startAs(t, 65534, "listen", g)
	late.listening(t, 1)
	root.stderr.waitFor(t, "a warning about the late co-tenant", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "is also held by uid 65534")
	})
	if code := root.stop(t); code != 0 {
		t.Fatalf("listen: exit %d", code)
	}
	if n := strings.Count(root.stderr.String(), "is also held by uid 65534"); n != 1 {
		t.Errorf("%d warnings about uid 65534, want 1:\n%s", n, root.stderr.String())
	}
}

// listen's JSON lines carry the TTL (hop limit) a datagram arrived with:
// what send --ttl set, since lo forwards nothing; for IPv4 and IPv6.
func TestListenTTL(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	for _, g := range []string{groupAt("239.10.0.54", port), groupAt("[ff15::54]", port)} {
		l := start(t, "listen", g, "--count", "1", "--format", "json")
		l.listening(t, 1)
		if code, _, e := run(t, 20*time.Second, "send", g, "--count", "1", "--ttl", "7", "--dscp", "46"); code != 0 {
			t.Fatalf("send: %s", e)
		}
		if code := l.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("listen: exit %d", code)
		}
		if !strings.Contains(l.stdout.String(), `"ttl":7,`) {
			t.Errorf("%s: no ttl 7 in %s", g, l.stdout.String())
		}
	}
}
