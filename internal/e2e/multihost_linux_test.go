package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

func payload(seq int) []byte {
	b := make([]byte, 120)
	binary.BigEndian.PutUint64(b, uint64(seq))
	for i := 8; i < len(b); i++ {
		b[i] = byte(seq*7 + i)
	}
	return b
}

// receiver is one socket on a host and what it has received.
type receiver struct {
	host string
	conn *mcast.Conn
	got  atomic.Int64 // datagrams received in order and byte-exact
	bad  atomic.Int64 // anything else
}

func (r *receiver) run(progress chan<- struct{}) {
	ds := mcast.NewBatch(64, 2048)
	for {
		n, err := r.conn.ReadBatch(ds)
		if err != nil {
			return // closed
		}
		for _, d := range ds[:n] {
			if bytes.Equal(d.Payload, payload(int(r.got.Load()))) {
				r.got.Add(1)
			} else {
				r.bad.Add(1)
			}
		}
		select {
		case progress <- struct{}{}:
		default:
		}
	}
}

// Issue 8, several hosts: a sender host and three receiver hosts, each with
// four receivers sharing the port, joined by a Linux bridge with multicast
// snooping. Every receiver gets every datagram; when one host leaves the
// group, the bridge stops forwarding to it and the others lose nothing.
func TestMultiHostBridge(t *testing.T) {
	testbed.Require(t)
	group := netip.MustParseAddrPort("239.5.5.5:6000")
	sw := testbed.NewSwitch(t, "br0", true)
	snd := testbed.NewHost(t, "sender")
	sw.Attach(t, snd, "eth0", netip.MustParsePrefix("10.1.0.1/24"))

	type host struct {
		h    *testbed.Host
		port string
		rs   []*receiver
	}
	var hosts []*host
	var all []*receiver
	progress := make(chan struct{}, 1)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // last: after the receivers' sockets are closed
	for i := 1; i <= 3; i++ {
		hh := &host{h: testbed.NewHost(t, fmt.Sprintf("r%d", i))}
		hh.port = sw.Attach(t, hh.h, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.1.0.%d/24", 10+i)))
		for j := 0; j < 4; j++ {
			r := &receiver{host: hh.h.Name}
			err := hh.h.Do(func() error {
				ifi, err := net.InterfaceByName("eth0")
				if err != nil {
					return err
				}
				r.conn, err = mcast.Listen(context.Background(), "udp4", fmt.Sprintf(":%d", group.Port()), nil)
				if err != nil {
					return err
				}
				return r.conn.JoinGroup(ifi, group.Addr())
			})
			if err != nil {
				t.Fatalf("host %s receiver %d: %v", hh.h.Name, j, err)
			}
			t.Cleanup(func() { r.conn.Close() })
			wg.Add(1)
			go func() { defer wg.Done(); r.run(progress) }()
			hh.rs = append(hh.rs, r)
			all = append(all, r)
		}
		hosts = append(hosts, hh)
	}

	// The bridge learns the members from their IGMP reports.
	var want []string
	for _, hh := range hosts {
		want = append(want, hh.port)
	}
	waitPorts(t, sw, group.Addr(), want)

	var sender *testbed.Sender
	if err := snd.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		sender, err = testbed.OpenSender(group, ifi, netip.Addr{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sender.Close()

	const n = 3000
	sent := 0
	send := func(count int, rs []*receiver) {
		t.Helper()
		for i := 0; i < count; i++ {
			if err := sender.Send(payload(sent)); err != nil {
				t.Fatal(err)
			}
			sent++
			if sent%100 == 0 {
				waitCount(t, rs, sent, progress)
			}
		}
		waitCount(t, rs, sent, progress)
	}
	send(n, all)
	for _, r := range all {
		if r.got.Load() != n || r.bad.Load() != 0 {
			t.Errorf("host %s: receiver got %d of %d (%d bad)", r.host, r.got.Load(), n, r.bad.Load())
		}
	}

	// Host r3 leaves: its receivers close, the bridge drops its port.
	gone := hosts[2]
	for _, r := range gone.rs {
		r.conn.Close()
	}
	stay := slices.Concat(hosts[0].rs, hosts[1].rs)
	waitPorts(t, sw, group.Addr(), want[:2])
	// A Linux bridge floods until its querier has waited out one query
	// response interval after it started: probe (with datagrams of the
	// stream, which the others must get too) until r3 sees no more.
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := rxFrames(t, gone.h)
		send(1, stay)
		if rxFrames(t, gone.h) == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bridge still forwards the group to host r3 10 s after it left")
		}
	}
	before := rxFrames(t, gone.h)
	start := sent
	send(n, stay)
	for _, r := range stay {
		if r.got.Load() != int64(sent) || r.bad.Load() != 0 {
			t.Errorf("host %s: receiver got %d of %d after r3 left (%d bad)", r.host, r.got.Load(), sent, r.bad.Load())
		}
		if st := r.conn.Stats(); st.KernelDrops != 0 || st.Filtered != 0 {
			t.Errorf("host %s: %+v", r.host, st)
		}
	}
	// A few queries from the bridge may still reach r3, not the feed.
	got := rxFrames(t, gone.h) - before
	t.Logf("host r3 received %d frames while %d datagrams went to the group it left", got, sent-start)
	if got > 10 {
		t.Errorf("host r3 received %d frames after leaving; the bridge should stop forwarding the group", got)
	}
}

// waitCount waits until every receiver in rs has count datagrams.
func waitCount(t *testing.T, rs []*receiver, count int, progress <-chan struct{}) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		low := slices.MinFunc(rs, func(a, b *receiver) int { return int(a.got.Load() - b.got.Load()) })
		if low.got.Load()+low.bad.Load() >= int64(count) {
			return
		}
		select {
		case <-progress:
		case <-time.After(100 * time.Millisecond):
			// a receiver may have advanced without a free progress slot
		case <-deadline:
			t.Fatalf("host %s: a receiver has %d of %d datagrams after 20 s", low.host, low.got.Load(), count)
		}
	}
}

// waitPorts waits until the bridge's multicast database lists exactly the
// given ports for group.
func waitPorts(t *testing.T, sw *testbed.Switch, group netip.Addr, want []string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := sw.Ports(group)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			sw.Host.Do(func() error {
				out, _ := exec.Command("bridge", "-d", "-s", "mdb", "show").CombinedOutput()
				t.Logf("mdb:\n%s", out)
				out, _ = exec.Command("ip", "-d", "link", "show").CombinedOutput()
				t.Logf("links:\n%s", out)
				return nil
			})
			t.Fatalf("bridge ports for %s: %v, want %v", group, got, want)
		}
		time.Sleep(50 * time.Millisecond) // polling the bridge's state
	}
}

// rxFrames reads how many frames host h's eth0 has received: every
// frame, joined or not (IP's InMcastPkts does not count groups the host did
// not join, and veth keeps no multicast count). Nothing else sends on the
// test's network while it runs.
func rxFrames(t *testing.T, h *testbed.Host) uint64 {
	t.Helper()
	l, err := h.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Statistics.RxPackets
}
