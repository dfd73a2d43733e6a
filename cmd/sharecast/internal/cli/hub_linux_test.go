package cli_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// sharecast hub with two consumers (listen --hub, stat --hub) and, sharing
// the port, an ordinary listen with a socket of its own: every one gets
// every datagram, byte for byte, and the hub's summary counts its
// consumers.
func TestHubListenStat(t *testing.T) {
	testbed.Require(t)
	const n = 3000
	g := groupAt("239.10.0.16", freePort(t))
	h := start(t, "hub", g, "--name", "clitest", "--log-level", "info", "--stats", "--interval", "100ms")
	h.stderr.waitFor(t, "hub serving", 20*time.Second, func(s string) bool { return strings.Contains(s, "hub serving") })
	a := start(t, "listen", "--hub", "clitest", "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	st := start(t, "stat", g, "--hub", "clitest", "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	plain := start(t, "listen", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "60s")
	for _, p := range []*proc{a, st} {
		p.stderr.waitFor(t, "attached", 20*time.Second, func(s string) bool { return strings.Contains(s, `"message":"attached"`) })
	}
	plain.listening(t, 1)
	// --stats lists both consumers, each on its own line.
	h.stdout.waitFor(t, "--stats with 2 consumers", 20*time.Second, func(s string) bool {
		i := strings.LastIndex(s, "consumers 2 (attached 2, left 0, refused 0)")
		return i >= 0 && strings.Count(s[i:], " udp4:") >= 2
	})
	code, _, sendErr := run(t, 60*time.Second, "send", g, "--count", strconv.Itoa(n), "--rate", "5000", "--size", "200")
	if code != 0 {
		t.Fatalf("send: exit %d: %s", code, sendErr)
	}
	for _, p := range []*proc{a, st, plain} {
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("sharecast %v: exit %d", p.args, code)
		}
	}
	fromHub := checkStream(t, "listen --hub", a, n, 200, "239.10.0.16")
	fromSocket := checkStream(t, "listen", plain, n, 200, "239.10.0.16")
	for j := range fromHub {
		if !bytes.Equal(fromHub[j], fromSocket[j]) {
			t.Fatalf("datagram %d differs between the hub's consumer and the socket", j)
		}
	}
	if !strings.Contains(a.stderr.String(), fmt.Sprintf("hub ring udp4:%s", strings.Split(g, ":")[1])) ||
		!strings.Contains(a.stderr.String(), "overrun 0") {
		t.Errorf("listen --hub summary: %s", a.stderr.String())
	}
	gr := statFinal(t, st.stdout.String())["groups"].([]any)[0].(map[string]any)
	if gr["datagrams"] != float64(n) || gr["lost"] != 0.0 || gr["gaps"] != 0.0 {
		t.Fatalf("stat --hub: %v", gr)
	}
	if code := h.stop(t); code != 0 {
		t.Fatalf("hub: exit %d", code)
	}
	if want := fmt.Sprintf("wrote %d datagrams", n); !strings.Contains(h.stderr.String(), want) ||
		!strings.Contains(h.stderr.String(), "consumers attached 2, left 2, refused 0") {
		t.Errorf("hub summary, want %q and 2 consumers: %s", want, h.stderr.String())
	}
}

// listen --hub names a hub that is not there: exit 1, saying so.
func TestHubListenNoHub(t *testing.T) {
	testbed.Require(t)
	code, _, stderr := run(t, 20*time.Second, "listen", "--hub", "nosuchhub", "--count", "1")
	if code != 1 || !strings.Contains(stderr, "no hub under that name") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, 20*time.Second, "listen", "--hub", "x", "--share", "user")
	if code != 2 || !strings.Contains(stderr, "--hub reads the hub's sockets") {
		t.Fatalf("--hub with --share: exit %d: %s", code, stderr)
	}
	for _, cmd := range []string{"listen", "stat"} {
		code, _, stderr = run(t, 20*time.Second, cmd, "--hub", "x", "--nats", "nats://127.0.0.1:1", "--subject", "s")
		if code != 2 || !strings.Contains(stderr, "--hub and --nats name two feeds") {
			t.Errorf("%s --hub with --nats: exit %d: %s", cmd, code, stderr)
		}
	}
}
