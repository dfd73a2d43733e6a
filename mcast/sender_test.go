package mcast_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

func TestNewSender(t *testing.T) {
	testbed.Require(t)
	if _, err := mcast.NewSender(netip.MustParseAddrPort("10.0.0.1:5000"), nil); !errors.Is(err, mcast.ErrNotMulticast) {
		t.Errorf("unicast group: %v, want ErrNotMulticast", err)
	}
	if _, err := mcast.NewSender(netip.MustParseAddrPort("239.1.1.1:0"), nil); !errors.Is(err, mcast.ErrInvalidConfig) {
		t.Errorf("port 0: %v, want ErrInvalidConfig", err)
	}
	s, err := mcast.NewSender(netip.MustParseAddrPort("239.1.1.1:5000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ifi := s.Interface(); ifi == nil || ifi.Name != "lo" {
		t.Errorf("default interface %v, want lo", ifi)
	}
	if s.Group() != netip.MustParseAddrPort("239.1.1.1:5000") {
		t.Errorf("group %s", s.Group())
	}
	if err := s.Send([]byte("before close")); err != nil {
		t.Errorf("Send: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if err := s.Send([]byte("after close")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close: %v, want net.ErrClosed", err)
	}
}
