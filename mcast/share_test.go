package mcast_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// payload returns datagram seq of a test stream: its sequence number, then
// bytes that depend on it, so a receiver checks each byte.
func payload(seq, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(seq))
	for i := 8; i < size; i++ {
		b[i] = byte(seq*31 + i)
	}
	return b
}

// checker verifies a stream of datagrams from payload, in order.
type checker struct {
	size, next, bad int
	crc             uint32
}

func (c *checker) add(p []byte) {
	if len(p) != c.size || !bytes.Equal(p, payload(c.next, c.size)) {
		c.bad++
	}
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p)
	c.next++
}

func lo(t testing.TB) *net.Interface {
	t.Helper()
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	return ifi
}

func listen(t testing.TB, network, addr string, cfg *mcast.Config) *mcast.Conn {
	t.Helper()
	c, err := mcast.Listen(context.Background(), network, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func network(g netip.AddrPort) string {
	if g.Addr().Is6() {
		return "udp6"
	}
	return "udp4"
}

// receive reads datagrams from c into chk until it has want of them or
// the deadline passes; progress is updated after every batch.
func receive(c *mcast.Conn, chk *checker, want int, progress *atomic.Int64, deadline time.Time) error {
	ds := mcast.NewBatch(64, 2048)
	if err := c.SetReadDeadline(deadline); err != nil {
		return err
	}
	for chk.next < want {
		n, err := c.ReadBatch(ds)
		if err != nil {
			return fmt.Errorf("after %d datagrams: %w", chk.next, err)
		}
		for i := range ds[:n] {
			chk.add(ds[i].Payload)
		}
		if progress != nil {
			progress.Store(int64(chk.next))
		}
	}
	return nil
}

const (
	streamLen  = 10000
	streamSize = 200
)

// sendStream sends the test stream, paced so that no receiver's queue
// overflows.
func sendStream(t testing.TB, group netip.AddrPort, n, size int) {
	t.Helper()
	s := testbed.NewSender(t, group, lo(t), netip.Addr{})
	for i := 0; i < n; i++ {
		if i%256 == 0 {
			if err := testbed.Pace(group.Port(), 1<<20, 20*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Send(payload(i, size)); err != nil {
			t.Fatal(err)
		}
	}
}

var groups = []struct {
	name         string
	group, other netip.AddrPort
}{
	{"ipv4", netip.MustParseAddrPort("239.1.2.3:5000"), netip.MustParseAddrPort("239.9.9.9:5000")},
	{"ipv6", netip.MustParseAddrPort("[ff15::1]:5000"), netip.MustParseAddrPort("[ff15::9]:5000")},
}

// Acceptance 1 and 3: N sockets of one process on one group and port each
// get all of 10,000 datagrams, byte for byte.
func TestShareInProcess(t *testing.T) {
	testbed.Require(t)
	for _, g := range groups {
		for _, n := range []int{1, 2, 8, 32} {
			t.Run(fmt.Sprintf("%s/%d", g.name, n), func(t *testing.T) {
				conns := make([]*mcast.Conn, n)
				for i := range conns {
					conns[i] = listen(t, network(g.group), fmt.Sprintf(":%d", g.group.Port()), nil)
					if err := conns[i].JoinGroup(lo(t), g.group.Addr()); err != nil {
						t.Fatal(err)
					}
				}
				chks := make([]checker, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				deadline := time.Now().Add(60 * time.Second)
				for i := range conns {
					chks[i].size = streamSize
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = receive(conns[i], &chks[i], streamLen, nil, deadline)
					}()
				}
				sendStream(t, g.group, streamLen, streamSize)
				wg.Wait()
				want := expectedCRC(streamLen, streamSize)
				for i := range conns {
					st := conns[i].Stats()
					if errs[i] != nil || chks[i].next != streamLen || chks[i].bad != 0 || chks[i].crc != want {
						t.Errorf("socket %d: err %v, received %d/%d, %d bad, crc %08x want %08x, stats %+v",
							i, errs[i], chks[i].next, streamLen, chks[i].bad, chks[i].crc, want, st)
					}
					if st.Datagrams != streamLen || st.Bytes != streamLen*streamSize || st.KernelDrops != 0 {
						t.Errorf("socket %d: stats %+v", i, st)
					}
				}
			})
		}
	}
}

func expectedCRC(n, size int) uint32 {
	var c uint32
	for i := 0; i < n; i++ {
		c = crc32.Update(c, crc32.IEEETable, payload(i, size))
	}
	return c
}

// recvResult is what the recv helper prints.
type recvResult struct {
	Received, Bad int
	CRC           uint32
	Err           string
	Stats         mcast.Stats
}

// recvHelper joins a group, prints "ready", receives a stream and prints
// a recvResult as JSON.
func recvHelper(args []string) int {
	fs := flag.NewFlagSet("recv", flag.ContinueOnError)
	group := fs.String("group", "", "group:port")
	count := fs.Int("count", streamLen, "datagrams")
	size := fs.Int("size", streamSize, "datagram size")
	share := fs.String("share", "any", "share mode")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	g := netip.MustParseAddrPort(*group)
	sh, err := mcast.ParseShare(*share)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := mcast.Listen(context.Background(), network(g), fmt.Sprintf(":%d", g.Port()), &mcast.Config{Share: sh})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	ifi, err := net.InterfaceByName("lo")
	if err == nil {
		err = c.JoinGroup(ifi, g.Addr())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	chk := checker{size: *size}
	res := recvResult{}
	if err := receive(c, &chk, *count, nil, time.Now().Add(60*time.Second)); err != nil {
		res.Err = err.Error()
	}
	res.Received, res.Bad, res.CRC, res.Stats = chk.next, chk.bad, chk.crc, c.Stats()
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// receiverProc is a recv helper process and its output.
type receiverProc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{} // closed when out holds all the output
}

// wait waits for the process and decodes its result.
func (p *receiverProc) wait() (recvResult, error) {
	var res recvResult
	<-p.done
	if err := p.cmd.Wait(); err != nil {
		return res, err
	}
	if err := json.Unmarshal(p.out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("output %q: %w", p.out.String(), err)
	}
	return res, nil
}

// startReceivers starts n recv helpers and waits until each has joined.
func startReceivers(t *testing.T, n int, args ...string) []*receiverProc {
	t.Helper()
	procs := make([]*receiverProc, n)
	for i := range procs {
		cmd := testbed.Command(t, "recv", args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line := make([]byte, 6)
		if _, err := out.Read(line); err != nil || string(line) != "ready\n" {
			t.Fatalf("receiver %d: %q, %v", i, line, err)
		}
		p := &receiverProc{cmd: cmd, done: make(chan struct{})}
		go func() {
			defer close(p.done)
			p.out.ReadFrom(out)
		}()
		procs[i] = p
	}
	return procs
}

// Acceptance 1 and 3, across processes: 4 receiver processes on one group
// and port each get all of 10,000 datagrams.
func TestShareAcrossProcesses(t *testing.T) {
	testbed.Require(t)
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			procs := startReceivers(t, 4, "-group", g.group.String())
			sendStream(t, g.group, streamLen, streamSize)
			want := expectedCRC(streamLen, streamSize)
			for i, p := range procs {
				res, err := p.wait()
				if err != nil {
					t.Fatalf("receiver %d: %v", i, err)
				}
				if res.Err != "" || res.Received != streamLen || res.Bad != 0 || res.CRC != want || res.Stats.KernelDrops != 0 {
					t.Errorf("receiver %d: %+v (want %d datagrams, crc %08x)", i, res, streamLen, want)
				}
			}
		})
	}
}

// Acceptance 2 and 3: a socket joined to one group gets nothing sent to
// another group on its port, though another socket joined that group.
func TestNoLeakage(t *testing.T) {
	testbed.Require(t)
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			port := fmt.Sprintf(":%d", g.group.Port())
			mine := listen(t, network(g.group), port, nil)
			theirs := listen(t, network(g.group), port, nil)
			if err := mine.JoinGroup(lo(t), g.group.Addr()); err != nil {
				t.Fatal(err)
			}
			if err := theirs.JoinGroup(lo(t), g.other.Addr()); err != nil {
				t.Fatal(err)
			}
			const n = 100
			sOther := testbed.NewSender(t, g.other, lo(t), netip.Addr{})
			sMine := testbed.NewSender(t, g.group, lo(t), netip.Addr{})
			for i := 0; i < n; i++ {
				if err := sOther.Send([]byte("other")); err != nil {
					t.Fatal(err)
				}
			}
			// A marker sent after the other group's datagrams: once it
			// arrives, anything leaked would have arrived before it.
			if err := sMine.Send([]byte("mine")); err != nil {
				t.Fatal(err)
			}
			ds := mcast.NewBatch(64, 2048)
			mine.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, err := mine.ReadBatch(ds)
			if err != nil {
				t.Fatal(err)
			}
			if k != 1 || string(ds[0].Payload) != "mine" || ds[0].Group != g.group.Addr() {
				t.Fatalf("got %d datagrams, first %q to %s; want only the marker", k, ds[0].Payload, ds[0].Group)
			}
			if st := mine.Stats(); st.Filtered != 0 || st.Datagrams != 1 {
				t.Errorf("stats %+v: the kernel should have kept the other group out (IP_MULTICAST_ALL=0)", st)
			}
			// The other socket got its group's datagrams.
			got := 0
			theirs.SetReadDeadline(time.Now().Add(10 * time.Second))
			for got < n {
				k, err := theirs.ReadBatch(ds)
				if err != nil {
					t.Fatalf("other socket after %d: %v", got, err)
				}
				for _, d := range ds[:k] {
					if string(d.Payload) != "other" {
						t.Fatalf("other socket got %q", d.Payload)
					}
				}
				got += k
			}
		})
	}
}

// The destination check drops unicast to the port, and counts it.
func TestFilterUnicast(t *testing.T) {
	testbed.Require(t)
	g := groups[0].group
	c := listen(t, "udp4", fmt.Sprintf(":%d", g.Port()), nil)
	if err := c.JoinGroup(lo(t), g.Addr()); err != nil {
		t.Fatal(err)
	}
	u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), g.Port())))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := 0; i < 3; i++ {
		u.Write([]byte("unicast"))
	}
	testbed.NewSender(t, g, lo(t), netip.Addr{}).Send([]byte("group"))
	ds := mcast.NewBatch(8, 2048)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.ReadBatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || string(ds[0].Payload) != "group" {
		t.Fatalf("got %d, %q", n, ds[0].Payload)
	}
	if d := ds[0]; d.IfIndex != lo(t).Index || d.Time.IsZero() || !d.Source.Addr().IsLoopback() {
		t.Errorf("metadata: %+v", d)
	}
	if st := c.Stats(); st.Filtered != 3 || st.Datagrams != 1 {
		t.Errorf("stats %+v, want 3 filtered and 1 datagram", st)
	}
}

// Acceptance 5: a 9,000-byte datagram into a 1,500-byte buffer is counted
// as truncated and not delivered.
func TestTruncated(t *testing.T) {
	testbed.Require(t)
	g := groups[0].group
	c := listen(t, "udp4", fmt.Sprintf(":%d", g.Port()), nil)
	if err := c.JoinGroup(lo(t), g.Addr()); err != nil {
		t.Fatal(err)
	}
	s := testbed.NewSender(t, g, lo(t), netip.Addr{})
	s.Send(make([]byte, 9000))
	s.Send([]byte("small"))
	ds := mcast.NewBatch(4, 1500)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.ReadBatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || string(ds[0].Payload) != "small" {
		t.Fatalf("got %d datagrams, first %d bytes; want only the small one", n, len(ds[0].Payload))
	}
	if st := c.Stats(); st.Truncated != 1 || st.Datagrams != 1 || st.Bytes != 5 {
		t.Errorf("stats %+v, want 1 truncated", st)
	}
}

// Acceptance 6: a socket with a small buffer, flooded while not reading,
// then drained: its kernel drop count is sent minus received, exactly,
// both as SO_MEMINFO says at once and as SO_RXQ_OVFL says with the next
// datagram.
func TestKernelDrops(t *testing.T) {
	testbed.Require(t)
	g := groups[0].group
	c := listen(t, "udp4", fmt.Sprintf(":%d", g.Port()), &mcast.Config{ReadBuffer: 16 << 10})
	if err := c.JoinGroup(lo(t), g.Addr()); err != nil {
		t.Fatal(err)
	}
	s := testbed.NewSender(t, g, lo(t), netip.Addr{})
	const sent = 2000
	for i := 0; i < sent; i++ {
		if err := s.Send(payload(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	received := drain(t, c)
	if received == 0 || received == sent {
		t.Fatalf("received %d of %d: the flood should overflow a 16 KiB buffer", received, sent)
	}
	if st := c.Stats(); st.KernelDrops != uint64(sent-received) {
		t.Errorf("SO_MEMINFO: kernel drops %d, want sent-received = %d", st.KernelDrops, sent-received)
	}
	// SO_RXQ_OVFL arrives with the next datagram: send one more.
	s.Send([]byte("probe"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	ds := mcast.NewBatch(1, 2048)
	if _, err := c.ReadBatch(ds); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.KernelDrops != uint64(sent-received) || st.Datagrams != uint64(received+1) {
		t.Errorf("after the probe: %+v, want %d drops", st, sent-received)
	}
	socks, err := testbed.UDPSockets(g.Port())
	if err != nil || len(socks) != 1 || socks[0].Drops != uint64(sent-received) {
		t.Errorf("/proc/net/udp: %+v, %v; want one socket with %d drops", socks, err, sent-received)
	}
}

// drain reads until the socket's queue is empty and returns the count.
func drain(t *testing.T, c *mcast.Conn) int {
	t.Helper()
	ds := mcast.NewBatch(64, 2048)
	n := 0
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		k, err := c.ReadBatch(ds)
		n += k
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Acceptance 7: Close is idempotent, and a read after it says closed.
func TestClose(t *testing.T) {
	testbed.Require(t)
	c, err := mcast.Listen(context.Background(), "udp4", ":5000", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = c.ReadBatch(mcast.NewBatch(1, 10))
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
	// A read blocked in another goroutine returns when Close is called.
	c2 := listen(t, "udp4", ":5001", nil)
	done := make(chan error, 1)
	go func() {
		_, err := c2.ReadBatch(mcast.NewBatch(1, 10))
		done <- err
	}()
	c2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked read: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked read did not return after Close")
	}
}

func TestListenErrors(t *testing.T) {
	testbed.Require(t)
	for _, tc := range []struct {
		network, addr, want string
	}{
		{"udp", ":5000", `network "udp"`},
		{"udp4", ":0", `port "0"`},
		{"udp4", ":70000", `port "70000"`},
		{"udp4", "5000", `address "5000"`},
		{"udp4", "[::1]:5000", "not of the network's family"},
		{"udp6", "nothost:5000", `host "nothost"`},
	} {
		_, err := mcast.Listen(context.Background(), tc.network, tc.addr, nil)
		if !errors.Is(err, mcast.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Listen(%s, %s): %v, want ErrInvalidConfig naming %s", tc.network, tc.addr, err, tc.want)
		}
	}
	c := listen(t, "udp4", ":5002", nil)
	for _, g := range []string{"10.0.0.1", "ff15::1"} {
		err := c.JoinGroup(nil, netip.MustParseAddr(g))
		if err == nil || !strings.Contains(err.Error(), g) {
			t.Errorf("JoinGroup(%s): %v", g, err)
		}
	}
}
