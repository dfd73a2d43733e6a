package cli_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

var handlerRE = regexp.MustCompile(`handler \S+: received (\d+), delivered (\d+), dropped (\d+)`)

// Issue 8, faults: SIGTERM arrives while listen is under load. It exits 0
// with its summary, and accounts for every datagram its socket read: each
// was printed, or dropped and counted.
func TestListenSIGTERMUnderLoad(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	g := groupAt("239.10.0.9", port)
	l := start(t, "listen", g, "--format", "json")
	l.listening(t, 1)
	s := start(t, "send", g, "--rate", "20000", "--duration", "20s")
	l.stdout.waitFor(t, "5,000 datagrams printed", 20*time.Second, func(out string) bool { return len(lines(out)) >= 5000 })
	if code := l.stop(t); code != 0 {
		t.Fatalf("listen after SIGTERM: exit %d", code)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("send after SIGTERM: exit %d", code)
	}
	printed := len(lines(l.stdout.String()))
	m := handlerRE.FindStringSubmatch(l.stderr.String())
	if m == nil {
		t.Fatalf("no handler line in the summary:\n%s", l.stderr.String())
	}
	received, _ := strconv.Atoi(m[1])
	delivered, _ := strconv.Atoi(m[2])
	dropped, _ := strconv.Atoi(m[3])
	t.Logf("listen printed %d; handler received %d, delivered %d, dropped %d", printed, received, delivered, dropped)
	if delivered != printed || delivered+dropped != received || received < 5000 {
		t.Errorf("printed %d, handler received %d = delivered %d + dropped %d?", printed, received, delivered, dropped)
	}
	noPanic(t, l.stderr.String(), s.stderr.String())
}
