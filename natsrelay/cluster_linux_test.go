package natsrelay_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/natsrelay"
	"github.com/sharecast/sharecast/natsrelay/natstest"
)

const clusterConf = `server_name: %[1]s
listen: 0.0.0.0:4222
jetstream { store_dir: "%%s" }
cluster {
  name: c18
  listen: 0.0.0.0:6222
  routes: [nats://10.18.3.11:6222, nats://10.18.3.12:6222, nats://10.18.3.13:6222]
}
`

// Issue 18, acceptance 3: a 3-node JetStream cluster on three hosts holds
// an R3 stream; the node that leads it is SIGKILLed while the relay
// publishes; no datagram is lost, and C's consumer gets every one once.
func TestRelayCluster(t *testing.T) {
	testbed.Require(t)
	sw := testbed.NewSwitch(t, "br18", false)
	var nodes []*natstest.Server
	var hosts []*testbed.Host
	for i := 1; i <= 3; i++ {
		h := testbed.NewHost(t, fmt.Sprintf("n%d", i))
		sw.Attach(t, h, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.18.3.1%d/24", i)))
		hosts = append(hosts, h)
	}
	for i, h := range hosts {
		nodes = append(nodes, natstest.Start(t, h, fmt.Sprintf("10.18.3.1%d:4222", i+1), fmt.Sprintf(clusterConf, fmt.Sprintf("n%d", i+1))))
	}
	a := testbed.NewHost(t, "a")
	sw.Attach(t, a, "eth0", netip.MustParsePrefix("10.18.3.1/24"))
	c := testbed.NewHost(t, "c")
	sw.Attach(t, c, "eth0", netip.MustParsePrefix("10.18.3.2/24"))
	const url = "nats://10.18.3.11:4222,nats://10.18.3.12:4222,nats://10.18.3.13:4222"
	ctx := ctxT(t, 10*time.Minute)

	nc, js := natstest.Connect(t, a, natsrelay.ConnConfig{URL: url})
	// The cluster elects its meta leader first: until then the stream
	// cannot be made.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := natsrelay.EnsureStream(sctx, js, subject, &natsrelay.StreamConfig{Name: streamName, Replicas: 3})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("R3 stream not created after 2 minutes: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // the cluster gives no signal of readiness to a client
	}
	pub, err := natsrelay.NewPublisher(nc, patient(natsrelay.PublisherConfig{Subject: subject, Buffer: 1 << 17}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(context.Background()) })
	rec := &record{m: make(map[int]meta)}
	_, jsC := natstest.Connect(t, c, natsrelay.ConnConfig{URL: url})
	chk := newChecker(t, rec, false)
	b := &bed{group: netip.MustParseAddrPort("239.18.3.3:5018")}
	src, _ := b.consume(t, ctx, jsC, "c", chk)

	const n, kill = 20_000, 8_000
	feed := func(from, to int) {
		for i := from; i < to; i++ {
			d := dispatch.Datagram{Payload: payload(i), Source: netip.MustParseAddrPort("10.18.0.1:4000"), Group: b.group.Addr(),
				Port: b.group.Port(), IfIndex: 0, TTL: 1, Time: time.Unix(1_700_000_000, int64(i))}
			rec.put(i, metaOf(&d))
			pub.ServeDatagram(ctx, &d)
			for i%256 == 255 && pub.Stats().Held > 16384 {
				time.Sleep(time.Millisecond) // the Publisher gives no signal; poll its count
			}
		}
	}
	feed(0, kill)
	s, err := js.Stream(ctx, streamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %v", err)
	}
	leader := info.Cluster.Leader
	k := int(leader[len(leader)-1] - '1')
	if !strings.HasPrefix(leader, "n") || k < 0 || k > 2 {
		t.Fatalf("stream leader %q", leader)
	}
	t.Logf("killing the stream's leader %s after %d datagrams", leader, kill)
	nodes[k].Kill()
	feed(kill, n)

	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := pub.Close(cctx); err != nil {
		t.Fatal(err)
	}
	ps := pub.Stats()
	if err := chk.wait(n, 5*time.Minute); err != nil {
		t.Errorf("%v; relay %+v; source %+v", err, ps, src.Stats())
	}
	t.Logf("relay %+v; source %+v", ps, src.Stats())
	if ps.Received != n || ps.Published != n || ps.Lost() != 0 {
		t.Errorf("relay: %+v; want all %d published", ps, n)
	}
	if chk.unique.Load() != n || chk.dups.Load() != 0 || chk.bad.Load() != 0 {
		t.Errorf("C got %d of %d, %d twice, %d bad", chk.unique.Load(), n, chk.dups.Load(), chk.bad.Load())
	}
}
