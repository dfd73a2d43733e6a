package natsrelay_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/natsrelay"
	"github.com/sharecast/sharecast/natsrelay/natstest"
)

// TestRelayFigures measures the relay through one local JetStream server
// (in a test bed host): datagrams a second from the Publisher's
// ServeDatagram to a Source's handler, for memory and file storage, 64
// and 1,024 bytes, and the latency that the relay adds (ServeDatagram to
// the handler, one clock) at a paced 5,000 datagrams a second. It asserts
// only that nothing is lost; the figures are logged, for bench/RESULTS.md.
// It runs when SHARECAST_NATS_FIGURES is set:
//
//	SHARECAST_NATS_FIGURES=1 go test -count=1 -run TestRelayFigures -v ./natsrelay/
func TestRelayFigures(t *testing.T) {
	if os.Getenv("SHARECAST_NATS_FIGURES") == "" {
		t.Skip("figures: set SHARECAST_NATS_FIGURES=1")
	}
	testbed.Require(t)
	s := testbed.NewHost(t, "s")
	natstest.Start(t, s, "127.0.0.1:4222", "listen: 127.0.0.1:4222\njetstream { store_dir: \"%s\" }\n")
	nc, js := natstest.Connect(t, s, natsrelay.ConnConfig{URL: "nats://127.0.0.1:4222"})
	_, jsC := natstest.Connect(t, s, natsrelay.ConnConfig{URL: "nats://127.0.0.1:4222"})
	ctx := ctxT(t, 20*time.Minute)
	for _, memory := range []bool{true, false} {
		for _, size := range []int{64, 1024} {
			storage := "file"
			if memory {
				storage = "memory"
			}
			name := fmt.Sprintf("%s-%d", storage, size)
			subj := "fig." + name
			if _, err := natsrelay.EnsureStream(ctx, js, subj, &natsrelay.StreamConfig{Name: "FIG-" + name, Memory: memory, MaxBytes: -1}); err != nil {
				t.Fatal(err)
			}
			rate, lat := relayFigures(t, ctx, nc, jsC, subj, size, 200_000)
			t.Logf("%s storage, %d bytes: %.0f datagrams/s relayed, no loss; added latency at 5,000/s: p50 %v, p99 %v",
				storage, size, rate, lat[0], lat[1])
		}
	}
}

// relayFigures sends n datagrams of size bytes as fast as the Publisher
// takes them (its buffer never overflowing), then 10,000 at 5,000 a
// second, and returns the rate of the first run and the p50 and p99
// latency of the second. Each payload carries its number and the time it
// was given to the Publisher.
func relayFigures(t *testing.T, ctx context.Context, nc *nats.Conn, jsC jetstream.JetStream, subj string, size, n int) (float64, [2]time.Duration) {
	t.Helper()
	const paced, pace = 10_000, 5_000
	pub, err := natsrelay.NewPublisher(nc, &natsrelay.PublisherConfig{Subject: subj})
	if err != nil {
		t.Fatal(err)
	}
	src, err := natsrelay.NewSource(ctx, jsC, &natsrelay.SourceConfig{Subject: subj, Durable: "fig"})
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{})
	var lats []time.Duration
	h := dispatch.HandlerFunc(func(_ context.Context, d *dispatch.Datagram) {
		i := int(binary.BigEndian.Uint64(d.Payload))
		if i >= n {
			lats = append(lats, time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(d.Payload[8:])))))
		}
		if got.Add(1) == int64(n+paced) {
			close(done)
		}
	})
	var mux dispatch.Mux
	if err := mux.Handle(dispatch.Pattern{}, h, &dispatch.HandlerConfig{Inline: true}); err != nil {
		t.Fatal(err)
	}
	srv, err := dispatch.NewServer(&mux, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddSource("nats", src); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() { srv.Close(); <-served; src.Close() }()

	buf := make([]byte, size)
	d := dispatch.Datagram{Payload: buf, Source: netip.MustParseAddrPort("10.0.0.1:1"), Group: netip.MustParseAddr("239.0.0.1"), Port: 1, TTL: -1}
	send := func(i int) {
		binary.BigEndian.PutUint64(buf, uint64(i))
		binary.BigEndian.PutUint64(buf[8:], uint64(time.Now().UnixNano()))
		d.Time = time.Now()
		pub.ServeDatagram(ctx, &d)
	}
	start := time.Now()
	for i := range n {
		for i%1024 == 0 && pub.Stats().Held > 60_000 {
			time.Sleep(100 * time.Microsecond) // the buffer drains; poll its count
		}
		send(i)
	}
	for got.Load() < int64(n) {
		time.Sleep(time.Millisecond) // the handler counts; poll it
		if ctx.Err() != nil {
			t.Fatalf("got %d of %d", got.Load(), n)
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	t0 := time.Now()
	for i := range paced {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * time.Second / pace)))
		send(n + i)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("got %d of %d", got.Load(), n+paced)
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st, ss := pub.Stats(), src.Stats(); st.Lost() != 0 || ss.Missing != 0 || ss.Delivered != uint64(n+paced) {
		t.Errorf("lost: relay %+v, source %+v", st, ss)
	}
	t.Logf("%s: relay %+v; source %+v", subj, pub.Stats(), src.Stats())
	slices.Sort(lats)
	return rate, [2]time.Duration{lats[len(lats)/2], lats[len(lats)*99/100]}
}
