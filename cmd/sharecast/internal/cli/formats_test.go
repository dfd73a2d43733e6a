package cli_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/internal/wire"
)

// IPv6 and IPv4 groups on one listener, each output format, and send
// --stdin.
func TestListenFormatsIPv6(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	g6, g4 := groupAt("[ff15::10]", port), groupAt("239.10.0.8", port)
	text := start(t, "listen", g6, g4, "--count", "4")
	hexp := start(t, "listen", g6, "--count", "2", "--format", "hex")
	raw := start(t, "listen", g4, "--count", "2", "--format", "raw")
	jhex := start(t, "listen", g6, "--count", "2", "--format", "json", "--payload", "hex")
	text.listening(t, 2)
	for _, p := range []*proc{hexp, raw, jhex} {
		p.listening(t, 1)
	}
	if code, _, e := run(t, 20*time.Second, "send", g6, "--count", "2", "--size", "40", "--stream", "255"); code != 0 {
		t.Fatalf("send: %s", e)
	}
	cmd := command(t, "send", g4, "--stdin", "--log-level", "warn")
	cmd.Stdin = strings.NewReader("hello\nworld\n")
	var serr bytes.Buffer
	cmd.Stderr = &serr
	if err := cmd.Run(); err != nil || !strings.Contains(serr.String(), "sent 2 datagrams, 10 bytes") {
		t.Fatalf("send --stdin: %v: %s", err, serr.String())
	}
	for _, p := range []*proc{text, hexp, raw, jhex} {
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("%v: exit %d", p.args, code)
		}
	}
	line := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6} \[ff15::10\]:\d+ from \[::1\]:\d+ on lo: 40 bytes, sharecast stream 00000000000000ff seq [01], latency \S+$`)
	ls := lines(text.stdout.String())
	if len(ls) != 4 || !line.MatchString(ls[0]) || !line.MatchString(ls[1]) {
		t.Fatalf("text:\n%s", text.stdout.String())
	}
	if !strings.Contains(ls[2], " 239.10.0.8:") || !strings.Contains(ls[2], `5 bytes, "hello"`) || !strings.Contains(ls[3], `5 bytes, "world"`) {
		t.Errorf("text of the stdin lines:\n%s", text.stdout.String())
	}
	buf := make([]byte, 40)
	wire.Header{Stream: 255, Seq: 1}.Put(buf)
	wire.Fill(buf[wire.HeaderLen:], 1)
	if h := hexp.stdout.String(); !strings.Contains(h, "00000020  01 02 03 04 05 06 07 08") || !strings.Contains(h, "|SCST") {
		t.Errorf("hex:\n%s", h)
	}
	if r := raw.stdout.String(); r != "helloworld" {
		t.Errorf("raw: %q", r)
	}
	if j := jhex.stdout.String(); !strings.Contains(j, `"payload_hex":"`+hex.EncodeToString(buf[:wire.HeaderLen])[:16]) || !strings.Contains(j, `"group":"ff15::10"`) {
		t.Errorf("json with hex payload:\n%s", j)
	}
}

// Every subcommand has --help with worked examples, on standard output,
// and exits 0.
func TestHelp(t *testing.T) {
	for _, sub := range []string{"", "listen", "send", "stat", "ports", "matrix", "demo"} {
		t.Run(sub, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			args := []string{"--help"}
			if sub != "" {
				args = []string{sub, "--help"}
			}
			code := cli.Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
			if code != 0 || errOut.Len() != 0 || !strings.Contains(out.String(), "Examples:\n  sharecast "+sub) {
				t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut.String(), out.String())
			}
		})
	}
}

// stat follows MoldUDP64 sequence numbers: messages, not datagrams, with
// heartbeats; listen describes the packets.
func TestStatMoldUDP64(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	g := groupAt("239.10.0.9", port)
	st := start(t, "stat", g, "--seq", "moldudp64", "--count", "6", "--format", "json", "--duration", "30s")
	l := start(t, "listen", g, "--count", "6", "--duration", "30s")
	st.listening(t, 1)
	l.listening(t, 1)
	sess := moldudp64.MustParseSession("TEST01")
	pkt := func(seq uint64, n int) []byte {
		msgs := make([][]byte, n)
		for i := range msgs {
			msgs[i] = []byte{byte(seq) + byte(i)}
		}
		b, err := moldudp64.AppendPacket(nil, sess, seq, msgs...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	s := testbed.NewSender(t, netip.MustParseAddrPort(g), lo, netip.Addr{})
	for _, p := range [][]byte{
		pkt(1, 3), pkt(4, 2), moldudp64.AppendHeartbeat(nil, sess, 6),
		pkt(9, 1), // 6-8 missing
		pkt(6, 3), // and here, late
		pkt(4, 2), // again
	} {
		if err := s.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*proc{st, l} {
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("%v: exit %d", p.args, code)
		}
	}
	gr := statFinal(t, st.stdout.String())["groups"].([]any)[0].(map[string]any)
	want := map[string]float64{"datagrams": 6, "numbers": 9, "lost": 0, "gaps": 1, "reordered": 1, "duplicates": 1, "streams": 1, "unsequenced": 0}
	for k, v := range want {
		if gr[k] != v {
			t.Errorf("%s = %v, want %v (%v)", k, gr[k], v, gr)
		}
	}
	out := l.stdout.String()
	for _, w := range []string{`moldudp64 session "TEST01" seq 1 count 3`, `moldudp64 session "TEST01" seq 6 heartbeat`} {
		if !strings.Contains(out, w) {
			t.Errorf("listen output lacks %q:\n%s", w, out)
		}
	}
}
