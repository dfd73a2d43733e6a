package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// capacity is how many datagrams a second the slow handler takes.
const capacity = 1000

// slowHandler holds its first datagram until gate is closed, then takes
// capacity datagrams a second, on an absolute schedule, however the timer
// rounds its sleeps. Held at the gate while everything is sent, it is
// overloaded however fast or slow the machine runs the sender and the
// server.
type slowHandler struct {
	gate  chan struct{}
	start time.Time
	n     int
}

func (h *slowHandler) ServeDatagram(ctx context.Context, d *dispatch.Datagram) {
	if h.start.IsZero() {
		select {
		case <-h.gate:
		case <-ctx.Done():
		}
		h.start = time.Now()
	}
	h.n++
	due := h.start.Add(time.Duration(h.n) * time.Second / capacity)
	if ahead := time.Until(due); ahead > 0 {
		time.Sleep(ahead)
	}
}

// paced calls send(i) for i in [0, n) at rate per second, on an absolute
// schedule (it sleeps only when a millisecond or more ahead).
func paced(n int, rate float64, send func(i int) error) error {
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if ahead := time.Until(due); ahead >= time.Millisecond {
			time.Sleep(ahead)
		}
		if err := send(i); err != nil {
			return err
		}
	}
	return nil
}

// Issue 8, loss accounting: under overload (a handler held while 3,000
// datagrams arrive at 1.5x and 3x the rate it takes afterwards), with a
// tiny receive buffer, oversized datagrams, unicast to the port and a
// shutdown that cannot drain, every datagram sent is accounted for,
// exactly, for every handler:
//
//	sent = handler delivered + handler drops (queue full, evicted, panic,
//	       shutdown) + kernel drops + truncated + filtered
//
// The kernel drops a datagram before anyone can tell whether it was
// oversized or unicast, so truncated and filtered match what was sent of
// each only when the kernel dropped nothing. Which cause takes the
// overload depends on how fast the machine runs the server's reader (a
// starved reader leaves it to the kernel), so the test checks only that
// the loss is somewhere and never where the policy cannot put it.
func TestLossAccountingUnderOverload(t *testing.T) {
	testbed.Require(t)
	for _, factor := range []float64{1.5, 3} {
		for _, policy := range []dispatch.Overflow{dispatch.DropNewest, dispatch.DropOldest, dispatch.Block} {
			t.Run(fmt.Sprintf("%.1fx/%s", factor, policy), func(t *testing.T) {
				accountingRun(t, factor*capacity, policy)
			})
		}
	}
}

func accountingRun(t *testing.T, rate float64, policy dispatch.Overflow) {
	group := netip.MustParseAddrPort("239.6.6.6:6100")
	conn, err := mcast.Listen(context.Background(), "udp4", fmt.Sprintf(":%d", group.Port()), &mcast.Config{ReadBuffer: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lo, _ := net.InterfaceByName("lo")
	if err := conn.JoinGroup(lo, group.Addr()); err != nil {
		t.Fatal(err)
	}

	var mux dispatch.Mux
	pat := dispatch.Pattern{Group: group.Addr()}
	slow := &slowHandler{gate: make(chan struct{})}
	mux.Handle(pat, slow, &dispatch.HandlerConfig{Name: "slow", QueueLen: 256, Overflow: policy})
	mux.HandleFunc(pat, func(ctx context.Context, d *dispatch.Datagram) {
		if d.Payload[1]%10 == 0 {
			panic("every tenth")
		}
	}, &dispatch.HandlerConfig{Name: "panicky"})
	srv, err := dispatch.NewServer(&mux, &dispatch.Config{BufferSize: 1500})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddSource("s", conn); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()

	s := testbed.NewSender(t, group, lo, netip.Addr{})
	u, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(group.Port())})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	const n = 3000
	var multicast, unicast, oversized int
	small, big := make([]byte, 200), make([]byte, 2000)
	err = paced(n, rate, func(i int) error {
		switch {
		case i%20 == 7:
			unicast++
			_, err := u.Write(small)
			return err
		case i%50 == 3:
			oversized++
			multicast++
			return s.Send(big)
		default:
			multicast++
			small[1] = byte(i)
			return s.Send(small)
		}
	})
	close(slow.gate)
	if err != nil {
		t.Fatal(err)
	}
	// Let the socket's queue empty into the handlers' queues, then stop
	// with a deadline too short to drain them.
	if err := testbed.Pace(group.Port(), 1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	shutErr := srv.Shutdown(ctx)
	var se *dispatch.ShutdownError
	if shutErr != nil && !errors.As(shutErr, &se) {
		t.Fatalf("Shutdown: %v", shutErr)
	}
	if err := <-served; err != nil && !errors.Is(err, dispatch.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	st := srv.Stats()
	ks := conn.Stats()
	t.Logf("sent %d multicast (%d oversized) and %d unicast; kernel: %+v; shutdown: %v", multicast, oversized, unicast, ks, shutErr)
	if ks.KernelDrops == 0 && (ks.Filtered != uint64(unicast) || ks.Truncated != uint64(oversized)) {
		t.Errorf("filtered %d and truncated %d, want %d and %d", ks.Filtered, ks.Truncated, unicast, oversized)
	}
	if ks.Filtered > uint64(unicast) || ks.Truncated > uint64(oversized) {
		t.Errorf("filtered %d of %d unicast, truncated %d of %d oversized", ks.Filtered, unicast, ks.Truncated, oversized)
	}
	var shutdownDrops uint64
	for _, h := range st.Handlers {
		sum := h.Delivered + h.Drops.Total() + ks.KernelDrops + ks.Truncated + ks.Filtered
		t.Logf("%s: received %d, delivered %d, drops %+v", h.Name, h.Received, h.Delivered, h.Drops)
		if sum != uint64(multicast+unicast) || h.Queued != 0 || h.InFlight != 0 {
			t.Errorf("%s: delivered %d + drops %d + kernel %d + truncated %d + filtered %d = %d, want %d sent (queued %d, in flight %d)",
				h.Name, h.Delivered, h.Drops.Total(), ks.KernelDrops, ks.Truncated, ks.Filtered, sum, multicast+unicast, h.Queued, h.InFlight)
		}
		shutdownDrops += h.Drops.Shutdown
	}
	if se != nil && se.Dropped != shutdownDrops {
		t.Errorf("Shutdown reported %d dropped, the handlers count %d", se.Dropped, shutdownDrops)
	}
	// The overload shows as loss, and never where the policy cannot put
	// it. The handler held at its gate, its queue (256), a hand-over batch
	// (16), a read batch (64) and the socket's 64 KiB together hold far
	// fewer than the 2,850 multicast datagrams sent, so under Block, whose
	// reader waits for room, the kernel must drop.
	sd := st.Handlers[0].Drops
	if sd.QueueFull+sd.Evicted+sd.Shutdown+ks.KernelDrops == 0 {
		t.Errorf("%s under overload: no loss at all (drops %+v, kernel drops 0)", policy, sd)
	}
	switch policy {
	case dispatch.DropNewest:
		if sd.Evicted != 0 {
			t.Errorf("drop-newest evicted %d", sd.Evicted)
		}
	case dispatch.DropOldest:
		if sd.QueueFull != 0 {
			t.Errorf("drop-oldest dropped %d on a full queue", sd.QueueFull)
		}
	case dispatch.Block:
		if ks.KernelDrops == 0 || sd.QueueFull+sd.Evicted != 0 {
			t.Errorf("block under overload: kernel drops %d, queue drops %+v; want the loss in the kernel", ks.KernelDrops, sd)
		}
	}
	if p := st.Handlers[1]; p.Drops.Panic == 0 {
		t.Errorf("panicky handler: no panics counted: %+v", p.Drops)
	}
}
