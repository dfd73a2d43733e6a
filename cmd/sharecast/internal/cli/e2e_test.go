package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/internal/wire"
)

// jsonDatagram is a line of listen --format json.
type jsonDatagram struct {
	Time      time.Time `json:"time"`
	Socket    string    `json:"socket"`
	Source    string    `json:"source"`
	Group     string    `json:"group"`
	Port      uint16    `json:"port"`
	Interface string    `json:"interface"`
	Length    int       `json:"length"`
	Payload   string    `json:"payload_base64"`
}

// statFinal returns the final JSON line of stat.
func statFinal(t *testing.T, out string) map[string]any {
	t.Helper()
	ls := lines(out)
	if len(ls) == 0 {
		t.Fatal("stat printed nothing")
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &m); err != nil {
		t.Fatalf("stat's last line %q: %v", ls[len(ls)-1], err)
	}
	if m["final"] != true {
		t.Fatalf("stat's last line is not final: %s", ls[len(ls)-1])
	}
	return m
}

// Acceptance 1: send --count 5000 with two listen --count 5000 --format
// json processes and one stat: both listeners print 5,000 datagrams with
// byte-identical payloads, and stat reports no loss.
func TestSendToTwoListenersAndStat(t *testing.T) {
	testbed.Require(t)
	const n = 5000
	g := groupAt("239.10.0.1", freePort(t))
	a := start(t, "listen", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	b := start(t, "listen", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	st := start(t, "stat", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	for _, p := range []*proc{a, b, st} {
		p.listening(t, 1)
	}
	code, _, sendErr := run(t, 60*time.Second, "send", g, "--count", strconv.Itoa(n), "--rate", "5000", "--size", "200")
	if code != 0 {
		t.Fatalf("send: exit %d: %s", code, sendErr)
	}
	for _, p := range []*proc{a, b, st} {
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("sharecast %v: exit %d", p.args, code)
		}
	}
	var payloads [2][][]byte
	for i, p := range []*proc{a, b} {
		payloads[i] = checkStream(t, fmt.Sprintf("listener %d", i), p, n, 200, "239.10.0.1")
	}
	for j := range payloads[0] {
		if !bytes.Equal(payloads[0][j], payloads[1][j]) {
			t.Fatalf("datagram %d differs between the listeners", j)
		}
	}
	final := statFinal(t, st.stdout.String())
	groups := final["groups"].([]any)
	if len(groups) != 1 {
		t.Fatalf("stat groups: %v", groups)
	}
	gr := groups[0].(map[string]any)
	if gr["datagrams"] != float64(n) || gr["numbers"] != float64(n) || gr["lost"] != 0.0 || gr["gaps"] != 0.0 ||
		gr["duplicates"] != 0.0 || gr["reordered"] != 0.0 || gr["streams"] != 1.0 {
		t.Fatalf("stat: %v", gr)
	}
	lat := gr["latency_us"].(map[string]any)
	if lat["count"] != float64(n) || lat["max"].(float64) <= 0 {
		t.Errorf("stat latency: %v", lat)
	}
	sock := final["sockets"].([]any)[0].(map[string]any)
	if sock["kernel_drops"] != 0.0 || sock["datagrams"] != float64(n) {
		t.Errorf("stat socket: %v", sock)
	}
}

// checkStream checks the output of a listen --format json that has ended:
// n lines, the datagrams of one send run in order, each size bytes to
// group on lo, header and filler byte for byte, and a summary that says
// so. It returns the payloads.
func checkStream(t *testing.T, name string, p *proc, n, size int, group string) [][]byte {
	t.Helper()
	ls := lines(p.stdout.String())
	if len(ls) != n {
		t.Fatalf("%s printed %d lines, want %d", name, len(ls), n)
	}
	var payloads [][]byte
	for j, l := range ls {
		var d jsonDatagram
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("%s line %d: %v: %s", name, j, err, l)
		}
		pl, err := base64.StdEncoding.DecodeString(d.Payload)
		if err != nil || len(pl) != d.Length || d.Length != size || d.Group != group || d.Interface != "lo" || d.Time.IsZero() {
			t.Fatalf("%s line %d: %+v (%v)", name, j, d, err)
		}
		h, err := wire.Decode(pl)
		if err != nil || h.Seq != uint64(j) || !wire.CheckFill(pl[h.Len:], h.Seq) {
			t.Fatalf("%s line %d: header %+v, %v, or bad filler", name, j, h, err)
		}
		payloads = append(payloads, pl)
	}
	if !strings.Contains(p.stderr.String(), fmt.Sprintf("received %d datagrams, %d bytes", n, n*size)) {
		t.Errorf("%s summary: %s", name, p.stderr.String())
	}
	return payloads
}

var sentRE = regexp.MustCompile(`sent (\d+) datagrams, (\d+) bytes`)

// sentCount returns the count in send's summary.
func sentCount(t *testing.T, sendErr string) int {
	t.Helper()
	m := sentRE.FindStringSubmatch(sendErr)
	if m == nil {
		t.Fatalf("send summary: %s", sendErr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Acceptance 2: send --rate 1000 --duration 3s sends the 3,000 datagrams
// that the timetable has due within 3 s, however slowly the machine runs
// it, and the receivers count all of them. How closely the sender keeps
// the rate is a measurement, not a test: pace_test.go checks the pacing
// loop with a fake clock, and BenchmarkSendPacing measures it.
func TestSendRateDuration(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	g := groupAt("239.10.0.2", port)
	l := start(t, "listen", g, "--format", "json")
	st := start(t, "stat", g, "--format", "json", "--interval", "500ms")
	l.listening(t, 1)
	st.listening(t, 1)
	code, _, sendErr := run(t, 60*time.Second, "send", g, "--rate", "1000", "--duration", "3s")
	if code != 0 {
		t.Fatalf("send: exit %d: %s", code, sendErr)
	}
	const want = 3000
	if sent := sentCount(t, sendErr); sent != want {
		t.Fatalf("sent %d datagrams, want %d", sent, want)
	}
	// On lo, the sender's system calls deliver: once the receive queues are
	// empty, the receivers have read everything.
	if err := testbed.Pace(port, 1, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	l.stdout.waitFor(t, "3000 datagrams printed", 20*time.Second, func(s string) bool { return len(lines(s)) >= want })
	if code := l.stop(t); code != 0 {
		t.Fatalf("listen: exit %d", code)
	}
	if code := st.stop(t); code != 0 {
		t.Fatalf("stat: exit %d", code)
	}
	checkStream(t, "listen", l, want, 64, "239.10.0.2")
	gr := statFinal(t, st.stdout.String())["groups"].([]any)[0].(map[string]any)
	if gr["datagrams"] != float64(want) || gr["numbers"] != float64(want) || gr["lost"] != 0.0 || gr["gaps"] != 0.0 {
		t.Errorf("stat: %v", gr)
	}
}

// send at 200,000 datagrams a second, in bursts of 64 with one sendmmsg
// call when behind, sends exactly the count asked, and two receivers get
// every datagram byte for byte. The count fits in the receivers' socket
// buffers (4 MiB asked, granted to root), so none is lost however slowly
// the machine runs them. BenchmarkSendPacing measures the rate achieved.
func TestSendHighRate(t *testing.T) {
	testbed.Require(t)
	const n, size = 5000, 100
	g := groupAt("239.10.0.3", freePort(t))
	a := start(t, "listen", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	b := start(t, "listen", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	a.listening(t, 1)
	b.listening(t, 1)
	code, _, sendErr := run(t, 60*time.Second, "send", g, "--rate", "200000", "--count", strconv.Itoa(n), "--size", strconv.Itoa(size))
	if code != 0 {
		t.Fatalf("send: exit %d: %s", code, sendErr)
	}
	if sent := sentCount(t, sendErr); sent != n || !strings.Contains(sendErr, fmt.Sprintf("%d bytes", n*size)) {
		t.Fatalf("send: want %d datagrams sent: %s", n, sendErr)
	}
	var payloads [2][][]byte
	for i, p := range []*proc{a, b} {
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("listener %d: exit %d", i, code)
		}
		payloads[i] = checkStream(t, fmt.Sprintf("listener %d", i), p, n, size, "239.10.0.3")
	}
	for j := range payloads[0] {
		if !bytes.Equal(payloads[0][j], payloads[1][j]) {
			t.Fatalf("datagram %d differs between the listeners", j)
		}
	}
}
