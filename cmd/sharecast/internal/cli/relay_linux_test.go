package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/procnet"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/internal/wire"
	"github.com/sharecast/sharecast/natsrelay"
	"github.com/sharecast/sharecast/natsrelay/natstest"
)

// relayPayload is datagram i of the relayed feed.
func relayPayload(i int) []byte {
	b := make([]byte, 60+i%50)
	binary.BigEndian.PutUint64(b, uint64(i))
	for k := 8; k < len(b); k++ {
		b[k] = byte(i*3 + k)
	}
	return b
}

// startHostProc starts sharecast with args in host h; it is killed when
// the test ends.
func startHostProc(t *testing.T, h *testbed.Host, args ...string) *proc {
	t.Helper()
	cmd := h.Command(t, "sharecast", args...)
	return startCmdWith(t, cmd, args, func() error { return h.Start(cmd) })
}

// Issue 18, acceptance 4: a relay on host D reads the subject from the
// JetStream server on S and re-sends it as multicast on D's own segment,
// where two sharecast receivers and a socat receiver on host R get every
// datagram, in order, byte for byte.
func TestRelayFromNATS(t *testing.T) {
	testbed.Require(t)
	socat, err := exec.LookPath("socat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("socat is needed (.ci/apt-packages)")
		}
		t.Skip("socat not installed")
	}
	s := testbed.NewHost(t, "s")
	d := testbed.NewHost(t, "d")
	r := testbed.NewHost(t, "r")
	testbed.Veth(t, d, "d1", netip.MustParsePrefix("10.18.8.1/24"), s, "s1", netip.MustParsePrefix("10.18.8.2/24"))
	testbed.Veth(t, d, "d0", netip.MustParsePrefix("10.18.9.1/24"), r, "r0", netip.MustParsePrefix("10.18.9.2/24"))
	natstest.Start(t, s, "10.18.8.2:4222", "listen: 0.0.0.0:4222\njetstream { store_dir: \"%s\" }\n")
	const url, subject, n = "nats://10.18.8.2:4222", "feed.cli", 2000
	grp := netip.MustParseAddrPort("239.18.9.9:6000")

	// The feed, published into the stream as a relay would (2 ms apart:
	// at 200 µs, socat, with the kernel's default receive buffer of a few
	// hundred datagrams, lost some on a loaded machine).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nc, js := natstest.Connect(t, d, natsrelay.ConnConfig{URL: url})
	if _, err := natsrelay.EnsureStream(ctx, js, subject, &natsrelay.StreamConfig{Name: "CLI"}); err != nil {
		t.Fatal(err)
	}
	pub, err := natsrelay.NewPublisher(nc, &natsrelay.PublisherConfig{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var want []byte
	for i := range n {
		want = append(want, relayPayload(i)...)
		pub.ServeDatagram(ctx, &dispatch.Datagram{Payload: relayPayload(i), Source: netip.MustParseAddrPort("10.1.1.1:999"),
			Group: netip.MustParseAddr("239.1.1.1"), Port: 5000, TTL: -1, Time: t0.Add(time.Duration(i) * 2 * time.Millisecond)})
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := pub.Stats(); st.Published != n {
		t.Fatalf("published %+v", st)
	}

	// The receivers on R: two sharecast listen, one socat.
	spec := fmt.Sprintf("%s%%r0", grp)
	var ls []*proc
	for range 2 {
		p := startHostProc(t, r, "listen", spec, "--count", fmt.Sprint(n), "--format", "json", "--payload", "base64")
		p.listening(t, 1)
		ls = append(ls, p)
	}
	sc := exec.Command(socat, "-u", fmt.Sprintf("UDP4-RECV:%d,ip-add-membership=%s:r0,reuseaddr", grp.Port(), grp.Addr()), "STDOUT")
	scOut := newOutput()
	sc.Stdout, sc.Stderr = scOut, os.Stderr
	if err := r.Start(sc); err != nil {
		t.Fatal(err)
	}
	scDone := make(chan struct{})
	go func() { sc.Wait(); close(scDone) }()
	t.Cleanup(func() { sc.Process.Kill(); <-scDone })
	// socat has joined when the group has three users on r0.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var users int
		if err := r.Do(func() error {
			ms, err := procnet.ReadIGMP(procnet.IPv4)
			for _, m := range ms {
				if m.IfName == "r0" && m.Group == grp.Addr() {
					users = m.Users
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if users >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s has %d users on r0, want 3 (two sharecast, socat)", grp.Addr(), users)
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel's table: it gives no signal
	}

	// The relay back to multicast, on D's segment, paced as the feed came.
	rl := startHostProc(t, d, "relay", "--from-nats", url, "--subject", subject, "--to", grp.String(), "-i", "d0", "--count", fmt.Sprint(n))
	if code := rl.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("relay --from-nats: exit %d\n%s", code, rl.stderr.String())
	}
	if !strings.Contains(rl.stderr.String(), fmt.Sprintf("re-sent %d datagrams", n)) {
		t.Errorf("relay summary: %s", rl.stderr.String())
	}
	for k, p := range ls {
		if code := p.wait(t, time.Minute); code != 0 {
			t.Fatalf("listener %d: exit %d", k, code)
		}
		got := lines(p.stdout.String())
		if len(got) != n {
			t.Fatalf("listener %d: %d lines, want %d", k, len(got), n)
		}
		for i, l := range got {
			var j struct {
				Payload string `json:"payload_base64"`
			}
			if err := json.Unmarshal([]byte(l), &j); err != nil {
				t.Fatalf("listener %d line %d: %v", k, i, err)
			}
			b, err := base64.StdEncoding.DecodeString(j.Payload)
			if err != nil || !bytes.Equal(b, relayPayload(i)) {
				t.Fatalf("listener %d: datagram %d differs (%v)", k, i, err)
			}
		}
	}
	scOut.waitFor(t, "socat's datagrams", time.Minute, func(s string) bool { return len(s) >= len(want) })
	if got := scOut.String(); got != string(want) {
		t.Errorf("socat got %d bytes, want the %d bytes of the %d datagrams in order", len(got), len(want), n)
	}
}

// Issue 18, acceptance 5: wrong credentials, an unreachable server and a
// missing stream with --no-create end the relay with a clear error and
// status 1, before it receives anything; the password is never shown.
func TestRelayErrorsCLI(t *testing.T) {
	testbed.Require(t)
	s := testbed.NewHost(t, "s")
	a := testbed.NewHost(t, "a")
	testbed.Veth(t, a, "a1", netip.MustParsePrefix("10.18.7.1/24"), s, "s1", netip.MustParsePrefix("10.18.7.2/24"))
	natstest.Start(t, s, "10.18.7.2:4222", "listen: 0.0.0.0:4222\njetstream { store_dir: \"%s\" }\nauthorization { user: relay, password: right-secret }\n")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong password", []string{"--nats", "nats://10.18.7.2:4222", "--user", "relay", "--password", "wrong-secret"}, "Authorization Violation"},
		{"password in URL", []string{"--nats", "nats://relay:wrong-secret@10.18.7.2:4222"}, "Authorization Violation"},
		{"unreachable", []string{"--nats", "nats://10.18.7.2:4999"}, "no servers available"},
		{"no stream", []string{"--nats", "nats://10.18.7.2:4222", "--user", "relay", "--password", "right-secret", "--stream", "NONE", "--no-create"}, "stream NONE (not created: no-create was asked): stream does not exist"},
	} {
		args := append([]string{"relay", "239.18.7.7:7000%lo", "--subject", "feed.err"}, c.args...)
		p := startHostProc(t, a, args...)
		code := p.wait(t, time.Minute)
		errOut := p.stderr.String()
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1 and %q", c.name, code, errOut, c.want)
		}
		if strings.Count(errOut, "natsrelay: ") > 1 {
			t.Errorf("%s: \"natsrelay:\" stutters in %s", c.name, errOut)
		}
		if strings.Contains(errOut, "secret") {
			t.Errorf("%s: the password shows: %s", c.name, errOut)
		}
		if strings.Contains(errOut, `"message":"relaying"`) {
			t.Errorf("%s: the relay started receiving", c.name)
		}
	}
}

// Issue 18: listen and stat read a relayed feed from NATS on a host with
// no multicast at all. The feed (sharecast datagrams, number 100 left
// out, as if lost before the relay) is published into the stream; listen
// prints every datagram with the relay's metadata, and stat counts the
// one lost from the datagrams' own numbering, as on a socket.
func TestListenStatNATS(t *testing.T) {
	const subject, n = "feed.stat", 500
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, url, pub := natsFeed(t, ctx, subject, "STAT")
	src := netip.MustParseAddrPort("10.1.1.1:999")
	for i := range n + 1 {
		if i == 100 {
			continue
		}
		b := make([]byte, 64)
		wire.Header{Stream: 7, Seq: uint64(i), SendTime: time.Now().UnixNano()}.Put(b)
		wire.Fill(b[wire.HeaderLen:], uint64(i))
		pub.ServeDatagram(ctx, &dispatch.Datagram{Payload: b, Source: src, Group: netip.MustParseAddr("239.1.1.1"), Port: 5000, TTL: 3, Time: time.Now()})
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}

	lp := startHostProc(t, c, "listen", "--nats", url, "--subject", subject, "--durable", "l", "--port", "5000", "--count", fmt.Sprint(n), "--format", "json")
	sp := startHostProc(t, c, "stat", "--nats", url, "--subject", subject, "--durable", "s", "--count", fmt.Sprint(n), "--format", "json")
	for _, p := range []*proc{lp, sp} {
		if code := p.wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("%v: exit %d\n%s", p.args, code, p.stderr.String())
		}
	}
	ls := lines(lp.stdout.String())
	if len(ls) != n {
		t.Fatalf("listen printed %d lines, want %d", len(ls), n)
	}
	for i, l := range ls {
		var j struct {
			Source    string `json:"source"`
			Group     string `json:"group"`
			Port      int    `json:"port"`
			TTL       int    `json:"ttl"`
			Sharecast struct {
				Seq uint64 `json:"seq"`
			} `json:"sharecast"`
		}
		want := uint64(i)
		if i >= 100 {
			want++
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil || j.Source != src.String() || j.Group != "239.1.1.1" || j.Port != 5000 || j.TTL != 3 || j.Sharecast.Seq != want {
			t.Fatalf("listen line %d: %s (%v); want source %s, group 239.1.1.1, port 5000, ttl 3, seq %d", i, l, err, src, want)
		}
	}
	if !strings.Contains(lp.stderr.String(), fmt.Sprintf("nats %s: messages %d, delivered %d; relay numbers missing 0", subject, n, n)) {
		t.Errorf("listen summary:\n%s", lp.stderr.String())
	}
	ss := lines(sp.stdout.String())
	var last struct {
		Final  bool
		Groups []struct {
			Datagrams uint64
			Numbers   uint64
			Lost      uint64
		}
	}
	if err := json.Unmarshal([]byte(ss[len(ss)-1]), &last); err != nil || !last.Final || len(last.Groups) != 1 {
		t.Fatalf("stat's final line %q: %v", ss[len(ss)-1], err)
	}
	if g := last.Groups[0]; g.Datagrams != n || g.Numbers != n || g.Lost != 1 {
		t.Errorf("stat: %+v; want %d datagrams, %d numbers, 1 lost", g, n, n)
	}
}

// Issue 18: sharecast relay GROUP --nats publishes every datagram it
// receives, says so on exit (status 0 after SIGTERM), and listen --nats
// reads them all back, in order, each with the sender's address.
func TestRelayToNATSCLI(t *testing.T) {
	testbed.Require(t)
	s := testbed.NewHost(t, "s")
	a := testbed.NewHost(t, "a")
	testbed.Veth(t, a, "a1", netip.MustParsePrefix("10.18.4.1/24"), s, "s1", netip.MustParsePrefix("10.18.4.2/24"))
	natstest.Start(t, s, "10.18.4.2:4222", "listen: 0.0.0.0:4222\njetstream { store_dir: \"%s\" }\n")
	const url, n = "nats://10.18.4.2:4222", 300
	grp := netip.MustParseAddrPort("239.18.4.4:7004")
	rl := startHostProc(t, a, "relay", grp.String()+"%lo", "--nats", url, "--subject", "feed.ok", "--stream", "OK", "--storage", "memory")
	rl.stderr.waitFor(t, "relaying log", time.Minute, func(s string) bool { return strings.Contains(s, `"message":"relaying"`) })
	snd := startHostProc(t, a, "send", grp.String(), "--count", fmt.Sprint(n), "--rate", "3000", "--stream", "0x18")
	if code := snd.wait(t, time.Minute); code != 0 {
		t.Fatalf("send: exit %d", code)
	}
	// Every datagram is out of the relay's socket before it stops.
	if err := a.Do(func() error { return testbed.Pace(grp.Port(), 1, 30*time.Second) }); err != nil {
		t.Fatal(err)
	}
	if err := rl.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := rl.wait(t, time.Minute); code != 0 {
		t.Fatalf("relay: exit %d", code)
	}
	if want := fmt.Sprintf("received %d datagrams, published %d datagrams to feed.ok (publish errors 0, retries 0); not published: 0 datagrams", n, n); !strings.Contains(rl.stderr.String(), want) {
		t.Errorf("relay summary:\n%s\nwant %q", rl.stderr.String(), want)
	}
	lp := startHostProc(t, a, "listen", "--nats", url, "--subject", "feed.ok", "--durable", "check", "--count", fmt.Sprint(n), "--format", "json")
	if code := lp.wait(t, time.Minute); code != 0 {
		t.Fatalf("listen --nats: exit %d", code)
	}
	var first string // the sender's address and port, as the relay saw it
	for i, l := range lines(lp.stdout.String()) {
		var j struct {
			Source    string `json:"source"`
			Group     string `json:"group"`
			Sharecast struct {
				Stream string `json:"stream"`
				Seq    int    `json:"seq"`
			} `json:"sharecast"`
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil || j.Group != grp.Addr().String() || j.Sharecast.Seq != i ||
			j.Sharecast.Stream != "0000000000000018" || j.Source == "" || first != "" && j.Source != first {
			t.Fatalf("line %d: %s (%v)", i, l, err)
		}
		first = j.Source
	}
	if got := len(lines(lp.stdout.String())); got != n {
		t.Errorf("listen --nats printed %d lines, want %d", got, n)
	}
}

// Issue 18: a MoldUDP64 feed relayed through NATS keeps its own numbering:
// stat --seq moldudp64 --nats counts the messages of a packet lost before
// the relay, as it would on the multicast segment.
func TestStatMoldUDP64NATS(t *testing.T) {
	const subject, packets = "feed.mold", 200
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, url, pub := natsFeed(t, ctx, subject, "MOLD")
	var session moldudp64.Session
	copy(session[:], "SESSION018")
	for i := range packets {
		if i == 50 {
			continue // lost before the relay: messages 151 to 153
		}
		b, err := moldudp64.AppendPacket(nil, session, uint64(1+3*i), []byte("a"), []byte("bb"), []byte("ccc"))
		if err != nil {
			t.Fatal(err)
		}
		pub.ServeDatagram(ctx, &dispatch.Datagram{Payload: b, Source: netip.MustParseAddrPort("10.2.2.2:26477"),
			Group: netip.MustParseAddr("233.54.12.111"), Port: 26477, TTL: 8, Time: time.Now()})
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sp := startHostProc(t, c, "stat", "--nats", url, "--subject", subject, "--durable", "m", "--seq", "moldudp64",
		"--count", fmt.Sprint(packets-1), "--format", "json")
	if code := sp.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("stat: exit %d", code)
	}
	ss := lines(sp.stdout.String())
	var last struct {
		Final  bool
		Groups []struct {
			Datagrams uint64
			Numbers   uint64
			Lost      uint64
			Gaps      uint64
		}
	}
	if err := json.Unmarshal([]byte(ss[len(ss)-1]), &last); err != nil || !last.Final || len(last.Groups) != 1 {
		t.Fatalf("stat's final line %q: %v", ss[len(ss)-1], err)
	}
	if g := last.Groups[0]; g.Datagrams != packets-1 || g.Numbers != 3*(packets-1) || g.Lost != 3 || g.Gaps != 1 {
		t.Errorf("stat: %+v; want %d packets, %d messages, 3 lost in 1 gap", g, packets-1, 3*(packets-1))
	}
}

// natsFeed starts a JetStream server on host s, joined to a host c with no
// multicast route by a veth pair, and returns c, the server's URL and a
// Publisher into stream (made, bound to subject) for the test to fill.
func natsFeed(t *testing.T, ctx context.Context, subject, stream string) (*testbed.Host, string, *natsrelay.Publisher) {
	t.Helper()
	testbed.Require(t)
	s := testbed.NewHost(t, "s")
	c := testbed.NewHost(t, "c")
	testbed.Veth(t, c, "c1", netip.MustParsePrefix("10.18.6.1/24"), s, "s1", netip.MustParsePrefix("10.18.6.2/24"))
	natstest.Start(t, s, "10.18.6.2:4222", "listen: 0.0.0.0:4222\njetstream { store_dir: \"%s\" }\n")
	const url = "nats://10.18.6.2:4222"
	nc, js := natstest.Connect(t, c, natsrelay.ConnConfig{URL: url})
	if _, err := natsrelay.EnsureStream(ctx, js, subject, &natsrelay.StreamConfig{Name: stream}); err != nil {
		t.Fatal(err)
	}
	pub, err := natsrelay.NewPublisher(nc, &natsrelay.PublisherConfig{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	return c, url, pub
}
