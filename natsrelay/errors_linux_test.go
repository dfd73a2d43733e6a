package natsrelay_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/natsrelay"
	"github.com/sharecast/sharecast/natsrelay/natstest"
)

// Issue 18, acceptance 5 (the library's side; cmd/sharecast checks the
// exit status): wrong credentials, an unreachable server and a missing
// stream with NoCreate give errors that say so and match the sentinels,
// and never show the password.
func TestRelayErrors(t *testing.T) {
	testbed.Require(t)
	s := testbed.NewHost(t, "s")
	c := testbed.NewHost(t, "c")
	testbed.Veth(t, c, "c0", netip.MustParsePrefix("10.18.5.1/24"), s, "s0", netip.MustParsePrefix("10.18.5.2/24"))
	natstest.Start(t, s, "10.18.5.2:4222", `listen: 0.0.0.0:4222
jetstream { store_dir: "%s" }
authorization { user: relay, password: right-secret }
`)
	dial := natstest.Dialer{H: c}

	// Wrong password, in the flags and in the URL.
	for _, cfg := range []natsrelay.ConnConfig{
		{URL: "nats://10.18.5.2:4222", User: "relay", Password: "wrong-secret", Dialer: dial},
		{URL: "nats://relay:wrong-secret@10.18.5.2:4222", Dialer: dial},
	} {
		nc, err := natsrelay.Connect(&cfg)
		if err == nil {
			nc.Close()
			t.Fatalf("connected with a wrong password")
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("wrong password: %v; want nats.ErrAuthorization", err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
		t.Logf("wrong password: %v", err)
	}

	// Nothing listens there.
	_, err := natsrelay.Connect(&natsrelay.ConnConfig{URL: "nats://10.18.5.2:4999", Dialer: dial, Timeout: 2 * time.Second})
	if !errors.Is(err, nats.ErrNoServers) {
		t.Errorf("unreachable server: %v; want nats.ErrNoServers", err)
	}
	t.Logf("unreachable: %v", err)

	// The stream is missing and may not be created: nothing is made.
	nc, js := natstest.Connect(t, c, natsrelay.ConnConfig{URL: "nats://10.18.5.2:4222", User: "relay", Password: "right-secret"})
	ctx := ctxT(t, time.Minute)
	_, err = natsrelay.EnsureStream(ctx, js, "feed.none", &natsrelay.StreamConfig{Name: "NONE", NoCreate: true})
	if !errors.Is(err, natsrelay.ErrNoStream) {
		t.Errorf("missing stream with NoCreate: %v; want ErrNoStream", err)
	}
	t.Logf("no stream: %v", err)
	if _, err := js.Stream(ctx, "NONE"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the stream exists after NoCreate: %v", err)
	}
	// A Publisher to a subject that no stream holds counts every datagram
	// it could not publish.
	pub, err := natsrelay.NewPublisher(nc, &natsrelay.PublisherConfig{Subject: "feed.none", RetryFor: 300 * time.Millisecond, RetryWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		pub.ServeDatagram(ctx, &dispatch.Datagram{Payload: payload(i), Source: netip.MustParseAddrPort("10.0.0.1:1"), Group: netip.MustParseAddr("239.0.0.1"), Port: 1, TTL: -1})
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := pub.Stats()
	if st.Received != 10 || st.Published != 0 || st.Failed != 10 || st.Lost() != 10 {
		t.Errorf("publisher to no stream: %+v; want 10 received, 10 failed", st)
	}
}
