package cli_test

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestEventFlood is issue 17's finding 9 for marketdata, over real
// sockets: 2,000 packets on line A, each of a new session, make 4,000
// session events (each replaces the last and starts); the program prints
// at most 20 event lines in any second of them and sums up the rest, so
// that the lines printed and the events summed up are all 4,000. (With
// -follow-sessions: by default a new session may not replace a live one.)
func TestEventFlood(t *testing.T) {
	testbed.Require(t)
	lines := []string{"-a", "239.192.7.5:26420", "-b", "239.192.7.6:26420"}
	out, errb, done := startReceiver(t, append(lines, "-exit-on-end", "-duration", "60s", "-line-timeout", "1m", "-follow-sessions"))
	a := testbed.NewSender(t, netip.MustParseAddrPort("239.192.7.5:26420"), nil, netip.Addr{})
	const n = 2000
	var buf []byte
	var s moldudp64.Session
	for i := range n {
		s = moldudp64.MustParseSession("F" + strconv.Itoa(i))
		buf, _ = moldudp64.AppendPacket(buf[:0], s, 1, []byte("x"))
		if err := a.Send(buf); err != nil {
			t.Fatal(err)
		}
		if i%256 == 255 {
			if err := testbed.Pace(26420, 256<<10, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Send(moldudp64.AppendEndOfSession(buf[:0], s, 2)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("receive: %v\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver did not end with the session")
	}
	stamps, suppressed := countEvents(t, out.String())
	t.Logf("%d event lines printed, %d suppressed; output ends:\n%s", len(stamps), suppressed, tail(out.String(), 6))
	if !strings.Contains(out.String(), "kernel drops 0,") {
		t.Fatal("the kernel dropped packets: the counts cannot be exact")
	}
	if len(stamps)+suppressed != 2*n || suppressed == 0 {
		t.Errorf("%d lines printed + %d suppressed, want %d events, some suppressed", len(stamps), suppressed, 2*n)
	}
	// A period starts at its first event and lasts a second; 41 lines
	// span three periods, so more than a second.
	for i := 0; i+40 < len(stamps); i++ {
		if d := stamps[i+40].Sub(stamps[i]); d <= time.Second {
			t.Fatalf("41 event lines within %v", d)
		}
	}
}

// countEvents returns the times of the event lines in out, and the sum of
// the events its summaries say were suppressed.
func countEvents(t *testing.T, out string) (stamps []time.Time, suppressed int) {
	t.Helper()
	sum := regexp.MustCompile(`suppressed (\d+) event lines`)
	event := regexp.MustCompile(`^(\d\d:\d\d:\d\d\.\d{6}) (?:session|gap|line) `)
	for _, l := range strings.Split(out, "\n") {
		if m := sum.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			suppressed += n
		} else if m := event.FindStringSubmatch(l); m != nil {
			at, err := time.Parse("15:04:05.000000", m[1])
			if err != nil {
				t.Fatal(err)
			}
			stamps = append(stamps, at)
		}
	}
	return stamps, suppressed
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
