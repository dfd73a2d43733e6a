package natsrelay_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
	"github.com/sharecast/sharecast/natsrelay"
	"github.com/sharecast/sharecast/natsrelay/natstest"
)

// ctxT returns a context that ends when the test does, or after d.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// payload is datagram i of a test feed: its number and a pattern.
func payload(i int) []byte {
	b := make([]byte, 100+i%64)
	binary.BigEndian.PutUint64(b, uint64(i))
	for k := 8; k < len(b); k++ {
		b[k] = byte(i*7 + k)
	}
	return b
}

func payloadSeq(p []byte) (int, bool) {
	if len(p) < 8 {
		return 0, false
	}
	return int(binary.BigEndian.Uint64(p)), true
}

// meta is what a handler saw of a datagram.
type meta struct {
	src     netip.AddrPort
	group   netip.Addr
	port    uint16
	ifindex int
	ttl     int
	time    time.Time
}

func metaOf(d *dispatch.Datagram) meta {
	return meta{d.Source, d.Group, d.Port, d.IfIndex, d.TTL, d.Time}
}

// record keeps what the relay host saw of each datagram, by number.
type record struct {
	mu sync.Mutex
	m  map[int]meta
}

func (r *record) put(i int, m meta) {
	r.mu.Lock()
	r.m[i] = m
	r.mu.Unlock()
}

func (r *record) get(i int) (meta, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.m[i]
	return m, ok
}

// checker is C's handler: it checks each datagram against the payload and
// the metadata that the relay saw.
type checker struct {
	t       *testing.T
	rec     *record
	ordered bool // every datagram must come in order

	mu     sync.Mutex
	seen   map[int]bool
	next   int
	unique atomic.Int64
	dups   atomic.Int64
	bad    atomic.Int64
	change chan struct{}
}

func newChecker(t *testing.T, rec *record, ordered bool) *checker {
	return &checker{t: t, rec: rec, ordered: ordered, seen: make(map[int]bool), change: make(chan struct{}, 1)}
}

func (c *checker) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	defer func() {
		select {
		case c.change <- struct{}{}:
		default:
		}
	}()
	i, ok := payloadSeq(d.Payload)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !ok || !bytes.Equal(d.Payload, payload(i)):
		c.bad.Add(1)
		c.t.Errorf("datagram %d: payload differs", i)
		return
	case c.seen[i]:
		c.dups.Add(1)
		c.t.Errorf("datagram %d delivered twice", i)
		return
	case c.ordered && i != c.next:
		c.bad.Add(1)
		c.t.Errorf("datagram %d delivered when %d was next", i, c.next)
	}
	c.next = i + 1
	if want, ok := c.rec.get(i); !ok || metaOf(d) != want {
		// The time read back is the same instant; compare it so.
		got := metaOf(d)
		if ok && got.time.Equal(want.time) {
			got.time = want.time
		}
		if !ok || got != want {
			c.bad.Add(1)
			c.t.Errorf("datagram %d: metadata %+v, the relay saw %+v", i, metaOf(d), want)
		}
	}
	c.seen[i] = true
	c.unique.Add(1)
}

// wait waits until the checker has n distinct datagrams.
func (c *checker) wait(n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for c.unique.Load() < int64(n) {
		select {
		case <-c.change:
		case <-deadline:
			return fmt.Errorf("got %d of %d datagrams after %v", c.unique.Load(), n, timeout)
		}
	}
	return nil
}

// bed is the test bed of issue 18: M sends multicast on its link to A; A
// relays to the NATS server on S; C, which has no multicast route, reads
// from S.
type bed struct {
	m, a, s, c *testbed.Host
	group      netip.AddrPort
	srv        *natstest.Server
	aURL, cURL string
}

const streamName = "FEED"
const subject = "feed.test"

func newBed(t *testing.T, conf string) *bed {
	t.Helper()
	testbed.Require(t)
	b := &bed{group: netip.MustParseAddrPort("239.18.0.1:5018")}
	b.m = testbed.NewHost(t, "m")
	b.a = testbed.NewHost(t, "a")
	b.s = testbed.NewHost(t, "s")
	b.c = testbed.NewHost(t, "c")
	testbed.Veth(t, b.m, "m0", netip.MustParsePrefix("10.18.0.1/24"), b.a, "a0", netip.MustParsePrefix("10.18.0.2/24"))
	testbed.Veth(t, b.a, "a1", netip.MustParsePrefix("10.18.1.1/24"), b.s, "s1", netip.MustParsePrefix("10.18.1.2/24"))
	testbed.Veth(t, b.c, "c2", netip.MustParsePrefix("10.18.2.1/24"), b.s, "s2", netip.MustParsePrefix("10.18.2.2/24"))
	b.srv = natstest.Start(t, b.s, "10.18.1.2:4222", conf)
	b.aURL, b.cURL = "nats://10.18.1.2:4222", "nats://10.18.2.2:4222"
	return b
}

const jsConf = `listen: 0.0.0.0:4222
jetstream { store_dir: "%s", sync_interval: always }
`

// relay runs on A: dispatch.Listen on a0, every datagram recorded, then
// given to the Publisher. It returns the Publisher.
func (b *bed) relay(t *testing.T, ctx context.Context, rec *record, pcfg natsrelay.PublisherConfig) *natsrelay.Publisher {
	t.Helper()
	nc, js := natstest.Connect(t, b.a, natsrelay.ConnConfig{URL: b.aURL})
	if _, err := natsrelay.EnsureStream(ctx, js, subject, &natsrelay.StreamConfig{Name: streamName}); err != nil {
		t.Fatal(err)
	}
	pcfg.Subject = subject
	pub, err := natsrelay.NewPublisher(nc, patient(pcfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(context.Background()) })
	h := dispatch.HandlerFunc(func(ctx context.Context, d *dispatch.Datagram) {
		if i, ok := payloadSeq(d.Payload); ok {
			rec.put(i, metaOf(d))
		}
		pub.ServeDatagram(ctx, d)
	})
	var rcv *dispatch.Receiver
	if err := b.a.Do(func() error {
		var err error
		rcv, err = dispatch.Listen(ctx, []string{b.group.String() + "%a0"}, h,
			&dispatch.ListenConfig{Handler: &dispatch.HandlerConfig{Inline: true}, NoWatch: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); rcv.Serve(ctx) }()
	t.Cleanup(func() { rcv.Close(); <-done })
	return pub
}

// consume runs on C: a Source on the durable consumer, served to chk.
func (b *bed) consume(t *testing.T, ctx context.Context, js jetstream.JetStream, durable string, chk *checker) (*natsrelay.Source, func()) {
	t.Helper()
	src, err := natsrelay.NewSource(ctx, js, &natsrelay.SourceConfig{Subject: subject, Durable: durable, Port: b.group.Port()})
	if err != nil {
		t.Fatal(err)
	}
	var mux dispatch.Mux
	if err := mux.Handle(dispatch.Pattern{}, chk, &dispatch.HandlerConfig{Inline: true}); err != nil {
		t.Fatal(err)
	}
	srv, err := dispatch.NewServer(&mux, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddSource("nats", src); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			if err := <-done; err != nil && !errors.Is(err, dispatch.ErrServerClosed) {
				t.Errorf("C's server: %v", err)
			}
			src.Close()
		})
	}
	t.Cleanup(stop)
	return src, stop
}

// sender opens M's socket to the group.
func (b *bed) sender(t *testing.T) *mcast.Sender {
	t.Helper()
	var s *mcast.Sender
	if err := b.m.Do(func() error {
		ifi, err := net.InterfaceByName("m0")
		if err != nil {
			return err
		}
		s, err = testbed.OpenSender(b.group, ifi, netip.Addr{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// send sends datagrams [from, to) from M, paced so that neither A's
// socket nor the relay's buffer overflows: the relay must not lose what
// the test counts on.
func (b *bed) send(t *testing.T, s *mcast.Sender, pub *natsrelay.Publisher, from, to, held int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Send(payload(i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i%128 == 127 {
			if err := b.a.Do(func() error { return testbed.Pace(b.group.Port(), 128<<10, 30*time.Second) }); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for pub.Stats().Held > held {
				if time.Now().After(deadline) {
					t.Fatalf("the relay still holds %d datagrams after 60 s", pub.Stats().Held)
				}
				time.Sleep(time.Millisecond) // the Publisher gives no signal; poll its count
			}
		}
	}
	// Every datagram has reached the relay's handler.
	if err := b.a.Do(func() error { return testbed.Pace(b.group.Port(), 1, 30*time.Second) }); err != nil {
		t.Fatal(err)
	}
}

// patient gives a Publisher of a test that counts every datagram the
// time a slow machine needs: a JetStream server under -race beside a
// loaded CPU took more than the default 5 s to acknowledge some of 4,096
// publishes in flight, and their retries, piling up, outlived the default
// RetryFor of a minute (CI saw 33,822 of 100,000 counted Failed, though
// the server had stored every one). RetryFor stays inside the stream's
// 2-minute duplicates window, so that a retry is never stored twice.
func patient(c natsrelay.PublisherConfig) *natsrelay.PublisherConfig {
	if c.AckTimeout == 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.RetryFor == 0 {
		c.RetryFor = 100 * time.Second
	}
	return &c
}

// Issue 18, acceptance 1: 100,000 datagrams relayed from A through the
// JetStream server on S reach C's handler, every one, in order, byte for
// byte, with the metadata that A saw. Then C's Source, closed and made
// again on its durable consumer, resumes after what it has read.
func TestRelayThroughJetStream(t *testing.T) {
	b := newBed(t, jsConf)
	ctx := ctxT(t, 10*time.Minute)
	rec := &record{m: make(map[int]meta)}
	pub := b.relay(t, ctx, rec, natsrelay.PublisherConfig{})
	ncC, jsC := natstest.Connect(t, b.c, natsrelay.ConnConfig{URL: b.cURL})
	chk := newChecker(t, rec, true)
	src, stop := b.consume(t, ctx, jsC, "c", chk)

	// C has no route to any multicast group.
	if r, err := b.c.Netlink().RouteGet(b.group.Addr().AsSlice()); err == nil {
		t.Fatalf("C has a route to %s: %v", b.group.Addr(), r)
	}

	const n = 100_000
	snd := b.sender(t)
	b.send(t, snd, pub, 0, n, 32768)
	if err := chk.wait(n, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ps, ss := pub.Stats(), src.Stats()
	t.Logf("relay %+v; source %+v", ps, ss)
	if ps.Received != n || ps.Published != n || ps.Lost() != 0 {
		t.Errorf("relay: %+v, want %d received and published", ps, n)
	}
	if ss.Delivered != n || ss.Missing != 0 || ss.Duplicates != 0 || ss.Malformed != 0 {
		t.Errorf("source: %+v, want %d delivered and nothing missing", ss, n)
	}
	if chk.bad.Load() != 0 || chk.dups.Load() != 0 {
		t.Errorf("checker: %d bad, %d duplicates", chk.bad.Load(), chk.dups.Load())
	}

	// Resume: C stops, the relay publishes more, C starts again on the
	// same durable consumer and gets exactly the new datagrams.
	stop()
	if err := ncC.Flush(); err != nil { // the last acknowledgement is in
		t.Fatal(err)
	}
	nc, _ := natstest.Connect(t, b.a, natsrelay.ConnConfig{URL: b.aURL})
	pub2, err := natsrelay.NewPublisher(nc, patient(natsrelay.PublisherConfig{Subject: subject}))
	if err != nil {
		t.Fatal(err)
	}
	const more = 500
	for i := n; i < n+more; i++ {
		d := dispatch.Datagram{Payload: payload(i), Source: netip.MustParseAddrPort("10.18.0.1:1"), Group: b.group.Addr(), Port: b.group.Port(), TTL: -1, Time: time.Unix(0, int64(i))}
		rec.put(i, metaOf(&d))
		pub2.ServeDatagram(ctx, &d)
	}
	if err := pub2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	chk2 := newChecker(t, rec, true)
	chk2.next = n
	src2, _ := b.consume(t, ctx, jsC, "c", chk2)
	if err := chk2.wait(more, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := src2.Stats(); st.Delivered != more || st.Messages != more {
		t.Errorf("resumed source: %+v, want the %d new datagrams only", st, more)
	}
}

// Issue 18, acceptance 2: the server is SIGKILLed during the run and
// started again on its store. The relay counts its failed publishes and
// retries them; C's durable consumer resumes; every datagram sent is
// delivered once or counted as lost by the relay, exactly, and with a
// buffer that covers the outage none is lost.
func TestRelayServerRestart(t *testing.T) { serverRestart(t, 1<<17) }

// The same with a buffer that does not cover the outage: the relay counts
// what overflowed, C sees exactly those numbers missing, and sent =
// delivered + lost still holds exactly.
func TestRelayServerRestartSmallBuffer(t *testing.T) { serverRestart(t, 4096) }

func serverRestart(t *testing.T, buffer int) {
	b := newBed(t, jsConf)
	ctx := ctxT(t, 10*time.Minute)
	rec := &record{m: make(map[int]meta)}
	pub := b.relay(t, ctx, rec, natsrelay.PublisherConfig{Buffer: buffer})
	_, jsC := natstest.Connect(t, b.c, natsrelay.ConnConfig{URL: b.cURL})
	chk := newChecker(t, rec, false)
	src, _ := b.consume(t, ctx, jsC, "c", chk)
	snd := b.sender(t)

	const n, kill, down = 40_000, 15_000, 10_000
	held := min(8192, buffer/2)
	b.send(t, snd, pub, 0, kill, held)
	b.srv.Kill()
	// The relay keeps receiving while the server is down: all held.
	b.send(t, snd, pub, kill, kill+down, 1<<17)
	if st := pub.Stats(); st.Held == 0 || st.Errors == 0 {
		t.Errorf("relay while the server is down: %+v; want datagrams held and errors counted", st)
	}
	b.srv.Restart()
	b.send(t, snd, pub, kill+down, n, held)

	// The last datagrams read from A's socket reach the relay's handler.
	for deadline := time.Now().Add(time.Minute); pub.Stats().Received < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the relay received %d of %d", pub.Stats().Received, n)
		}
		time.Sleep(time.Millisecond) // the Publisher gives no signal; poll its count
	}
	closeCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := pub.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	ps := pub.Stats()
	if ps.Received != n {
		t.Fatalf("relay received %d of %d", ps.Received, n)
	}
	if err := chk.wait(int(ps.Published), 3*time.Minute); err != nil {
		t.Fatalf("%v; relay %+v; source %+v", err, ps, src.Stats())
	}
	ss := src.Stats()
	t.Logf("relay %+v; source %+v", ps, ss)
	if got := uint64(chk.unique.Load()) + ps.Lost(); got != n {
		t.Errorf("delivered %d + lost %d = %d, want %d sent", chk.unique.Load(), ps.Lost(), got, n)
	}
	switch {
	case buffer >= n:
		if ps.Lost() != 0 || ps.Published != n {
			t.Errorf("relay lost %d datagrams though its buffer covered the outage: %+v", ps.Lost(), ps)
		}
	case ps.Overflow == 0 || ps.Lost() != ps.Overflow:
		t.Errorf("relay %+v: want datagrams lost to a full buffer, and only those", ps)
	case ss.Missing != ps.Lost():
		t.Errorf("C counted %d relay numbers missing, the relay %d lost", ss.Missing, ps.Lost())
	}
	if ps.Errors == 0 || ps.Retries == 0 {
		t.Errorf("relay counted no failed publish across the outage: %+v", ps)
	}
	if ss.Delivered != uint64(chk.unique.Load()) || chk.dups.Load() != 0 || chk.bad.Load() != 0 {
		t.Errorf("source %+v; checker %d unique, %d duplicates, %d bad", ss, chk.unique.Load(), chk.dups.Load(), chk.bad.Load())
	}
}
