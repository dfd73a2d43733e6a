package tools_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/fanout/internal/tools"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/pcap"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/internal/wire"
)

// proc is a tool running as a process of the test binary.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	ready  chan struct{}
	exited chan error
}

// startTool starts tool name with args and waits until it says it has
// joined the group.
func startTool(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, ready: make(chan struct{}), exited: make(chan error, 1)}
	p.cmd = testbed.Command(t, name, args...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = nil // read through a pipe, to see the ready line
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			t.Log(name + ": " + sc.Text())
			if strings.HasPrefix(sc.Text(), "fanout "+name+": joined") {
				once.Do(func() { close(p.ready) })
			}
		}
	}()
	go func() {
		wg.Wait() // all of stderr read before Wait closes the pipe
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
		}
	})
	select {
	case <-p.ready:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("%s ended before joining: %v", name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not join within 10s", name)
	}
	return p
}

// wait waits for the tool to end by itself and returns its summary.
func (p *proc) wait(t *testing.T, d time.Duration) tools.Summary {
	t.Helper()
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	case <-time.After(d):
		p.cmd.Process.Signal(os.Interrupt)
		<-p.exited
		t.Fatalf("%s did not end by itself within %v", p.name, d)
	}
	var s tools.Summary
	if err := json.Unmarshal(p.stdout.Bytes(), &s); err != nil {
		t.Fatalf("%s: summary %q: %v", p.name, p.stdout.String(), err)
	}
	t.Logf("%s: %s", p.name, strings.TrimSpace(p.stdout.String()))
	return s
}

// payload is datagram seq of the test feed: a sharecast header, then the
// filler, 32 to 1,400 bytes in all.
func payload(stream, seq uint64) []byte {
	b := make([]byte, 32+int(seq*7919%1369))
	wire.Header{Stream: stream, Seq: seq, SendTime: time.Now().UnixNano()}.Put(b)
	wire.Fill(b[wire.HeaderLen:], seq)
	return b
}

// TestThreeTools is issue 6's third acceptance criterion: the recorder,
// the statistics tool and the forwarder run as three processes on one
// group and port while a sender sends 20,000 datagrams. Each accounts for
// all of them: the recorder's pcap file holds 20,000 packets byte-identical
// to what was sent (read back by this package's reader and by tshark), the
// statistics tool counts 20,000 with no gap, duplicate or bad byte, and
// the forwarder relays 20,000 to a unix datagram socket, where the test
// receives them, identical and in order.
func TestThreeTools(t *testing.T) {
	testbed.Require(t)
	const n = 20000
	g := netip.MustParseAddrPort("239.5.5.5:6000")
	dir := t.TempDir()
	pcapPath := filepath.Join(dir, "feed.pcap")
	sockPath := filepath.Join(dir, "fwd.sock")

	// The forwarder's destination, read by the test.
	us, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	_ = us.SetReadBuffer(8 << 20)
	var relayed [][]byte
	relayDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 65536)
		for len(relayed) < n {
			us.SetReadDeadline(time.Now().Add(60 * time.Second))
			m, err := us.Read(buf)
			if err != nil {
				relayDone <- err
				return
			}
			relayed = append(relayed, bytes.Clone(buf[:m]))
		}
		relayDone <- nil
	}()

	common := []string{"-count", "20000", "-duration", "120s", "-format", "json"}
	rec := startTool(t, "record", append(common, "-w", pcapPath, g.String())...)
	sta := startTool(t, "stats", append(common, g.String())...)
	fwd := startTool(t, "forward", append(common, "-unix", sockPath, g.String())...)

	s := testbed.NewSender(t, g, nil, netip.Addr{})
	sent := make([][]byte, n)
	start := time.Now()
	for i := range sent {
		if i%64 == 0 {
			if err := testbed.Pace(g.Port(), 256<<10, 20*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		sent[i] = payload(42, uint64(i))
		if err := s.Send(sent[i]); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("sent %d datagrams in %v", n, time.Since(start))

	for _, p := range []*proc{rec, sta, fwd} {
		sum := p.wait(t, 60*time.Second)
		if sum.Datagrams != n || sum.KernelDrops != 0 || sum.Truncated != 0 || sum.QueueDrops != 0 {
			t.Errorf("%s: %d datagrams, %d kernel drops, %d truncated, %d queue drops; want %d and no drops",
				p.name, sum.Datagrams, sum.KernelDrops, sum.Truncated, sum.QueueDrops, n)
		}
		var bytesSent uint64
		for _, b := range sent {
			bytesSent += uint64(len(b))
		}
		if sum.Bytes != bytesSent {
			t.Errorf("%s: %d bytes, want %d", p.name, sum.Bytes, bytesSent)
		}
		switch p {
		case rec:
			if sum.Record == nil || sum.Record.Records != n || sum.Record.Errors != 0 {
				t.Errorf("record: %+v", sum.Record)
			}
		case sta:
			q := sum.Stats.Sequence
			if sum.Stats == nil || q.Datagrams != n || q.Gaps+q.Missing+q.Late+q.Duplicates+q.Resets+q.NoSequence != 0 ||
				sum.Stats.BadFill != 0 || sum.Stats.NoHeader != 0 || sum.Stats.Flows != 1 {
				t.Errorf("stats: %+v", sum.Stats)
			}
		case fwd:
			if sum.Forward == nil || sum.Forward.Forwarded != n || sum.Forward.Errors != 0 {
				t.Errorf("forward: %+v", sum.Forward)
			}
		}
	}

	if err := <-relayDone; err != nil {
		t.Fatalf("after %d relayed datagrams: %v", len(relayed), err)
	}
	for i := range sent {
		if !bytes.Equal(relayed[i], sent[i]) {
			t.Fatalf("relayed datagram %d differs from what was sent", i)
		}
	}

	// The pcap file, by this package's reader.
	r := openPcap(t, pcapPath)
	for i := 0; ; i++ {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			if i != n {
				t.Fatalf("the pcap file holds %d packets, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if i >= n {
			t.Fatalf("the pcap file holds more than %d packets", n)
		}
		u, err := pcap.ParseUDP(rec.Data)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		// The sender is bound to the wildcard address; the kernel sends
		// from lo's.
		from := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.LocalAddr().Port())
		if !bytes.Equal(u.Payload, sent[i]) || u.Src != from || u.Dst != g || !u.ChecksumOK {
			t.Fatalf("record %d: %v -> %v, %d bytes (checksum ok %v), want %v -> %v, %d bytes as sent",
				i, u.Src, u.Dst, len(u.Payload), u.ChecksumOK, from, g, len(sent[i]))
		}
	}

	// And by tshark.
	tshark := extest.RequireCommand(t, "tshark", "tshark")
	out, err := exec.Command(tshark, "-n", "-r", pcapPath, "-T", "fields", "-e", "udp.payload").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("tshark reads %d packets, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l != hex.EncodeToString(sent[i]) {
			t.Fatalf("tshark: packet %d differs from what was sent", i)
		}
	}
}
