package mdns_test

import (
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/internal/mdnstest"
	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestAgentOnLo runs an agent on lo in the test bed and announces a
// service to it over IPv4 and IPv6 from a plain socket: the service
// appears, its TTL of one second runs out and it goes; a malformed packet
// is counted and changes nothing.
func TestAgentOnLo(t *testing.T) {
	testbed.Require(t)
	a, changes := startAgent(t, "lo")
	if m := a.Memberships(); len(m) != 2 {
		t.Fatalf("memberships %v, want 224.0.0.251 and ff02::fb on lo", m)
	}
	s4 := mdnstest.NewResponder(t, mdns.GroupIPv4)
	s6 := mdnstest.NewResponder(t, mdns.GroupIPv6)
	if err := s4.Send([]byte("not dns")); err != nil {
		t.Fatal(err)
	}
	for i, s := range []*mdnstest.Responder{s4, s6} {
		inst := []string{"four", "six"}[i]
		b, err := response(inst, "_lo._udp", "lo.local.", 9, 1, "127.0.0.1", "::1").Pack()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(b); err != nil {
			t.Fatal(err)
		}
		svc := waitChange(t, changes, mdns.Added, inst+"._lo._udp.local.", 5*time.Second)
		if svc.Port != 9 || len(svc.Addrs) != 2 {
			t.Errorf("%s: %+v", inst, svc)
		}
	}
	for _, inst := range []string{"four", "six"} {
		waitChange(t, changes, mdns.Removed, inst+"._lo._udp.local.", 5*time.Second)
	}
	if st := a.Stats(); st.Packets != 3 || st.Malformed != 1 || st.Services != 0 {
		t.Errorf("stats %+v, want 3 packets, 1 malformed, no services", st)
	}
}
